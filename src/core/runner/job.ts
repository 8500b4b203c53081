import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BlockRef, readBlock, spillBlocksSync } from "../blocks.js";
import {
  fileFailure,
  messageOf,
  RejectLimitError,
  SluiceError,
  TransformError,
  WorkerDiedError,
} from "../errors.js";
import type { TaskInput, TaskResult, TaskSpec } from "../task.js";
import type { JobCommitter } from "../interfaces.js";
import type { JsonValue } from "../keys.js";
import { addTaskMetrics, emptyJobMetrics, type JobMetrics, snapshot } from "../metrics.js";
import { readTasksFor } from "../plan.js";
import type { Plan, StagePlan } from "../stages.js";
import type { RejectedOutput } from "../pipeline.js";
import { type ScheduledTask, Scheduler } from "./scheduler.js";
import type { ListedInput } from "./listing.js";
import { LocalShuffleStore, type ShuffleStore } from "./shuffle-store.js";
import type { PipelineBuild } from "./pipeline-build.js";
import type { V8HelperThreads } from "./v8-helper-threads.js";

/** Runs tasks somewhere: in this thread, on a pool of workers, on other machines. */
export interface TaskExecutor {
  /** How many tasks it is handed at once. */
  readonly concurrency: number;
  /**
   * How many tasks run at once where it runs them, when that differs from `concurrency` (a queue
   * takes more tasks than its workers run): sources cut their input, and tasks share the shuffle
   * memory budget, by it.
   */
  readonly parallelism?: number;
  run(spec: TaskSpec): Promise<TaskResult>;
  /**
   * How to give a task a larger heap, for the message of one that exhausted it; default the pool
   * runner's option (`raise workerResourceLimits.maxOldGenerationSizeMb`).
   */
  readonly raiseHeap?: string;
  /**
   * Turns blocks it stored elsewhere (`ObjectBlockRef`) into blocks this thread can read; called
   * for the records of `collect` outputs, before `close`.
   */
  fetchBlocks?(blocks: readonly BlockRef[]): Promise<BlockRef[]>;
  /** Stops every worker; called once, after success or failure. */
  close(): Promise<void>;
}

/** What a runner of its own is told of the run it executes. */
export interface RunContext extends PipelineBuild {
  readonly runId: string;
  /** Folders on this machine's disk that the run's tasks write to (local outputs). */
  readonly localFolders: readonly string[];
  /** Limits of each worker thread's heap, as the pool runner would use them. */
  readonly workerResourceLimits: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
}

/**
 * A runner other than the two built in: it makes the executor of each run. The cluster runner of
 * `sluice/cluster` is one; core knows nothing of what stands behind it.
 */
export interface Runner {
  /** Its name, for messages (`cluster`). */
  readonly name: string;
  /** Tasks it runs at once: partitions and read tasks are sized by it, as by threads for the pool. */
  readonly parallelism: number;
  executor(context: RunContext): Promise<TaskExecutor>;
}

export function isRunner(value: unknown): value is Runner {
  return typeof value === "object" && value !== null && typeof (value as Runner).executor === "function";
}

