import { availableParallelism } from "node:os";
import { isAbsolute } from "node:path";
import { nonJsonIn } from "./block-codec.js";
import { describeValue, SluiceError } from "./errors.js";
import { codeFingerprint, graphFingerprint } from "./fingerprint.js";
import { readModuleState } from "./module-state.js";
import { knownOptions } from "./option-checks.js";
import type { JobMetrics } from "./metrics.js";
import { Collected, PCollection } from "./pcollection.js";
import { Pipeline } from "./pipeline.js";
import { DEFINITION_BRAND, type PipelineLocation } from "./pipeline-module.js";
import { explainDot, explainText, type Plan, type PlanSettings, planGraph } from "./plan.js";
import { DirectExecutor } from "./runner/direct.js";
import { type ListedInput, listInput } from "./runner/listing.js";
import {
  isRunner,
  DEFAULT_BATCH_SIZE,
  DEFAULT_MEMORY_BUDGET,
  DEFAULT_WORKER_OLD_GENERATION_MB,
  DEFAULT_WORKER_YOUNG_GENERATION_MB,
  DEFAULT_MAX_COLLECT_BYTES,
  newRunId,
  type RunOptions,
  runJob,
  type TaskExecutor,
} from "./runner/job.js";
import { PoolExecutor } from "./runner/pool.js";
import { workerPreloadsOf } from "./runner/worker-preloads.js";

/** `run()`'s outputs: each `Collected<T>` the build returned, replaced by its records. */
export type Resolved<Outputs> = {
  [Name in keyof Outputs]: Outputs[Name] extends Collected<infer T> ? T[] : Outputs[Name];
};

export type { PipelineLocation };

export interface RunResult<Outputs> {
  readonly outputs: Resolved<Outputs>;
  readonly metrics: JobMetrics;
  readonly runId: string;
}

/**
 * A pipeline defined in a module: workers import the module and call `build` with the same options,
 * so user functions reach them as module code, never as serialized closures. `build` must be
 * deterministic for given options; options must be plain JSON.
 *
 * @example
 * export const wordCount = definePipeline({ module: import.meta.url, name: "word-count" }, (p, options: { text: string }) =>
 *   ({ counts: p.fromArray(options.text.split(" ")).map((w) => [w, 1] as const).combinePerKey(sum()).collect() }));
 * const { outputs } = await wordCount.run({ text: "a b a" }, { threads: 2 });
 */
export class PipelineDefinition<Options, Outputs> {
  readonly [DEFINITION_BRAND] = true;

  constructor(
    readonly location: PipelineLocation,
    readonly build: (pipeline: Pipeline, options: Options) => Outputs,
    readonly settings: PipelineSettings = {},
  ) {}

  /** The options workers build from: the run's, less its driver-only members. */
  private workerOptions(options: Options): unknown {
    const driverOnly = this.settings.driverOnlyOptions ?? [];
    if (driverOnly.length === 0 || typeof options !== "object" || options === null || Array.isArray(options))
      return options;
    return Object.fromEntries(Object.entries(options).filter(([name]) => !driverOnly.includes(name)));
  }

  /** Builds the graph and plans it. */
  plan(options: Options, runOptions: RunOptions = {}): { pipeline: Pipeline; outputs: Outputs; plan: Plan } {
    return this.planWith(options, planSettingsOf(runOptions));
  }

  /** Builds the graph and plans it with exact settings (what a worker does). */
  planWith(options: Options, settings: PlanSettings): { pipeline: Pipeline; outputs: Outputs; plan: Plan } {
    const pipeline = new Pipeline();
    const outputs = this.build(pipeline, options);
    return { pipeline, outputs, plan: planGraph(pipeline.graph, settings) };
  }

  /** The plan as text or Graphviz DOT. */
  explain(options: Options, runOptions: RunOptions = {}, format: "text" | "dot" = "text"): string {
    // Shown before the input is listed: the partitions a run may choose, not the ones it will.
    const settings = planSettingsOf(runOptions);
    const parallelism = parallelismOf(runOptions);
    const range: [number, number] = [
      defaultPartitionsFor(parallelism, 0),
      defaultPartitionsFor(parallelism, undefined),
    ];
    const { plan } = this.planWith(options, {
      ...settings,
      ...(runOptions.partitions === undefined ? { defaultPartitionRange: range } : {}),
    });
    return format === "dot" ? explainDot(plan) : explainText(plan);
  }

