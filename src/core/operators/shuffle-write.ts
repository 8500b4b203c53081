import type { GraphNode } from "../graph.js";
import { CombinerError, ShuffleWriter } from "../shuffle.js";
import type { ShufflePlan } from "../stages.js";
import type { Receiver, RunningOperator, TaskRuntime } from "./operator.js";

/** The map side of a shuffle as one task runs it: one writer, fed by each input slot the stage fills. */
export interface RunningShuffleWrite extends Omit<RunningOperator, "process"> {
  /** Takes the records of the shuffle's input `slot`. */
  input(slot: number): Receiver;
}

/** What a stage's write into a shuffle says in `explain`. */
export function describeShuffleWrite(shuffle: ShufflePlan): string {
  const lifted =
    shuffle.mode === "combine" ? `, ${shuffle.combiner?.name ?? "combiner"} lifted to the map side` : "";
  return `hash of key into ${partitionsText(shuffle)}${lifted}`;
}

/** A shuffle's partitions as `explain` gives them: a range where the run will size them from its input. */
export function partitionsText(shuffle: ShufflePlan): string {
  const range = shuffle.partitionRange;
  return range && range[0] < range[1]
    ? `${range[0]} to ${range[1]} partitions`
    : `${shuffle.partitionCount} partitions`;
}

/**
 * Opens the write side of a shuffle for one task: records are routed to partitions by their key's
 * hash (combined first where the shuffle has a combiner) and held as encoded blocks, spilled to
 * disk past the task's memory budget; the blocks are the task's output. What its combiner throws
 * fails as `node`, the shuffle's transform, on the record being written.
 */
export function openShuffleWrite(
  shuffle: ShufflePlan,
  node: GraphNode,
  runtime: TaskRuntime,
): RunningShuffleWrite {
  const writer = new ShuffleWriter(shuffle, {
    batchSize: runtime.batchSize,
    memoryBudget: runtime.memoryBudget,
    spillDirectory: runtime.spillDirectory,
    taskId: runtime.taskContext.taskId,
    taskIndex: runtime.taskIndex,
  });
  return {
    input: (slot) => (value) => {
      try {
        writer.write(slot, value);
      } catch (error) {
        if (error instanceof CombinerError) runtime.fail(node, error.cause);
        throw error;
      }
    },
    async flush() {
      if (writer.overBudget) await writer.spill();
    },
    async close() {
      const shuffleBlocks = writer.finish();
      if (writer.overBudget) await writer.spill();
      runtime.metrics.bytesShuffled += writer.bytesWritten;
      runtime.metrics.bytesSpilled += writer.bytesSpilled;
      return { shuffleBlocks };
    },
  };
}