/** Options of a run. Results never depend on them, only speed and memory do. */
export interface RunOptions {
  /**
   * `direct`: one thread, in process (the reference). `pool`: worker threads. Default `pool`. Or a
   * runner of its own, such as `cluster({ redis, shuffle })` from `sluice/cluster` (many machines).
   */
  readonly runner?: "direct" | "pool" | Runner;
  /** Worker threads of the pool runner; default one per core. */
  readonly threads?: number;
  /**
   * Partitions of shuffles that do not set their own (at most 10,000). Set, they are read one per
   * task up to 32 tasks per thread (at least 8), in contiguous groups past that. Default: one per
   * 16 MiB of the input the sources list, between 16 and 160 per thread (160 when a source cannot
   * tell its size; `defaultPartitionsFor`), read by one task per 2 MiB shuffled, between 4 and 32
   * tasks per thread (at least 8 in all), each task taking its partitions one at a time.
   */
  readonly partitions?: number;
  /** Records per batch read from sources and per shuffle block; default 4096. */
  readonly batchSize?: number;
  /** Bytes of shuffle data held in memory before it spills to disk; default 64 MiB. */
  readonly memoryBudget?: number;
  /** Parent folder of the run's spill folder; default the OS temporary folder. */
  readonly tempDir?: string;
  /** Called as the run progresses (stage start, task end), before the commit, and once more if the run fails. */
  readonly onProgress?: (metrics: JobMetrics) => void;
  /** A fixed run id (names output files); default time-based and random. */
  readonly runId?: string;
  /** Runs of a task whose worker died (exited, crashed, ran out of heap) before the job fails; default 3. */
  readonly taskAttempts?: number;
  /**
   * Bytes of records the `collect` outputs may bring into this process, in all (as the tasks
   * encode them, about a quarter of their JSON), before the run fails saying so, as Spark's
   * `spark.driver.maxResultSize`: collected records are held in this process's memory, which a
   * large output would exhaust. Default `DEFAULT_MAX_COLLECT_BYTES` (1 GiB); a large output
   * belongs in a sink.
   */
  readonly maxCollectBytes?: number;
  /**
   * Limits of each worker's heap (pool runner). Default: an old generation of at most
   * `DEFAULT_WORKER_OLD_GENERATION_MB` (1 GiB, Spark's default executor memory), which also makes
   * V8 grow each heap by about 1.6 times what is live instead of 4 times, and a young generation of
   * `DEFAULT_WORKER_YOUNG_GENERATION_MB` (96 MiB, twice V8's own).
   */
  readonly workerResourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
  /**
   * What V8 may run on helper threads beside the pool's workers. `on` (default): V8's defaults.
   * `auto`: while the pool has a worker for every core, each worker scavenges and compiles on its
   * own thread instead of waiting for helpers that compete with the other workers for the cores
   * (faster for long jobs; bench/README.md measures it), V8's defaults otherwise and when
   * node was started with a flag that decides the same. `auto` sets process-wide V8 flags while the
   * pool runs, which change the host application's own isolates too: a command may choose it (the
   * Sparkify command does), a library leaves it to its host.
   */
  readonly v8HelperThreads?: V8HelperThreads;
  /**
   * Resident bytes of the process below which the pool lets every heap grow by 4 times what it
   * keeps between full collections, as V8 does for heaps of 2 GiB and more; above it, V8's own
   * factor (about 1.6 times for the workers' 1 GiB heaps). Fewer collections while memory is
   * plentiful, for more memory at the peak (bench/README.md measures both). Default: off (V8's
   * factor throughout). It sets a process-wide V8 flag while the pool runs, which changes the
   * host's own isolate too: a command may choose it (the Sparkify command does: 1 GiB), a library
   * leaves it to its host. Ignored when node was started with `--heap-growing-percent`.
   */
  readonly heapGrowthBelow?: number;
  /**
   * Modules each worker imports before the pipeline's module (pool runner), resolved from the
   * working directory as `node --import` resolves: instrumentation, or a loader's registration.
   * Each `--import` node was started with is imported in the workers already (tsx's registered
   * there too), so `node --import tsx main.ts` runs TypeScript pipelines without this option.
   */
  readonly workerImports?: readonly string[];
  /**
   * Stops the run: no task is started after it fires, the workers are stopped, staged output is
   * discarded and nothing is committed. A commit already under way is finished (it is short).
   */
  readonly signal?: AbortSignal;
}

export const DEFAULT_BATCH_SIZE = 4096;
/**
 * Shuffle bytes held in memory. Blocks past it go to spill files, which the page cache serves back
 * at memory speed while they are fresh (and which do not count in the process's RSS): on 1M
 * Sparkify events, 128 MiB instead of 512 MiB took peak RSS from 1.0 GB to 0.72 GB at the same wall
 * time, and 64 MiB pays for the larger young generation of the workers.
 */
