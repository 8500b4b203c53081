import { freezeShared } from "../shared-records.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `map(fn)`: one record out for each record in. */
export const mapOperator: FusedOperator<"map"> = {
  placement: "fused",
  describe: () => "map",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    let previous: unknown;
    return {
      process(value) {
        let output: unknown;
        try {
          output = fn(value);
        } catch (error) {
          runtime.fail(node, error);
        }
        counts[id]!++;
        // One object returned for two records in a row (a constant kept outside the function, one
        // object reused for each record) is two records sharing it: frozen before it moves on again.
        if (output === previous && typeof output === "object" && output !== null) freezeShared(output);
        previous = output;
        next(output);
      },
    };
  },
};
