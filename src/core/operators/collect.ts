import { encodeCrossing } from "../blocks.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `collect()`: the records, handed back to the caller of `run` once the job has succeeded. */
export const collectOperator: FusedOperator<"collect"> = {
  placement: "output",
  describe: () => "collect",
  open(node, _next, runtime) {
    const counts = countsFor(node, runtime);
    const { id, name } = node;
    const records: unknown[] = [];
    return {
      process(value) {
        counts[id]!++;
        runtime.metrics.recordsOut++;
        records.push(value);
      },
      async close() {
        return {
          collected: [{ nodeId: id, block: encodeCrossing(records, `the records collected from '${name}'`) }],
        };
      },
    };
  },
};
