import { createHash } from "node:crypto";
import type { PlanSettings } from "../plan.js";
import type { TaskResult, TaskSpec } from "../task.js";
import type { TaskExecutor } from "./job.js";
import { ThreadPool } from "./thread-pool.js";
import type { V8HelperThreads } from "./v8-helper-threads.js";
import type { WorkerTask } from "./worker.js";
import type { WorkerPreload } from "./worker-preloads.js";

/** What a worker needs to rebuild a run's pipeline: the same on threads and on other machines. */
export interface PipelineBuild {
  readonly location: { readonly module: string; readonly name: string };
  readonly options: unknown;
  readonly planSettings: PlanSettings;
  /** The fingerprint of the graph the main thread built (fingerprint.ts). */
  readonly fingerprint: string;
  /** Modules each worker imports before the pipeline's module (worker-preloads.ts). */
  readonly preloads: readonly WorkerPreload[];
}

export interface PoolSettings extends PipelineBuild {
  readonly threads: number;
  /** Limits of each worker's heap, e.g. `{ maxOldGenerationSizeMb: 512 }`. */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
  };
  /** What V8 may run on helper threads beside the workers (see `V8HelperThreads`). */
  readonly v8HelperThreads: V8HelperThreads;
}

/** A task message without its spec: the same for every task of a run. */
export type WorkerTaskHeader = Omit<WorkerTask, "spec">;

/** The header of every task of a build: options as JSON text, and a key naming the build. */
export function workerTaskHeader(build: PipelineBuild): WorkerTaskHeader {
  const optionsJson = JSON.stringify(build.options ?? null);
  const buildKey = createHash("sha256")
    .update(JSON.stringify([build.location.module, build.location.name, build.planSettings]))
    .update(optionsJson)
    .digest("hex");
  return {
    module: build.location.module,
    name: build.location.name,
    optionsJson,
    buildKey,
    planSettings: build.planSettings,
    fingerprint: build.fingerprint,
    preloads: build.preloads,
  };
}

/**
 * Runs tasks on a piscina pool. A task message carries the pipeline's module and options (workers
 * rebuild the graph from them) and the task's input; shuffle blocks travel as transferred bytes.
 */
export class PoolExecutor implements TaskExecutor {
  readonly concurrency: number;
  private readonly pool: ThreadPool;
  private readonly header: WorkerTaskHeader;

  constructor(settings: PoolSettings) {
    this.concurrency = settings.threads;
    this.header = workerTaskHeader(settings);
    this.pool = new ThreadPool(settings);
  }

  run(spec: TaskSpec): Promise<TaskResult> {
    return this.pool.run({ ...this.header, spec });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
