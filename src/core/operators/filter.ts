import { SluiceError } from "../errors.js";
import { unfrozen } from "../shared-records.js";
import { sloppyFileOf } from "../sloppy-mode.js";
import { countsFor, type FusedOperator } from "./operator.js";

const UNDEFINED_VERDICT =
  "filter's predicate returned undefined: it returns true to keep a record and false to drop it (a body in braces needs a return: (x) => { return x > 1; }); to test a member that may be absent, compare it: (r) => r.tags !== undefined";

/** `filter(fn)`: the records for which `fn` is truthy; undefined is refused (a missing `return`). */
export const filterOperator: FusedOperator<"filter"> = {
  placement: "fused",
  describe: () => "filter",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    /** Where a sloppy-mode function was given from (sloppy-mode.ts): it gets, and passes on, a copy. */
    const sloppy = sloppyFileOf(fn) !== undefined;
    return {
      process(given) {
        const value = sloppy ? unfrozen(given) : given;
        let keep: unknown;
        try {
          keep = fn(value);
        } catch (error) {
          runtime.fail(node, error);
        }
        // A body in braces without `return` gives undefined for every record: every record would
        // be dropped, and the run would end with nothing and no word of why.
        if (keep === undefined) runtime.fail(node, new SluiceError(UNDEFINED_VERDICT));
        if (keep) {
          // A Promise is truthy: a predicate that returns one would keep every record.
          if (typeof keep === "object" && typeof (keep as { then?: unknown }).then === "function")
            runtime.fail(
              node,
              new SluiceError(
                "filter's predicate returned a Promise, which would keep every record: a predicate returns true or false for each record as it is called",
              ),
            );
          counts[id]!++;
          next(value);
        }
      },
    };
  },
};
