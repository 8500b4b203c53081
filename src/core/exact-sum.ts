/**
 * Sums of doubles that do not depend on how the values were split. `a + b` rounds at every step,
 * so a sum's last bits depend on the order of its additions, and a combine adds in the order its
 * tasks and merges happen to run: one thread and two gave sums apart in their last digits. Here
 * an accumulator is the exact sum: a number while no addition rounded, then a list of
 * non-overlapping doubles ("partials", Shewchuk's adaptive-precision addition, as Python's
 * math.fsum keeps it); adding and merging are exact, and the result is the exact sum rounded once,
 * to the nearest double. The list stays short (one to three partials for everyday data), and
 * crosses threads as the JSON array it is.
 */
import { SluiceError } from "./errors.js";

/**
 * The exact sum of the values added so far: a number while every addition was exact (sums of
 * whole numbers, nearly always), else partials of increasing magnitude.
 */
export type ExactSum = number | number[];

/**
 * Adds `value` to a sum exactly and returns the sum; partials are changed in place. `what` names
 * the combiner in the error for a sum that passes the largest double.
 */
export function addExactly(sum: ExactSum, value: number, what: string): ExactSum {
  if (typeof sum !== "number") return addToPartials(sum, value, what);
  const high = sum + value;
  if (!Number.isFinite(high)) throw overflow(what);
  // What rounding `high` lost, whatever the magnitudes (Knuth's two-sum): none keeps a number.
  const virtual = high - sum;
  const low = sum - (high - virtual) + (value - virtual);
  return low === 0 ? high : [low, high];
}

function addToPartials(partials: number[], value: number, what: string): number[] {
  let x = value;
  let kept = 0;
  const count = partials.length;
  for (let index = 0; index < count; index++) {
    let y = partials[index]!;
    if (Math.abs(x) < Math.abs(y)) {
      const larger = y;
      y = x;
      x = larger;
    }
    const high = x + y;
    const low = y - (high - x);
    if (low !== 0) partials[kept++] = low;
    x = high;
  }
  if (!Number.isFinite(x)) throw overflow(what);
  // Most adds keep as many partials as there were: written in place, the array is not resized
  // (setting an array's length is a call into V8's runtime, most of an add's time).
  if (kept === count) partials.push(x);
  else {
    partials[kept] = x;
    if (kept + 1 < count) partials.length = kept + 1;
  }
  return partials;
}

/** The exact sum of both; `left`'s partials are changed in place, `right`'s are not. */
export function mergeExactly(left: ExactSum, right: ExactSum, what: string): ExactSum {
  if (typeof right === "number") return addExactly(left, right, what);
  let sum = typeof left === "number" ? [left] : left;
  for (const partial of right) sum = addToPartials(sum, partial, what);
  return sum;
}

/** The exact sum rounded to the nearest double, halfway cases to even (as math.fsum rounds). */
export function roundedSum(sum: ExactSum): number {
  if (typeof sum === "number") return sum;
  const partials = sum;
  let index = partials.length;
  if (index === 0) return 0;
  let high = partials[--index]!;
  let low = 0;
  while (index > 0) {
    const x = high;
    const y = partials[--index]!;
    high = x + y;
    low = y - (high - x);
    if (low !== 0) break;
  }
  // `high` rounded `low` away; when the partials below point the same way, the exact sum lies
  // past the halfway point that rounding took for a tie, and the rounding goes the other way.
  if (index > 0 && ((low < 0 && partials[index - 1]! < 0) || (low > 0 && partials[index - 1]! > 0))) {
    const doubled = low * 2;
    const moved = high + doubled;
    if (doubled === moved - high) high = moved;
  }
  return high;
}

function overflow(what: string): SluiceError {
  return new SluiceError(
    `${what}() passed the largest number a double holds (about 1.8e308) adding the values of one key: scale the values down first`,
  );
}
