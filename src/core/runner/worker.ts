import { move, transferableSymbol, valueSymbol } from "piscina";
import { transferablesOf } from "../blocks.js";
import { type BuildablePipeline, isPipelineDefinition } from "../pipeline-module.js";
import { type TransformFailure, TransformError, transformFailureOf } from "../errors.js";
import { codeFingerprint, graphFingerprint } from "../fingerprint.js";
import { firstDifference, readModuleState, type StateReading } from "../module-state.js";
import { executeTask } from "../executor.js";
import type { PlanSettings } from "../plan.js";
import type { Plan } from "../stages.js";
import type { TaskResult, TaskSpec } from "../task.js";
import type { RejectedOutput } from "../pipeline.js";
import { collectOnRequest } from "./heap-collections.js";
import { runPreloads, type WorkerPreload } from "./worker-preloads.js";

export interface WorkerTask {
  readonly module: string;
  readonly name: string;
  readonly optionsJson: string;
  readonly planSettings: PlanSettings;
  /**
   * Names the build (module, name, options, plan settings) in a few bytes: a worker keeps one plan
   * per key, and options of megabytes (file lists) would cost a copy and a hash of each per task.
   */
  readonly buildKey: string;
  /** The graph the driver built (fingerprint.ts): the worker's must be the same. */
  readonly fingerprint: string;
  /** Past one machine, the code of the driver's graph (fingerprint.ts): the worker's must be the same. */
  readonly codeFingerprint?: string;
  /** What the transforms read from their modules on the main thread (module-state.ts). */
  readonly moduleState: readonly StateReading[];
  readonly preloads: readonly WorkerPreload[];
  readonly spec: TaskSpec;
}

/**
 * A task as a worker thread receives it: the options' JSON as UTF-8 in memory that every task of
 * the build shares, so that options of megabytes (the Sparkify driver's list of 200,000 song files
 * is 20 MB) cross to a thread once per run instead of being copied into every task's message.
 */
export interface ThreadTask extends Omit<WorkerTask, "optionsJson"> {
  readonly options: SharedArrayBuffer;
  /** Requests for a full collection, counted by the main thread (heap-collections.ts). */
  readonly collectionRequests?: Int32Array;
}

/**
 * Set in every worker thread before it imports a pipeline's module: a module that runs its own
 * pipeline when imported would otherwise start a pool in each worker, and each of those another.
 */
(globalThis as Record<symbol, unknown>)[Symbol.for("sluice.insideWorker")] = true;

/**
 * The AWS SDK warns once per thread on a Node older than its next versions will need (eight
 * lines on stderr): the process's main thread gives that warning, its workers would repeat it
 * once each. A worker's environment is its own copy, so this leaves the main thread's alone, and
 * a value the user set (to see it from every thread) stands.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

interface BuiltPipeline {
  readonly plan: Plan;
  readonly rejected: RejectedOutput;
  readonly fingerprint: string;
  readonly codeFingerprint: string;
  readonly moduleState: readonly StateReading[];
}

/** Module variables as this thread first read them, before its tasks could change them. */
const firstSeenState = new Map<string, { digest: string; shown: string }>();

const built = new Map<string, Promise<BuiltPipeline>>();

/** The preloads a worker has imported: each list once per thread (a loader registered twice would run twice). */
const preloaded = new Map<string, Promise<void>>();

function preloadOnce(preloads: readonly WorkerPreload[]): Promise<void> {
  const key = JSON.stringify(preloads);
  let entry = preloaded.get(key);
  if (!entry) {
    entry = importPatiently(
      runPreloads(preloads),
      `the modules the workers import first (${preloads.map((preload) => preload.url).join(", ")})`,
    );
    preloaded.set(key, entry);
  }
  return entry;
}

/**
 * How long a worker waits for the pipeline's module to import (`SLUICE_WORKER_IMPORT_MS`, in
 * milliseconds; a minute by default). A module whose top level awaits something a worker never
 * gets (a promise the main thread settles, a connection that never answers) would otherwise hold
 * every task, and the run, without a word.
 */
const IMPORT_PATIENCE_MS = Number(process.env.SLUICE_WORKER_IMPORT_MS) || 60_000;

/** `imported`, or an error naming `module` when it has not settled within IMPORT_PATIENCE_MS. */
function importPatiently<T>(imported: Promise<T>, module: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `importing ${module} in a worker had not finished after ${IMPORT_PATIENCE_MS / 1000} s: does its top level await something a worker never gets (a value the main thread provides, a connection that does not answer)? (SLUICE_WORKER_IMPORT_MS sets this wait, in milliseconds)`,
          ),
        ),
      IMPORT_PATIENCE_MS,
    );
  });
  return Promise.race([imported, late]).finally(() => clearTimeout(timer));
}