  /** Runs the pipeline; on the pool runner, every worker imports this module. */
  async run(options: Options, runOptions: RunOptions = {}): Promise<RunResult<Outputs>> {
    if ((globalThis as Record<symbol, unknown>)[Symbol.for("sluice.insideWorker")] === true) {
      throw new SluiceError(
        `pipeline '${this.location.name}' was run while a worker imported ${this.location.module}: a module that defines a pipeline is imported by every worker, so it must not run one when imported. Run it from another module (your entry script imports the definition), or only when the module is the entry point (\`if (process.argv[1] === fileURLToPath(import.meta.url))\`)`,
      );
    }
    // Workers rebuild the pipeline from its options: on every runner they must survive JSON.
    const problem = options === undefined ? undefined : nonJsonIn(options, "options");
    if (problem) {
      throw new SluiceError(
        `pipeline '${this.location.name}': its options must be JSON values, as every worker rebuilds the pipeline from them, and hold ${problem}: pass data, and keep functions in the pipeline's module`,
      );
    }
    const runner = runOptions.runner ?? "pool";
    if (runner !== "pool" && runner !== "direct" && !isRunner(runner)) {
      throw new SluiceError(
        `runner must be "pool", "direct" or a runner object (such as cluster() of sluice/cluster), got ${JSON.stringify(runner)}`,
      );
    }
    if (isRunner(runner) && runOptions.threads !== undefined) {
      throw new SluiceError(`threads applies to the pool runner only, not to the ${runner.name} runner`);
    }
    const threads = runner === "pool" ? threadsOf(runOptions) : undefined;
    const runId = runOptions.runId ?? newRunId();
    const pipeline = new Pipeline();
    const outputs = this.build(pipeline, options);
    checkOutputsOf(pipeline, outputs, `what the build of pipeline '${this.location.name}' returns`);
    const { listed, planSettings, plan } = await listAndPlan(pipeline, runOptions);
    const jobOptions = { ...runOptions, runId, listed };
    if (runner === "direct") {
      return runPlanned(
        pipeline,
        outputs,
        plan,
        new DirectExecutor(plan, pipeline.rejectedOutput),
        jobOptions,
      );
    }
    const build = {
      location: this.location,
      options: this.workerOptions(options),
      planSettings,
      fingerprint: graphFingerprint(pipeline.graph),
      // Past one machine, workers import their own copy of the module: its code is compared too.
      ...(isRunner(runner) ? { codeFingerprint: codeFingerprint(pipeline.graph) } : {}),
      moduleState: await readModuleState(pipeline.graph, options),
      preloads: workerPreloadsOf(process.execArgv, runOptions.workerImports),
    };
    const resourceLimits = {
      maxOldGenerationSizeMb: DEFAULT_WORKER_OLD_GENERATION_MB,
      maxYoungGenerationSizeMb: DEFAULT_WORKER_YOUNG_GENERATION_MB,
      ...runOptions.workerResourceLimits,
    };
    if (isRunner(runner)) {
      const executor = await runner.executor({
        ...build,
        runId,
        localFolders: localFoldersOf(plan, pipeline),
        workerResourceLimits: resourceLimits,
      });
      return runPlanned(pipeline, outputs, plan, executor, jobOptions);
    }
    const executor = new PoolExecutor({
      ...build,
      threads: threads!,
      v8HelperThreads: runOptions.v8HelperThreads ?? "on",
      ...(runOptions.heapGrowthBelow ? { heapGrowthBelow: runOptions.heapGrowthBelow } : {}),
      resourceLimits,
    });
    return runPlanned(pipeline, outputs, plan, executor, jobOptions);
  }
}

/** How a pipeline's options reach its workers. */
export interface PipelineSettings {
  /**
   * Members of the options that only the driver reads, left out of what the workers build from:
   * file lists a source cuts into splits (tasks get their splits, not the list) and records
   * written at the commit. Options reach every worker of a run, and a worker keeps them parsed
   * for the run: 200,000 listed files were 100 MB of each worker's heap. The build must give the
   * same graph without them; where it does not, the run stops before any task, saying so.
   */
  readonly driverOnlyOptions?: readonly string[];
}