export const DEFAULT_MEMORY_BUDGET = 64 * 1024 * 1024;

/**
 * The default limit of each worker's old generation, in MiB. Beside bounding a worker, a limit
 * under 2 GiB changes how V8 grows the heap: by about 1.6 times what survived the last full
 * collection, instead of 4 times without a limit. Sparkify at 10M events keeps at most 165 MB live
 * per worker; without a limit the heaps grew to 520 MB each (peak RSS 1,835 MiB), with it the peak
 * is 1,331 MiB, for more full collections (about 1 s of a 14 s run at 1M events).
 */
export const DEFAULT_WORKER_OLD_GENERATION_MB = 1024;

/**
 * The default size of each worker's young generation, in MiB (two semi-spaces and the space for new
 * large objects: 32 MiB semi-spaces, twice V8's default). A task's records live for tens of
 * milliseconds, longer than V8's default young generation takes to fill at the rate a worker
 * allocates (about 400 MB/s on Sparkify's events), so they were copied twice and then promoted to
 * the old generation, only to die there. With room for twice as much, fewer of them survive a
 * scavenge: 1M Sparkify events in about 0.9 s less of 14 s (0.6 s more at 192 MiB, but that
 * costs 130 MiB more peak RSS at 10M events, past its budget).
 */
export const DEFAULT_WORKER_YOUNG_GENERATION_MB = 96;

/** The default `maxCollectBytes`: 1 GiB, Spark's default `spark.driver.maxResultSize`. */
export const DEFAULT_MAX_COLLECT_BYTES = 1024 ** 3;

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/** Groups `items` into at most `groupCount` contiguous groups of near-equal size. */
function contiguousGroups<T>(items: readonly T[], groupCount: number | undefined): T[][] {
  if (groupCount === undefined || groupCount >= items.length) return items.map((item) => [item]);
  const groups: T[][] = [];
  for (let index = 0; index < groupCount; index++) {
    groups.push(
      items.slice(
        Math.floor((items.length * index) / groupCount),
        Math.floor((items.length * (index + 1)) / groupCount),
      ),
    );
  }
  return groups;
}

/** The run's collected records passed `maxCollectBytes` while `name` took in a task's. */
function collectLimitError(name: string, limit: number): SluiceError {
  const size =
    limit >= 2 ** 20
      ? `${Math.round((limit / 2 ** 20) * 10) / 10} MiB`
      : `${limit.toLocaleString("en-US")} bytes`;
  return new SluiceError(
    `the run's collect outputs passed maxCollectBytes (${size} of encoded records) at '${name}': collected records are held in this process's memory; write a large output to a sink instead, or raise maxCollectBytes`,
  );
}

/**
 * What to change when a stage's task exhausted its worker's heap: the heap's limit, and the
 * transforms of the stage that hold many records at once, since a skewed key or one large task is
 * the usual cause and a larger heap only moves the limit.
 */
function outOfMemoryHint(
  stage: StagePlan,
  raiseHeap = "raise workerResourceLimits.maxOldGenerationSizeMb",
): string {
  const causes = [`each worker's heap is limited: ${raiseHeap}`];
  const root = stage.root;
  if (root.kind === "shuffle" && root.mode === "group") {
    causes.push(
      `'${root.name}' holds all the values of a key at once: a key with very many values needs` +
        " combinePerKey, and a task with many keys more partitions",
    );
  }
  for (const node of stage.nodes) {
    if (node.kind === "sort") causes.push(`'${node.name}' holds all of a task's records`);
  }
  return ` (${causes.join("; ")})`;
}

