import { SluiceError } from "../errors.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `filter(fn)`: the records for which `fn` is truthy. */
export const filterOperator: FusedOperator<"filter"> = {
  placement: "fused",
  describe: () => "filter",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    return {
      process(value) {
        let keep: unknown;
        try {
          keep = fn(value);
        } catch (error) {
          runtime.fail(node, error);
        }
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
