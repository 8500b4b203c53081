import { canonicalJson } from "../keys.js";
import { CombinerError, readShufflePartition } from "../shuffle.js";
import type { RootOperator } from "./operator.js";

/**
 * The reduce side of a shuffle (groupByKey, combinePerKey, join, repartition): a stage's root. A
 * task reads its partitions one at a time, each from the blocks every writer task left for it,
 * and passes on the grouped, combined or repartitioned records.
 */
export const shuffleReadOperator: RootOperator<"shuffle"> = {
  placement: "root",
  reads: "partitions",
  describe: (node) =>
    `read shuffle (${node.mode}, ${node.partitionCount === undefined ? "default" : node.partitionCount} partitions)`,
  async read(node, input, runtime, next, drain) {
    if (input.kind !== "partitions")
      throw new Error(`'${node.name}' reads shuffle partitions, not ${input.kind}`);
    const shuffle = runtime.shuffle(node.id);
    for (const { partition, blocks } of input.partitions) {
      let current: unknown;
      runtime.setOrigin(
        () =>
          `key ${canonicalJson((current as [unknown])[0]).slice(0, 200)} of '${shuffle.name}' partition ${partition}`,
      );
      try {
        for await (const records of readShufflePartition(shuffle, blocks)) {
          runtime.metrics.recordsIn += records.length;
          for (current of records) next(current);
          await drain();
        }
      } catch (error) {
        if (!(error instanceof CombinerError)) throw error;
        // The combiner failed merging or extracting a key's accumulators: that key is the origin.
        current = [error.key];
        runtime.fail(node, error.cause);
      }
    }
  },
};