/** The split or partitions a task reads, for error messages. */
function describeInput(stage: StagePlan, input: TaskInput): string {
  if (input.kind === "partitions") {
    const partitions = input.partitions.map((entry) => entry.partition);
    return partitions.length === 1
      ? `partition ${partitions[0]}`
      : `partitions ${partitions[0]}..${partitions.at(-1)}`;
  }
  const first = input.splits[0];
  if (first === undefined) return "no split";
  const source = stage.root.kind === "source" ? stage.root.source : undefined;
  // A source of your own may say nothing of its splits: "split 3" still says what the 3 is.
  const described = source?.describeSplit?.(first) ?? `split ${JSON.stringify(first)}`;
  return input.splits.length === 1 ? described : `${described} and ${input.splits.length - 1} more split(s)`;
}

export interface JobSettings {
  readonly runId: string;
  readonly batchSize: number;
  readonly memoryBudget: number;
  readonly tempDir: string | undefined;
  readonly rejected: RejectedOutput;
  readonly onProgress: ((metrics: JobMetrics) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Runs of a task whose worker died, before the job fails. */
  readonly taskAttempts: number;
  /** Bytes of encoded records all `collect` outputs may bring into this process. */
  readonly maxCollectBytes: number;
  /** The sources' splits, listed before the run was planned (listing.ts). */
  readonly listed: ListedInput;
}

export interface JobOutcome {
  readonly collected: Map<number, unknown[]>;
  readonly metrics: JobMetrics;
}

function committersOf(
  plan: Plan,
  rejected: RejectedOutput,
): Map<string, { committer: JobCommitter; sinks: Set<string> }> {
  const committers = new Map<string, { committer: JobCommitter; sinks: Set<string> }>();
  const sinks = plan.graph.nodes.flatMap((node) => (node.kind === "sink" ? [node.sink] : []));
  if (rejected.sink) sinks.push(rejected.sink as (typeof sinks)[number]);
  for (const sink of sinks) {
    const entry = committers.get(sink.committer.id) ?? {
      committer: sink.committer,
      sinks: new Set<string>(),
    };
    entry.sinks.add(sink.name);
    committers.set(sink.committer.id, entry);
  }
  return committers;
}

function checkRejectLimit(metrics: JobMetrics, rejected: RejectedOutput, final: boolean): void {
  if (metrics.rejected === 0) return;
  const limit = rejected.limit ?? (rejected.sink ? undefined : { count: 0 });
  if (!limit) return;
  const samples = metrics.rejectedSamples.length > 0 ? `; first: ${metrics.rejectedSamples[0]}` : "";
  if ("count" in limit && metrics.rejected > limit.count) {
    throw new RejectLimitError(
      `${metrics.rejected} record(s) rejected, more than the limit of ${limit.count}${samples}`,
    );
  }
  if (final && "percent" in limit && metrics.rejected > (metrics.recordsSeen * limit.percent) / 100) {
    throw new RejectLimitError(
      `${metrics.rejected} of ${metrics.recordsSeen} record(s) rejected, more than the limit of ${limit.percent}%${samples}`,
    );
  }
}

/** Fails the job when a source that must read something read no record. */
function checkRequiredSources(plan: Plan, metrics: JobMetrics): void {
  for (const stage of plan.stages) {
    const root = stage.root;
    if (root.kind !== "source" || !root.required) continue;
    const read = metrics.stages[stage.id];
    if (!read || read.recordsIn + read.rejected === 0) {
      throw new SluiceError(
        `'${root.name}' read no record: ${root.source.description} holds only empty files`,
      );
    }
  }
}

/**
 * Runs a planned job on an executor: schedules each stage's tasks once the shuffles it reads are
 * complete, moves shuffle blocks from map to reduce tasks, and commits the sinks when every task
 * has succeeded. The first failure stops the job; the executor is closed and the spill folder
 * removed in every case.
 */
export async function runJob(plan: Plan, executor: TaskExecutor, settings: JobSettings): Promise<JobOutcome> {
  const started = performance.now();
  const metrics = emptyJobMetrics(plan, settings.runId);
  const spillParent = settings.tempDir ?? tmpdir();
  let spillDirectory: string;
  try {
    spillDirectory = await mkdtemp(join(spillParent, `sluice-${settings.runId}-`));
  } catch (error) {
    throw fileFailure("create the run's spill folder in", spillParent, error);
  }
  const committers = committersOf(plan, settings.rejected);
  const store: ShuffleStore = new LocalShuffleStore(plan, settings.memoryBudget, spillDirectory);
  const parallelism = executor.parallelism ?? executor.concurrency;
  const taskBudget = Math.max(1 << 20, Math.floor(settings.memoryBudget / (2 * parallelism)));
  const collectedBlocks = new Map<number, { order: [number, number]; block: BlockRef }[]>();
  let collectBytes = 0;
  const sinkMessages = new Map<string, JsonValue[]>();
  const report = () => {
    metrics.wallMs = performance.now() - started;
    if (!settings.onProgress) return;
    try {
      settings.onProgress(snapshot(metrics));
    } catch (error) {
      throw new SluiceError(`the onProgress callback failed: ${messageOf(error)}`);
    }
  };

  let committed = false;
  try {
    for (const { committer } of committers.values()) await committer.setup(settings.runId);
    const inputsOf = (stage: StagePlan): TaskInput[] => {
      const shuffle = plan.shuffles.get(stage.root.id);
      if (!shuffle) {
        return contiguousGroups(settings.listed.splits.get(stage.root.id) ?? [], stage.maxTasks).map(
          (splits) => ({
            kind: "splits",
            splits,
          }),
        );
      }
      const partitions = Array.from({ length: shuffle.partitionCount }, (_, partition) => partition);
      const sinksOnly = stage.shuffleWrites.length === 0;
      const tasks = readTasksFor(shuffle, store.bytesOf(shuffle.id), stage.maxTasks, sinksOnly);
      return contiguousGroups(partitions, tasks).map((group) => ({
        kind: "partitions",
        partitions: group.map((partition) => ({ partition, blocks: store.take(shuffle.id, partition) })),
      }));
    };

    /**
     * The tables of a stage's lookups, in a fixed order: every task of the stage gets the same.
     * They go to a file first, so that a task carries references to them, not a copy: a thread
     * builds a table once and every later task of the stage would copy its bytes for nothing
     * (20 MB per task for the songs of 10M Sparkify events). If the file cannot be written, the
     * tasks carry the bytes, as they would have anyway. The main thread then holds no copy.
     */
    const tablesOf = (stage: StagePlan): Record<number, BlockRef[]> => {
      const tables: Record<number, BlockRef[]> = {};
      for (const node of stage.nodes) {
        if (node.kind !== "lookup") continue;
        const entries = [...(collectedBlocks.get(node.id) ?? [])];
        entries.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
        const blocks = entries.map((entry) => entry.block);
        try {
          const spilled = spillBlocksSync(join(spillDirectory, `table-${node.id}.blocks`), blocks);
          entries.forEach((entry, index) => {
            entry.block = spilled[index]!;
          });
          tables[node.id] = spilled;
        } catch {
          tables[node.id] = blocks;
        }
      }
      return tables;
    };
    const stageTables = new Map<number, Record<number, BlockRef[]>>();

    const stageStart = new Map<number, number>();
    let failure: unknown;
    type Task = ScheduledTask<TaskInput>;
    // Made inside the promise below (making it starts the ready stages); stopped when the job fails.
    let scheduler: Scheduler<TaskInput> | undefined;

    await new Promise<void>((resolve, reject) => {
      const failJob = (error: unknown) => {
        if (failure !== undefined) return;
        failure = error;
        scheduler?.stop();
        reject(error instanceof SluiceError ? error : new SluiceError(`the run failed: ${messageOf(error)}`));
      };
      const startStage = (stageId: number): TaskInput[] => {
        const stage = plan.stages[stageId]!;
        stageStart.set(stage.id, performance.now());
        stageTables.set(stage.id, tablesOf(stage));
        const inputs = inputsOf(stage);
        const stageMetrics = metrics.stages[stage.id]!;
        stageMetrics.tasks = inputs.length;
        stageMetrics.state = "running";
        return inputs;
      };
      const stageDone = (stageId: number) => {
        const stageMetrics = metrics.stages[stageId]!;
        stageMetrics.state = "done";
        stageMetrics.wallMs = performance.now() - (stageStart.get(stageId) ?? performance.now());
      };
      const pump = () => {
        for (let next = scheduler!.next(); next; next = scheduler!.next()) {
          const task = next;
          const stage = plan.stages[task.stageId]!;
          const spec: TaskSpec = {
            runId: settings.runId,
            stageId: stage.id,
            taskIndex: task.taskIndex,
            input: task.input,
            batchSize: settings.batchSize,
            memoryBudget: taskBudget,
            spillDirectory,
            tables: stageTables.get(stage.id) ?? {},
          };
          // Three outcomes, never confused: the task succeeded (its output is counted once, on this
          // thread, and whatever fails while counting it fails the job: it is never a retry, which
          // would count the output twice); the task failed (a user function, bad data, I/O: the
          // same again on any worker, so the job fails at once); the worker died (the task runs
          // again on a fresh one, a bounded number of times).
          executor.run(spec).then(
            (result) => accept(task, result).catch(failJob),
            (error: unknown) => taskFailed(task, error),
          );
        }
      };
      const accept = async (task: Task, result: TaskResult) => {
        if (failure !== undefined) return;
        // The worker takes its next task while this one's output is stored: storing may spill it
        // to disk, and a worker that waited for the disk between tasks sat idle in large runs.
        scheduler!.ran(task);
        pump();
        const spilledByStore = await store.add(task.stageId, task.taskIndex, result);
        // Another task's bookkeeping may have failed the job while this one waited for the store;
        // from here on everything is synchronous, so a failure is recorded before any other task's
        // bookkeeping resumes (and can never come after the job has been resolved).
        if (failure !== undefined) return;
        try {
          for (const entry of result.collected) {
            const node = plan.graph.node(entry.nodeId);
            if (node.kind === "collect") {
              collectBytes += entry.block.byteLength;
              if (collectBytes > settings.maxCollectBytes)
                throw collectLimitError(node.name, settings.maxCollectBytes);
            }
            const list = collectedBlocks.get(entry.nodeId) ?? [];
            list.push({ order: [task.stageId, task.taskIndex], block: entry.block });
            collectedBlocks.set(entry.nodeId, list);
          }
          for (const { sink, message } of result.sinkMessages) {
            const list = sinkMessages.get(sink) ?? [];
            list.push(message);
            sinkMessages.set(sink, list);
          }
          addTaskMetrics(metrics, task.stageId, result.metrics);
          metrics.stages[task.stageId]!.bytesSpilled += spilledByStore;
          metrics.stages[task.stageId]!.wallMs = performance.now() - stageStart.get(task.stageId)!;
          checkRejectLimit(metrics, settings.rejected, false);
          scheduler!.succeeded(task);
          report();
          if (scheduler!.finished) resolve();
          else pump();
        } catch (error) {
          failJob(error);
        }
      };
      const taskFailed = (task: Task, error: unknown) => {
        if (failure !== undefined) return;
        const died = error instanceof WorkerDiedError;
        if (died && scheduler!.lost(task)) {
          try {
            pump();
          } catch (pumpError) {
            failJob(pumpError);
          }
          return;
        }
        const stage = plan.stages[task.stageId]!;
        const attempts = died ? ` ${task.attempt} time(s), on fresh workers` : "";
        const hint =
          died && error.code === "ERR_WORKER_OUT_OF_MEMORY" ? outOfMemoryHint(stage, executor.raiseHeap) : "";
        const where = `stage ${stage.id} ('${stage.name}') failed on ${describeInput(stage, task.input)}${attempts}: `;
        failJob(
          error instanceof RejectLimitError
            ? error
            : error instanceof TransformError
              ? error.within(where)
              : new SluiceError(`${where}${messageOf(error)}${hint}`, { cause: causeOf(error) }),
        );
      };
      const abort = () => {
        if (failure !== undefined) return;
        failure = settings.signal?.reason ?? new Error("aborted");
        scheduler?.stop();
        reject(new SluiceError(`the run was stopped (${messageOf(failure)}); nothing was committed`));
      };
      // Ready stages start as the scheduler is made.
      scheduler = new Scheduler(plan.stages, {
        concurrency: executor.concurrency,
        taskAttempts: settings.taskAttempts,
        startStage,
        stageDone,
      });
      if (settings.signal?.aborted) abort();
      settings.signal?.addEventListener("abort", abort, { once: true });
      report();
      if (scheduler.finished) resolve();
      else pump();
    });
    if (settings.signal?.aborted) {
      throw new SluiceError(
        `the run was stopped (${messageOf(settings.signal.reason)}); nothing was committed`,
      );
    }

    checkRejectLimit(metrics, settings.rejected, true);
    checkRequiredSources(plan, metrics);
    // The last progress report comes before the commit: a callback that throws fails the run
    // while it can still leave the output as it was.
    report();
    for (const { committer, sinks } of committers.values()) {
      const messages = new Map<string, JsonValue[]>();
      for (const sink of sinks) messages.set(sink, sinkMessages.get(sink) ?? []);
      await committer.commit(settings.runId, messages);
    }
    committed = true;

    const collected = new Map<number, unknown[]>();
    for (const [nodeId, blocks] of collectedBlocks) {
      if (plan.graph.node(nodeId).kind !== "collect") continue; // a lookup's table
      blocks.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
      const ordered = blocks.map((entry) => entry.block);
      const readable = executor.fetchBlocks ? await executor.fetchBlocks(ordered) : ordered;
      const records: unknown[] = [];
      for (const block of readable) for (const record of await readBlock(block)) records.push(record);
      collected.set(nodeId, records);
    }
    metrics.wallMs = performance.now() - started;
    return { collected, metrics };
  } catch (error) {
    // A failed run reports once more, so that a caller's summary says how far it got; a callback
    // that fails here cannot hide the run's own error.
    try {
      report();
    } catch {}
    // Workers stop first, so that nothing is written after the staged output is removed.
    await executor.close().catch(() => undefined);
    const leftovers: string[] = [];
    if (!committed) {
      for (const { committer, sinks } of committers.values()) {
        const messages = new Map<string, JsonValue[]>();
        for (const sink of sinks) messages.set(sink, sinkMessages.get(sink) ?? []);
        leftovers.push(...(await leftoversOf(committer, settings.runId, messages)));
      }
    }
    if (leftovers.length === 0) throw error;
    const listed =
      leftovers.slice(0, 5).join(", ") + (leftovers.length > 5 ? ` and ${leftovers.length - 5} more` : "");
    throw new SluiceError(`${messageOf(error)}; staged output that could not be removed: ${listed}`);
  } finally {
    await executor.close().catch(() => undefined);
    await rm(spillDirectory, { recursive: true, force: true });
  }
}

/**
 * What a failed task's error keeps as its cause: the error as it was thrown (which an executor
 * that says the failure in its own words keeps as the cause of its own), whose stack leads into
 * the function that threw.
 */
function causeOf(error: unknown): unknown {
  return error instanceof SluiceError && error.cause !== undefined ? error.cause : error;
}

/**
 * What a committer's abort could not remove: its list, or its own failure. A committer of your own
 * whose abort returns nothing, or is not async, leaves none: the run's error is the one thrown,
 * never a TypeError from reading its result.
 */
async function leftoversOf(
  committer: JobCommitter,
  runId: string,
  messages: ReadonlyMap<string, JsonValue[]>,
): Promise<string[]> {
  try {
    const left: unknown = await committer.abort(runId, messages);
    return Array.isArray(left) ? left.map(String) : [];
  } catch (reason) {
    return [messageOf(reason)];
  }
}
