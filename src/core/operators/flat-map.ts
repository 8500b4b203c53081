import { describeValue, SluiceError } from "../errors.js";
import { freezeRepeated, repeatsLast, unfrozen } from "../shared-records.js";
import { repeatedInSloppyMode, sloppyFileOf } from "../sloppy-mode.js";
import { countsFor, type FusedOperator } from "./operator.js";

/** `flatMap(fn)`: every record of the iterable `fn` returns. */
export const flatMapOperator: FusedOperator<"flatMap"> = {
  placement: "fused",
  describe: () => "flatMap",
  open(node, next, runtime) {
    const counts = countsFor(node, runtime);
    const { fn, id } = node;
    /** The last record the previous call emitted (shared-records.ts). */
    let last: unknown;
    /** Where a sloppy-mode function was given from (sloppy-mode.ts). */
    const sloppyFile = sloppyFileOf(fn);
    return {
      process(value) {
        let outputs: unknown[] = [];
        try {
          const result = fn(sloppyFile === undefined ? value : unfrozen(value)) as Iterable<unknown>;
          // Iterated before any output moves on, so that an iterator that throws fails this transform.
          outputs = Array.isArray(result) ? result : Array.from(iterableOf(result));
        } catch (error) {
          runtime.fail(node, error);
        }
        counts[id]! += outputs.length;
        if (sloppyFile !== undefined && repeatsLast(outputs, outputs.length, last))
          runtime.fail(node, new SluiceError(repeatedInSloppyMode("flatMap", sloppyFile)));
        last = freezeRepeated(outputs, outputs.length, last);
        for (const output of outputs) next(output);
      },
    };
  },
};

/**
 * What a flatMap's function returned, when it is iterable. `Array.from` would take a number or an
 * object for an empty array-like and yield nothing: a function that forgot to wrap its result in
 * an array would drop every record without a word. A string is iterable, but a function that
 * returns one (`line => line.trim()` where `map` was meant) wants a record, not its characters,
 * and would emit one record per character; fromArray refuses one the same way.
 */
function iterableOf(result: unknown): Iterable<unknown> {
  if (typeof result === "string")
    throw new SluiceError(
      `flatMap's function must return an iterable of records (an array, a Set, a generator), and it returned a string: to emit it as one record, return [text] (or use map); for its characters, return [...text]`,
    );
  if (typeof (result as { [Symbol.iterator]?: unknown } | null | undefined)?.[Symbol.iterator] === "function")
    return result as Iterable<unknown>;
  throw new SluiceError(
    `flatMap's function must return an iterable (an array, a Set, a generator), and it returned ${describeValue(result)}: to emit one record, return [record]`,
  );
}
