import { freezeIfLast } from "../shared-records.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `map(fn)`: one record out for each record in. */
export const mapOperator: FusedOperator<"map"> = {
  placement: "fused",
  describe: () => "map",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    /** The record the previous call returned (shared-records.ts). */
    let last: unknown;
    return {
      process(value) {
        let output: unknown;
        try {
          output = fn(value);
        } catch (error) {
          runtime.fail(node, error);
        }
        counts[id]!++;
        freezeIfLast(output, last);
        last = output;
        next(output);
      },
    };
  },
};