async function findDefinition(module: string, name: string): Promise<BuildablePipeline> {
  let exports: Record<string, unknown>;
  try {
    exports = (await importPatiently(import(module), module)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_UNKNOWN_FILE_EXTENSION") {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}: start node with a loader the workers get too (\`node --import tsx main.ts\`, or the run option workerImports), or compile the pipeline to JavaScript first`,
      );
    }
    throw error;
  }
  for (const value of Object.values(exports)) {
    if (isPipelineDefinition(value) && value.location.name === name) return value;
  }
  throw new Error(
    `${module} exports no pipeline named '${name}' (define it with definePipeline and export it)`,
  );
}

/** Imports the pipeline's module and rebuilds the same plan the main thread made, once per worker. */
function buildOnce(task: ThreadTask): Promise<BuiltPipeline> {
  const cacheKey = task.buildKey;
  let entry = built.get(cacheKey);
  if (!entry) {
    entry = preloadOnce(task.preloads)
      .then(() => findDefinition(task.module, task.name))
      .then(async (definition) => {
        const options: unknown = JSON.parse(Buffer.from(task.options).toString("utf8"));
        const { pipeline, plan } = definition.planWith(options, task.planSettings);
        return {
          plan,
          rejected: pipeline.rejectedOutput,
          fingerprint: graphFingerprint(pipeline.graph),
          codeFingerprint: codeFingerprint(pipeline.graph),
          moduleState: await readModuleState(pipeline.graph, options, firstSeenState),
        };
      });
    built.set(cacheKey, entry);
  }
  return entry;
}

/** Carries a task result and the ArrayBuffers of its blocks, so that they move instead of being copied. */
class TransferableResult {
  constructor(
    private readonly result: TaskResult,
    private readonly buffers: ArrayBuffer[],
  ) {}

  get [transferableSymbol](): ArrayBuffer[] {
    return this.buffers;
  }

  get [valueSymbol](): TaskResult {
    return this.result;
  }
}

/** A task that failed in its own code (a user function, bad data, I/O): returned, not thrown. */
export interface TaskFailure {
  readonly taskFailed: string;
  /** When a user function threw: the failure, to be rebuilt as a TransformError with its cause. */
  readonly transform?: TransformFailure;
  /** Otherwise, the error the task threw, its stack leading into the code that threw it. */
  readonly thrown?: { readonly name: string; readonly stack: string | undefined };
}

/** Fails the same way on every worker and every attempt: not worth retrying. */
function permanentFailure(message: string): TaskFailure {
  return { taskFailed: message };
}

/**
 * Runs one task. A failure of the task itself comes back as a value, so that the main thread can
 * tell it (not worth retrying) from the death of the worker (an exit, a crash at start-up, an
 * exhausted heap), which piscina reports as a rejection and which is retried on a fresh worker.
 */
export default async function runWorkerTask(task: ThreadTask): Promise<unknown> {
  if (task.collectionRequests) collectOnRequest(task.collectionRequests);
  let pipeline: BuiltPipeline;
  try {
    pipeline = await buildOnce(task);
  } catch (error) {
    // A module that cannot be imported, or a build that throws, fails the same way every time.
    return permanentFailure(
      `the workers could not build pipeline '${task.name}' from ${task.module}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (pipeline.fingerprint !== task.fingerprint) {
    return permanentFailure(
      `pipeline '${task.name}' (${task.module}) built another graph in a worker than in the main thread: its build must give the same transforms for the same options, whatever the time, a random number, the environment or the options it names in driverOnlyOptions (which workers do not get)`,
    );
  }
  if (task.codeFingerprint !== undefined && pipeline.codeFingerprint !== task.codeFingerprint) {
    return permanentFailure(
      `pipeline '${task.name}' (${task.module}) built the same graph on a worker's machine as on the driver's, with other code in its functions: is the module another version there (a deploy that has not reached every machine)? Every machine must run the same version of the pipeline's module and of what it imports`,
    );
  }
  const differing = firstDifference(task.moduleState, pipeline.moduleState);
  if (differing) {
    return permanentFailure(
      `pipeline '${task.name}' (${task.module}): transform '${differing.transform}' reads \`${differing.variable}\`, which is ${differing.driver} on the main thread and ${differing.worker} in a worker. A worker imports the module afresh: it sees nothing the main thread set after importing it (from your script, or in an earlier run in this process), and computes again what the import computed from the clock, randomness or the environment, so its transforms would give another answer: pass such a value in the pipeline's options. (A cache a transform fills for itself can live in a Map, which is not compared; a count, in counter().)`,
    );
  }
  const { plan, rejected } = pipeline;
  let result: TaskResult;
  try {
    // A worker runs one task at a time (the pool sets that), so its counters need no async context.
    result = await executeTask(plan, task.spec, { sink: rejected.sink }, true);
  } catch (error) {
    return {
      taskFailed: error instanceof Error ? error.message : String(error),
      ...(error instanceof TransformError
        ? { transform: transformFailureOf(error) }
        : error instanceof Error
          ? { thrown: { name: error.name, stack: error.stack } }
          : {}),
    } satisfies TaskFailure;
  }
  const buffers = transferablesOf([
    ...result.shuffleBlocks.map((entry) => entry.block),
    ...result.collected.map((entry) => entry.block),
  ]);
  return move(new TransferableResult(result, buffers) as unknown as Parameters<typeof move>[0]);
}
