import { RecordFunctionError } from "../errors.js";
import { canonicalJson } from "../keys.js";
import type { SourceBatch, SourceReadContext } from "../interfaces.js";
import type { RootOperator } from "./operator.js";

/** A source (JSON lines, JSON documents, Parquet, an array): a stage's root, read split by split. */
export const sourceOperator: RootOperator<"source"> = {
  placement: "root",
  reads: "splits",
  describe: (node) => `read ${node.source.description}`,
  async read(node, input, runtime, next, drain) {
    if (input.kind !== "splits") throw new Error(`'${node.name}' reads source splits, not ${input.kind}`);
    const { source, name } = node;
    const metrics = runtime.metrics;
    const readContext: SourceReadContext = {
      batchSize: runtime.batchSize,
      reject: (record) => runtime.reject(record),
      addBytesRead(bytes) {
        metrics.bytesRead += bytes;
      },
      addRecordsSeen(count) {
        metrics.recordsSeen += count;
      },
    };
    for (const split of input.splits) {
      const splitName = source.describeSplit?.(split) ?? `${name} split ${canonicalJson(split)}`;
      let batch: SourceBatch<unknown> | undefined;
      let index = 0;
      runtime.setOrigin(() => batch?.origin?.(index) ?? `${splitName} record ${index + 1}`);
      try {
        for await (batch of source.read(split, readContext)) {
          const records = batch.records;
          metrics.recordsIn += records.length;
          for (index = 0; index < records.length; index++) next(records[index]);
          await drain();
        }
      } catch (error) {
        throw error instanceof RecordFunctionError ? error.asTransformError(name) : error;
      }
    }
  },
};