/** Defines a pipeline in a module, for the pool runner (and the direct one). */
export function definePipeline<Options, Outputs>(
  location: PipelineLocation,
  build: (pipeline: Pipeline, options: Options) => Outputs,
  settings: PipelineSettings = {},
): PipelineDefinition<Options, Outputs> {
  checkLocation(location);
  const driverOnly = settings.driverOnlyOptions;
  if (
    driverOnly !== undefined &&
    (!Array.isArray(driverOnly) || driverOnly.some((name) => typeof name !== "string"))
  ) {
    throw new SluiceError(
      `pipeline '${location.name}': driverOnlyOptions must be a list of option names, got ${JSON.stringify(driverOnly)}`,
    );
  }
  // Workers find a pipeline by its module and name: two of one name would run the first's graph.
  const names = definedNames.get(location.module) ?? new Set<string>();
  if (names.has(location.name)) {
    throw new SluiceError(
      `a pipeline named '${location.name}' is already defined in ${location.module}: names must be unique within a module`,
    );
  }
  names.add(location.name);
  definedNames.set(location.module, names);
  return new PipelineDefinition(location, build, settings);
}

/**
 * Workers import a pipeline's module by `location.module` from sluice's own folder: a relative
 * path would be looked up there (or a missing one imported as the package 'undefined'), and fail
 * only once the run had listed its input and started its workers.
 */
function checkLocation(location: PipelineLocation): void {
  const { module, name } = (location ?? {}) as Partial<PipelineLocation>;
  if (typeof name !== "string" || name === "")
    throw new SluiceError(
      `definePipeline takes { module: import.meta.url, name: "a name" } first, and its name is ${describeValue(name)}`,
    );
  if (typeof module !== "string" || !(/^[a-z][a-z0-9+.-]*:/i.test(module) || isAbsolute(module)))
    throw new SluiceError(
      `pipeline '${name}': module must be the URL of the module that defines it, import.meta.url (workers import it from there), and it is ${describeValue(module)}`,
    );
}

/** The pipeline names defined so far, by module. */
const definedNames = new Map<string, Set<string>>();

/**
 * Worker threads per core beyond which more cannot help: tasks are CPU-bound, and each worker
 * holds a heap of its own (64 threads on 2 cores took 80 s and 2.9 GB for a 7.5 s job).
 */
export const MAX_THREADS_PER_CORE = 4;
/**
 * Partitions of one shuffle beyond which more cannot help: every map task writes a block to each
 * (Spark's default is 200).
 */
export const MAX_PARTITIONS = 10_000;

/** The most threads a pool may have on this machine. */
export function maxThreads(): number {
  return MAX_THREADS_PER_CORE * availableParallelism();
}

function threadsOf(runOptions: RunOptions): number {
  const threads = runOptions.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1)
    throw new SluiceError(`threads must be a positive integer, got ${describeValue(threads)}`);
  if (threads > maxThreads())
    throw new SluiceError(
      `threads must be at most ${maxThreads()} (${MAX_THREADS_PER_CORE} per core on this machine's ${availableParallelism()}): more workers than that only add memory, each holding a heap of its own; got ${threads}`,
    );
  return threads;
}

function checkPartitions(runOptions: RunOptions): void {
  const partitions = runOptions.partitions;
  if (partitions === undefined) return;
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new SluiceError(`partitions must be a positive integer, got ${describeValue(partitions)}`);
  if (partitions > MAX_PARTITIONS)
    throw new SluiceError(
      `partitions must be at most ${MAX_PARTITIONS.toLocaleString("en-US")}: every map task writes a block to each, and more of them than that cost more than they can save; got ${partitions}`,
    );
}

/** The local folders the sinks of a plan write to (a runner past one machine checks its workers see them). */
function localFoldersOf(plan: Plan, pipeline: Pipeline): string[] {
  const folders = new Set<string>();
  for (const node of plan.graph.nodes) {
    if (node.kind === "sink" && node.sink.committer.localFolder) folders.add(node.sink.committer.localFolder);
  }
  const rejectedFolder = pipeline.rejectedOutput.sink?.committer.localFolder;
  if (rejectedFolder) folders.add(rejectedFolder);
  return [...folders];
}

