import { compareValues } from "../keys.js";
import { countsFor, type FusedOperator } from "./operator.js";

/**
 * `sortWithinPartitions(by)`: holds a task's records and, once its input has ended, passes them on
 * ordered by `by` (ties in the records' own order), so that each file a sink writes is sorted.
 */
export const sortOperator: FusedOperator<"sort"> = {
  placement: "fused",
  describe: () => "sort within each task (blocking: holds the task's records)",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { by, id } = node;
    let held: unknown[] = [];
    return {
      process(value) {
        held.push(value);
      },
      finish() {
        const records = held;
        held = [];
        let ranks: unknown[] = [];
        try {
          ranks = records.map((record) => by(record));
        } catch (error) {
          runtime.fail(node, error);
        }
        const order = Array.from({ length: records.length }, (_, index) => index);
        const tie = (a: number, b: number) => compareValues(records[a], records[b]);
        if (ranks.every((rank) => typeof rank === "number" && Number.isFinite(rank))) {
          // Numbers (a time, an id) sort as numbers, without the general order's type checks.
          const numeric = Float64Array.from(ranks as number[]);
          order.sort((a, b) => numeric[a]! - numeric[b]! || tie(a, b));
        } else {
          order.sort((a, b) => compareValues(ranks[a], ranks[b]) || tie(a, b));
        }
        counts[id]! += records.length;
        for (const index of order) next(records[index]);
      },
    };
  },
};
