import type { TaskResult, TaskSpec } from "../task.js";
import type { TaskExecutor } from "./job.js";
import { collectionRequests } from "./heap-growth.js";
import { ThreadPool } from "./thread-pool.js";
import type { V8HelperThreads } from "./v8-helper-threads.js";
import {
  type PipelineBuild,
  type ThreadTaskHeader,
  threadTaskHeader,
  workerTaskHeader,
} from "./pipeline-build.js";

export interface PoolSettings extends PipelineBuild {
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
 * Runs tasks on a piscina pool. A task message carries the pipeline's module and options (workers
 * rebuild the graph from them; the options as bytes every task shares) and the task's input;
 * shuffle blocks travel as transferred bytes.
 */
export class PoolExecutor implements TaskExecutor {
  readonly concurrency: number;
  private readonly pool: ThreadPool;
  private readonly header: ThreadTaskHeader;

  constructor(settings: PoolSettings) {
    this.concurrency = settings.threads;
    const header = threadTaskHeader(workerTaskHeader(settings));
    // The workers collect their heaps when the growth goes back to V8's (heap-collections.ts).
    this.header = settings.heapGrowthBelow ? { ...header, collectionRequests } : header;
    this.pool = new ThreadPool(settings);
  }

  run(spec: TaskSpec): Promise<TaskResult> {
    return this.pool.run({ ...this.header, spec });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
