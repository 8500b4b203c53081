import { SluiceError } from "../errors.js";
import { freezeIfLast, isLast, unfrozen } from "../shared-records.js";
import { repeatedInSloppyMode, sloppyFileOf } from "../sloppy-mode.js";
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
    /** Where a sloppy-mode function was given from (sloppy-mode.ts). */
    const sloppyFile = sloppyFileOf(fn);
    return {
      process(value) {
        let output: unknown;
        try {
          output = fn(sloppyFile === undefined ? value : unfrozen(value));
        } catch (error) {
          runtime.fail(node, error);
        }
        counts[id]!++;
        if (sloppyFile !== undefined && isLast(output, last))
          runtime.fail(node, new SluiceError(repeatedInSloppyMode("map", sloppyFile)));
        freezeIfLast(output, last);
        last = output;
        next(output);
      },
    };
  },
};
