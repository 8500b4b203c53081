import { closestName } from "../closest-name.js";
import { SluiceError } from "../errors.js";
import { freezeRepeated, repeatsLast, unfrozen } from "../shared-records.js";
import { repeatedInSloppyMode, sloppyFileOf } from "../sloppy-mode.js";
import { countsFor, type FusedOperator, passThrough, type Receiver } from "./operator.js";

/**
 * `withOutputs(tags, fn)`: one call of `fn` per record, with an emitter per tag; each record
 * emitted goes to its tag's consumers alone. What `fn` emits is held until it returns, so that a
 * function that throws part-way fails this transform with nothing of the record passed on (as a
 * flatMap's outputs), and a consumer that throws fails as itself, not as this transform.
 */
export const withOutputsOperator: FusedOperator<"withOutputs"> = {
  placement: "fused",
  describe: (node) => `withOutputs(${node.tags.join(", ")})`,
  open(node, _next, runtime, routes) {
    const counts = countsFor(node, runtime);
    const { fn, id, tags } = node;
    const receivers: Receiver[] = tags.map(routes);
    // One record's emitted values and their tags' indexes: reused from record to record.
    const values: unknown[] = [];
    const tagIndexes: number[] = [];
    let emitted = 0;
    /** The last record the previous call emitted (shared-records.ts). */
    let last: unknown;
    /** Where a sloppy-mode function was given from (sloppy-mode.ts). */
    const sloppyFile = sloppyFileOf(fn);
    // Own properties whatever the names: assigned, a tag "__proto__" would set the prototype.
    const emit = Object.fromEntries(
      tags.map((tag, index) => [
        tag,
        (output: unknown) => {
          values[emitted] = output;
          tagIndexes[emitted] = index;
          emitted++;
        },
      ]),
    );
    return {
      process(value) {
        emitted = 0;
        try {
          fn(sloppyFile === undefined ? value : unfrozen(value), emit);
        } catch (error) {
          release(values, emitted);
          runtime.fail(node, explained(error, tags));
        }
        const count = emitted;
        counts[id]! += count;
        if (sloppyFile !== undefined && repeatsLast(values, count, last)) {
          release(values, count);
          runtime.fail(node, new SluiceError(repeatedInSloppyMode("withOutputs", sloppyFile)));
        }
        last = freezeRepeated(values, count, last);
        for (let index = 0; index < count; index++) {
          const output = values[index];
          values[index] = undefined; // not kept alive until a later record overwrites it
          receivers[tagIndexes[index]!]!(output);
        }
      },
    };
  },
};

/**
 * A function that emitted to a tag it was not given fails with V8's "out.c is not a function":
 * the error then lists the tags, and the one likely meant. Worded as a fact about this transform,
 * since the call that failed may have been on another object of the function's. Only on the
 * failure path.
 */
function explained(error: unknown, tags: readonly string[]): unknown {
  if (!(error instanceof TypeError)) return error;
  const called = /\.([^.\s]+) is not a function$/.exec(error.message)?.[1];
  if (called === undefined || tags.includes(called)) return error;
  const meant = closestName(called, tags);
  return new SluiceError(
    `${error.message} (its emitters are ${tags.map((tag) => `'${tag}'`).join(", ")} only${meant === undefined ? "" : `: did you mean '${meant}'?`})`,
    { cause: error },
  );
}

function release(values: unknown[], count: number): void {
  for (let index = 0; index < count; index++) values[index] = undefined;
}

/** The records of one tag of a `withOutputs`: passed on as they come. */
export const taggedOperator: FusedOperator<"tagged"> = {
  placement: "fused",
  describe: (node) => `tagged '${node.tag}'`,
  open: (node, next, runtime) => passThrough(node, next, runtime),
};
