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
          counts[id]!++;
          next(value);
        }
      },
    };
  },
};
