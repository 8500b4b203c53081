import { Piscina } from "piscina";
import { messageOf, SluiceError, transformErrorOf, WorkerDiedError } from "../errors.js";
import type { TaskResult } from "../task.js";
import { holdHeapGrowth } from "./heap-growth.js";
import { applyHelperThreadFlags, type V8HelperThreads } from "./v8-helper-threads.js";
import type { TaskFailure, ThreadTask } from "./worker.js";

export interface ThreadPoolSettings {
  readonly threads: number;
  /** Limits of each worker's heap, e.g. `{ maxOldGenerationSizeMb: 512 }`. */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
  /** What V8 may run on helper threads beside the workers (see `V8HelperThreads`). */
  readonly v8HelperThreads: V8HelperThreads;
  /** Resident bytes below which heaps grow by 4 times between full collections (see heap-growth.ts). */
  readonly heapGrowthBelow?: number;
}

/**
 * A piscina pool of worker threads that run tasks of any pipeline: a task names its pipeline's
 * module, and each thread keeps the plans it built. One run's pool runner uses one; a cluster
 * worker process serves every run of every pipeline with one.
 */
export class ThreadPool {
  private pool: Piscina | undefined;
  private poolFailure: unknown;
  private restoreHelperThreads: (() => void) | undefined;
  private releaseHeapGrowth: (() => void) | undefined;

  constructor(private readonly settings: ThreadPoolSettings) {}

  /**
   * The pool starts with the first task, not before: a job that fails while it sets up (an output
   * that exists, an input that cannot be listed) then never starts workers only to stop them again
   * while they are still loading modules.
   */
  private started(): Piscina {
    if (this.pool) return this.pool;
    // Before the workers start: one of the flags applies to isolates created after it is set.
    this.restoreHelperThreads ??= applyHelperThreadFlags(
      this.settings.v8HelperThreads,
      this.settings.threads,
    );
    this.releaseHeapGrowth ??= holdHeapGrowth(this.settings.heapGrowthBelow ?? 0);
    const pool = new Piscina({
      filename: new URL("./worker-entry.cjs", import.meta.url).href,
      minThreads: this.settings.threads,
      maxThreads: this.settings.threads,
      // One task at a time in each worker: its counters are kept without an async context.
      concurrentTasksPerWorker: 1,
      // Tasks await their own I/O; async atomics let a worker's event loop run between tasks.
      atomics: "async",
      idleTimeout: 60_000,
      ...(this.settings.resourceLimits ? { resourceLimits: this.settings.resourceLimits } : {}),
    });
    // When a job fails, the pool is destroyed while other tasks may still be running, and the
    // answer of one of them can arrive after that. piscina reports such an answer as an 'error'
    // event, which without a listener ends the process with a stack trace instead of the job's
    // own one-line error. Once the pool is closing that answer is moot; before, it fails the job.
    pool.on("error", (error: unknown) => {
      if (this.pool === pool) this.poolFailure ??= error;
    });
    this.pool = pool;
    return pool;
  }

  /**
   * Runs a task and answers its result or its own failure (a user function, bad data, I/O: the
   * same on any thread). The death of its thread (an exit, a crash at start-up, an exhausted heap)
   * is thrown as a WorkerDiedError: worth running again on a fresh one.
   */
  async outcomeOf(task: ThreadTask): Promise<TaskResult | TaskFailure> {
    // Input blocks are copied (one memcpy of bytes), not transferred: the caller keeps them until
    // the task succeeds, so that a task whose worker died can run again. Results, the larger flow,
    // are transferred.
    let outcome: TaskResult | TaskFailure;
    try {
      outcome = (await this.started().run(task)) as TaskResult | TaskFailure;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new WorkerDiedError(messageOf(error), typeof code === "string" ? code : undefined);
    }
    if (this.poolFailure !== undefined) {
      throw new SluiceError(`the worker pool failed: ${messageOf(this.poolFailure)}`);
    }
    return outcome;
  }

  /** Runs a task; its own failure is thrown (a TransformError when a user function threw). */
  async run(task: ThreadTask): Promise<TaskResult> {
    const outcome = await this.outcomeOf(task);
    if ("taskFailed" in outcome) {
      if (outcome.transform) throw transformErrorOf(outcome.transform);
      throw new SluiceError(outcome.taskFailed, { cause: thrownIn(outcome) });
    }
    return outcome;
  }

  /** Stops the workers; gives up waiting after 5 s, so that a stuck worker cannot hold a result back. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    const restoreHelperThreads = this.restoreHelperThreads;
    this.restoreHelperThreads = undefined;
    const releaseHeapGrowth = this.releaseHeapGrowth;
    this.releaseHeapGrowth = undefined;
    if (!pool) {
      restoreHelperThreads?.();
      releaseHeapGrowth?.();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 5000);
      timer.unref();
    });
    await Promise.race([pool.destroy(), timeout]);
    clearTimeout(timer);
    restoreHelperThreads?.();
    releaseHeapGrowth?.();
  }
}

/** The error a worker's task threw, rebuilt with its name, message and stack. */
function thrownIn(failure: TaskFailure): Error | undefined {
  if (!failure.thrown) return undefined;
  const error = new Error(failure.taskFailed);
  error.name = failure.thrown.name;
  if (failure.thrown.stack !== undefined) error.stack = failure.thrown.stack;
  return error;
}