/** Every option `run` takes: a name outside it is a typo (`thread: 2` ran on every core). */
const RUN_OPTION_NAMES: Record<keyof RunOptions, true> = {
  runner: true,
  threads: true,
  partitions: true,
  batchSize: true,
  memoryBudget: true,
  tempDir: true,
  onProgress: true,
  runId: true,
  taskAttempts: true,
  maxCollectBytes: true,
  workerResourceLimits: true,
  v8HelperThreads: true,
  heapGrowthBelow: true,
  workerImports: true,
  signal: true,
};

/**
 * The run options no other check covers: unknown names, and sizes or a number of task attempts
 * that are not numbers (`memoryBudget: "64MB"` compared as NaN and never spilled).
 */
function checkRunOptions(runOptions: RunOptions): void {
  knownOptions(runOptions, RUN_OPTION_NAMES, "run");
  const { taskAttempts } = runOptions;
  for (const name of ["memoryBudget", "maxCollectBytes"] as const) {
    const bytes = runOptions[name];
    if (bytes !== undefined && !(typeof bytes === "number" && bytes > 0 && Number.isFinite(bytes)))
      throw new SluiceError(`${name} must be a number of bytes above 0, got ${describeValue(bytes)}`);
  }
  if (taskAttempts !== undefined && !(Number.isInteger(taskAttempts) && taskAttempts >= 1))
    throw new SluiceError(`taskAttempts must be a positive integer, got ${describeValue(taskAttempts)}`);
}

function batchSizeOf(runOptions: RunOptions): number {
  const batchSize = runOptions.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new SluiceError(`batchSize must be a positive integer, got ${describeValue(batchSize)}`);
  return batchSize;
}

/** Tasks a run executes at once: the pool's threads, 1 on the direct runner, a runner's own. */
function parallelismOf(runOptions: RunOptions): number {
  const runner = runOptions.runner;
  if (runner === "direct") return 1;
  if (isRunner(runner)) return runner.parallelism;
  return runOptions.threads ?? availableParallelism();
}

/** Input bytes per shuffle partition when a run sizes its shuffles from its input. */
export const INPUT_BYTES_PER_PARTITION = 16 * 1024 * 1024;
/** Shuffle partitions per thread of a run whose input is small, or of any size. */
export const PARTITIONS_PER_THREAD = { fewest: 16, most: 160 } as const;

/**
 * Partitions of a shuffle that does not set its own: one per `INPUT_BYTES_PER_PARTITION` of the
 * run's input, between 16 and 160 per thread; 160 per thread when the input's size is unknown.
 *
 * Why from the input: every map task writes a block to each partition, so many partitions cut a
 * task's records into small blocks, and small blocks cost at both ends (a block's columns are
 * encoded with a dictionary of their own, so that a string repeated across blocks is written,
 * decoded and held once per block). A few partitions per thread would hold too much in each
 * at 10M events, though, since a reduce task holds one whole partition at a time: the partitions
 * grow with the input instead, as Spark's adaptive execution aims at a partition size.
 */
export function defaultPartitionsFor(parallelism: number, inputBytes: number | undefined): number {
  const most = Math.max(40, PARTITIONS_PER_THREAD.most * parallelism);
  if (inputBytes === undefined) return most;
  const fewest = Math.min(most, PARTITIONS_PER_THREAD.fewest * parallelism);
  return Math.min(most, Math.max(fewest, Math.ceil(inputBytes / INPUT_BYTES_PER_PARTITION)));
}

/** Plan settings of a run; `inputBytes`: the size of its listed input, when known. */
export function planSettingsOf(runOptions: RunOptions, inputBytes?: number): PlanSettings {
  checkPartitions(runOptions);
  const threads = parallelismOf(runOptions);
  // Partitions read by up to 32 tasks per thread, each taking its partitions one at a time: a
  // reduce task decodes one partition at a time (peak memory), while the tasks, and the files they
  // write, stay few enough to cost little and many enough to balance the threads. Fewer tasks read
  // a small shuffle (one per READ_TASK_BYTES), but at least four per thread, so that the threads
  // stay balanced. Partitions set by hand are read one per task.
  return {
    defaultPartitions: runOptions.partitions ?? defaultPartitionsFor(threads, inputBytes),
    // Partitions set by hand are read one per task, up to as many tasks as the default reads with:
    // past that, each task takes a contiguous group, since every task has a fixed cost (thousands
    // of one-partition tasks per shuffle spent far longer being scheduled than working).
    defaultReadTasks: Math.min(runOptions.partitions ?? Number.POSITIVE_INFINITY, Math.max(8, 32 * threads)),
    ...(runOptions.partitions === undefined ? { minReadTasks: Math.max(4, 4 * threads) } : {}),
  };
}

