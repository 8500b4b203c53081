// What crosses between the scheduler and whatever runs a task (a thread, a process, a machine):
// JSON-safe descriptions only, so that the same task runs the same anywhere.
import type { BlockRef } from "./blocks.js";
import type { JsonValue } from "./keys.js";
import type { TaskMetrics } from "./metrics.js";
import type { ShuffleBlock } from "./shuffle.js";

/** What one task reads: source splits, or shuffle partitions with their blocks. */
export type TaskInput =
  | { readonly kind: "splits"; readonly splits: readonly JsonValue[] }
  | {
      readonly kind: "partitions";
      readonly partitions: readonly { partition: number; blocks: BlockRef[] }[];
    };

export interface TaskSpec {
  readonly runId: string;
  readonly stageId: number;
  readonly taskIndex: number;
  readonly input: TaskInput;
  readonly batchSize: number;
  /** Bytes of shuffle blocks a task may hold before it spills them. */
  readonly memoryBudget: number;
  readonly spillDirectory: string;
  /** For each lookup in the stage, by node id, the blocks of its table. */
  readonly tables?: Readonly<Record<number, BlockRef[]>>;
}

/** What a task leaves for the stages after it and for the commit. */
export interface TaskOutputs {
  readonly shuffleBlocks: ShuffleBlock[];
  /** Records of `collect` outputs, and of lookup tables (by the lookup's node id). */
  readonly collected: { nodeId: number; block: BlockRef }[];
  readonly sinkMessages: { sink: string; message: JsonValue }[];
}

export interface TaskResult extends TaskOutputs {
  readonly metrics: TaskMetrics;
}
