import { countsFor, type FusedOperator } from "./operator.js";

/** `flatMap(fn)`: every record of the iterable `fn` returns. */
export const flatMapOperator: FusedOperator<"flatMap"> = {
  placement: "fused",
  describe: () => "flatMap",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    return {
      process(value) {
        let outputs: unknown[] = [];
        try {
          const result = fn(value) as Iterable<unknown>;
          // Iterated before any output moves on, so that an iterator that throws fails this transform.
          outputs = Array.isArray(result) ? result : Array.from(result);
        } catch (error) {
          runtime.fail(node, error);
        }
        counts[id]! += outputs.length;
        for (const output of outputs) next(output);
      },
    };
  },
};
