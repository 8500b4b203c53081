import { createHash } from "node:crypto";
import { Piscina } from "piscina";
import { messageOf, SluiceError, transformErrorOf, WorkerDiedError } from "../errors.js";
import type { TaskResult, TaskSpec } from "../task.js";
import type { PlanSettings } from "../plan.js";
import type { TaskExecutor } from "./job.js";
import { applyHelperThreadFlags, type V8HelperThreads } from "./v8-helper-threads.js";
import type { TaskFailure, WorkerTask } from "./worker.js";
import type { WorkerPreload } from "./worker-preloads.js";

export interface PoolSettings {
  readonly location: { readonly module: string; readonly name: string };
  readonly options: unknown;
  readonly planSettings: PlanSettings;
  /** The fingerprint of the graph the main thread built (fingerprint.ts). */
  readonly fingerprint: string;
  /** Modules each worker imports before the pipeline's module (worker-preloads.ts). */
  readonly preloads: readonly WorkerPreload[];
  readonly threads: number;
  /** Limits of each worker's heap, e.g. `{ maxOldGenerationSizeMb: 512 }`. */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
  /** What V8 may run on helper threads beside the workers (see `V8HelperThreads`). */
  readonly v8HelperThreads: V8HelperThreads;
}

/**
 * Runs tasks on a piscina pool. A task message carries the pipeline's module and options (workers
 * rebuild the graph from them) and the task's input; shuffle blocks travel as transferred bytes.
 */
export class PoolExecutor implements TaskExecutor {
  readonly concurrency: number;
  private pool: Piscina | undefined;
  private poolFailure: unknown;
  private restoreHelperThreads: (() => void) | undefined;
  private readonly optionsJson: string;
  private readonly buildKey: string;

  constructor(private readonly settings: PoolSettings) {
    this.concurrency = settings.threads;
    this.optionsJson = JSON.stringify(settings.options ?? null);
    this.buildKey = createHash("sha256")
      .update(JSON.stringify([settings.location.module, settings.location.name, settings.planSettings]))
      .update(this.optionsJson)
      .digest("hex");
  }

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
    const pool = new Piscina({
      filename: new URL("./worker-entry.cjs", import.meta.url).href,
      minThreads: this.settings.threads,
      maxThreads: this.settings.threads,
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

  async run(spec: TaskSpec): Promise<TaskResult> {
    const task: WorkerTask = {
      module: this.settings.location.module,
      name: this.settings.location.name,
      optionsJson: this.optionsJson,
      buildKey: this.buildKey,
      planSettings: this.settings.planSettings,
      fingerprint: this.settings.fingerprint,
      preloads: this.settings.preloads,
      spec,
    };
    // Input blocks are copied (one memcpy of bytes), not transferred: the main thread keeps them
    // until the task succeeds, so that a task whose worker died can run again. Results, the larger
    // flow, are transferred.
    let outcome: TaskResult | TaskFailure;
    try {
      outcome = (await this.started().run(task)) as TaskResult | TaskFailure;
    } catch (error) {
      // The worker answers a task's own failure as a TaskFailure; a rejection is its death.
      const code = (error as { code?: unknown }).code;
      throw new WorkerDiedError(messageOf(error), typeof code === "string" ? code : undefined);
    }
    if (this.poolFailure !== undefined) {
      throw new SluiceError(`the worker pool failed: ${messageOf(this.poolFailure)}`);
    }
    if ("taskFailed" in outcome) {
      if (outcome.transform) throw transformErrorOf(outcome.transform);
      throw new SluiceError(outcome.taskFailed);
    }
    return outcome;
  }

  /** Stops the workers; gives up waiting after 5 s, so that a stuck worker cannot hold the job's result back. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    const restoreHelperThreads = this.restoreHelperThreads;
    this.restoreHelperThreads = undefined;
    if (!pool) {
      restoreHelperThreads?.();
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
  }
}