/**
 * Checks the run options a plan depends on, lists the input (before anything is set up, so that a
 * bad option costs no listing), and plans with shuffles sized from it: every worker plans alike.
 */
async function listAndPlan(
  pipeline: Pipeline,
  runOptions: RunOptions,
): Promise<{ listed: ListedInput; planSettings: PlanSettings; plan: Plan }> {
  checkRunOptions(runOptions);
  checkPartitions(runOptions);
  batchSizeOf(runOptions);
  const listed = await listInput(pipeline.graph, parallelismOf(runOptions));
  const planSettings = planSettingsOf(runOptions, listed.bytes);
  return { listed, planSettings, plan: planGraph(pipeline.graph, planSettings) };
}

async function runPlanned<Outputs>(
  pipeline: Pipeline,
  outputs: Outputs,
  plan: Plan,
  executor: TaskExecutor,
  runOptions: RunOptions & { readonly listed: ListedInput },
): Promise<RunResult<Outputs>> {
  const runId = runOptions.runId ?? newRunId();
  const outcome = await runJob(plan, executor, {
    runId,
    batchSize: batchSizeOf(runOptions),
    listed: runOptions.listed,
    memoryBudget: runOptions.memoryBudget ?? DEFAULT_MEMORY_BUDGET,
    tempDir: runOptions.tempDir,
    rejected: pipeline.rejectedOutput,
    onProgress: runOptions.onProgress,
    signal: runOptions.signal,
    taskAttempts: runOptions.taskAttempts ?? 3,
    maxCollectBytes: runOptions.maxCollectBytes ?? DEFAULT_MAX_COLLECT_BYTES,
  });
  const resolved: Record<string, unknown> = {};
  for (const [name, value] of Object.entries((outputs ?? {}) as Record<string, unknown>)) {
    resolved[name] = value instanceof Collected ? (outcome.collected.get(value.nodeId) ?? []) : value;
  }
  return { outputs: resolved as Resolved<Outputs>, metrics: outcome.metrics, runId };
}

/**
 * Refuses outputs a run cannot give back, before anything is listed or run: anything but an object
 * of named outputs (a bare handle, an array), a collection not collected, and a handle collected
 * from another pipeline than the one run (its transforms are not in this run, and the id it
 * carries names some other transform of this one). Undefined is a pipeline that only writes.
 */
function checkOutputsOf(pipeline: Pipeline, outputs: unknown, what: string): void {
  if (outputs === undefined) return; // a pipeline that only writes
  const isPlainObject =
    typeof outputs === "object" &&
    outputs !== null &&
    [Object.prototype, null].includes(Object.getPrototypeOf(outputs));
  if (!isPlainObject) {
    const given =
      outputs instanceof Collected
        ? "one collected collection"
        : outputs instanceof PCollection
          ? "a collection"
          : describeValue(outputs);
    throw new SluiceError(
      `${what} must be an object of named outputs ({ name: collection.collect() }), not ${given}`,
    );
  }
  for (const [name, value] of Object.entries(outputs)) {
    if (value instanceof PCollection) {
      throw new SluiceError(
        `output '${name}' is a collection, not its records: call .collect() on it to have them back (or .write(sink) to write them)`,
      );
    }
    if (value instanceof Collected && value.graph !== pipeline.graph) {
      throw new SluiceError(
        `output '${name}' was collected from another pipeline than the one run: collect it from a collection of this pipeline`,
      );
    }
  }
}

/**
 * Runs an ad-hoc pipeline built in this thread on the direct runner (the pool runner needs a
 * pipeline defined with `definePipeline`, so that workers can import it).
 */
export async function runDirect<Outputs>(
  pipeline: Pipeline,
  outputs: Outputs,
  runOptions: Omit<RunOptions, "runner" | "threads"> = {},
): Promise<RunResult<Outputs>> {
  checkOutputsOf(pipeline, outputs, "runDirect's outputs");
  const { listed, plan } = await listAndPlan(pipeline, { ...runOptions, runner: "direct" });
  return runPlanned(pipeline, outputs, plan, new DirectExecutor(plan, pipeline.rejectedOutput), {
    ...runOptions,
    listed,
  });
}
