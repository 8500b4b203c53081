import { describeValue, SluiceError } from "./errors.js";
import { unfrozen } from "./shared-records.js";
import { addExactly, type ExactSum, mergeExactly, roundedSum } from "./exact-sum.js";
import { compareValues } from "./keys.js";

/**
 * How to fold the values of one key into one result, in pieces: each map task folds its own
 * values (`create` + `add`), the shuffle moves the accumulators, and the reduce side `merge`s them.
 * The result must not depend on how the values were split, so `add` and `merge` must be
 * associative and commutative up to `extract`. Accumulators cross threads as JSON.
 *
 * @example
 * const longest: Combiner<string, string, number> = {
 *   name: "longest", create: () => "", add: (a, v) => (v.length > a.length ? v : a),
 *   merge: (a, b) => (b.length > a.length ? b : a), extract: (a) => a.length };
 */
export interface Combiner<Value, Accumulator, Output> {
  readonly name: string;
  create(): Accumulator;
  add(accumulator: Accumulator, value: Value): Accumulator;
  merge(left: Accumulator, right: Accumulator): Accumulator;
  extract(accumulator: Accumulator): Output;
}

/** Number of values per key. */
export function count<Value = unknown>(): Combiner<Value, number, number> {
  return {
    name: "count",
    create: () => 0,
    add: (accumulator) => accumulator + 1,
    merge: (left, right) => left + right,
    extract: (accumulator) => accumulator,
  };
}

/**
 * A value of a numeric combiner, which must be a number: `"1" + 2` would concatenate and `null`
 * would count as 0, a wrong answer with no error. Nulls are refused rather than skipped, as a
 * Beam `Sum` refuses them: filtering them out first says what the result means.
 */
function numberFor(combiner: string, value: unknown): number {
  if (typeof value === "number") return value;
  throw new SluiceError(
    `${combiner}() takes numbers, and a value is ${describeValue(value)}: convert the values first (Number(value)), or filter out the ones that are not numbers`,
  );
}

/**
 * A value of `sum` or `mean`, which add it exactly: a finite number (NaN or an infinity could not
 * cross between threads in an accumulator either, and would make the sum meaningless).
 */
function finiteFor(combiner: string, value: unknown): number {
  const number = numberFor(combiner, value);
  if (Number.isFinite(number)) return number;
  throw new SluiceError(
    `${combiner}() takes finite numbers, and a value is ${number}: filter out or replace the values that are not (Number.isFinite)`,
  );
}

/**
 * Sum of numeric values per key: the exact sum rounded once (exact-sum.ts), so the same to the
 * last bit whatever the threads, partitions and order of the values.
 */
export function sum(): Combiner<number, ExactSum, number> {
  return {
    name: "sum",
    create: () => 0,
    add: (exact, value) => addExactly(exact, finiteFor("sum", value), "sum"),
    merge: (left, right) => mergeExactly(left, right, "sum"),
    extract: (exact) => roundedSum(exact),
  };
}

/** Smallest numeric value per key (null for a key with no values, which cannot occur after a group). */
export function min(): Combiner<number, number | null, number | null> {
  return {
    name: "min",
    create: () => null,
    add: (accumulator, value) => {
      const number = numberFor("min", value);
      return accumulator === null || number < accumulator ? number : accumulator;
    },
    merge: (left, right) => (left === null ? right : right === null ? left : Math.min(left, right)),
    extract: (accumulator) => accumulator,
  };
}

/** Largest numeric value per key. */
export function max(): Combiner<number, number | null, number | null> {
  return {
    name: "max",
    create: () => null,
    add: (accumulator, value) => {
      const number = numberFor("max", value);
      return accumulator === null || number > accumulator ? number : accumulator;
    },
    merge: (left, right) => (left === null ? right : right === null ? left : Math.max(left, right)),
    extract: (accumulator) => accumulator,
  };
}

/** Arithmetic mean per key; null for no values (an empty collection's `combineGlobally`), as SQL's AVG. */
export function mean(): Combiner<number, { sum: ExactSum; count: number }, number | null> {
  return {
    name: "mean",
    create: () => ({ sum: 0, count: 0 }),
    add: (accumulator, value) => {
      accumulator.sum = addExactly(accumulator.sum, finiteFor("mean", value), "mean");
      accumulator.count++;
      return accumulator;
    },
    merge: (left, right) => {
      left.sum = mergeExactly(left.sum, right.sum, "mean");
      left.count += right.count;
      return left;
    },
    extract: (accumulator) =>
      accumulator.count === 0 ? null : roundedSum(accumulator.sum) / accumulator.count,
  };
}

/**
 * A record's rank for max-by / min-by: a field name, or a function returning a value or a tuple
 * compared element by element (for example `(event) => [event.ts, event.sessionId]`).
 */
export type RankBy<Value> = keyof Value | ((value: Value) => unknown);

/** A rank-by as a function of the record. */
export function rankOf<Value>(rankBy: RankBy<Value>): (value: Value) => unknown {
  return typeof rankBy === "function" ? rankBy : (value: Value) => value[rankBy];
}

function extremeBy<Value>(
  rankBy: RankBy<Value>,
  direction: 1 | -1,
  name: string,
): Combiner<Value, Value | null, Value> {
  const rank = rankOf(rankBy);
  // Full ties fall back to the whole record's order, so the winner never depends on arrival order.
  const better = (candidate: Value, incumbent: Value): boolean => {
    const order = compareValues(rank(candidate), rank(incumbent)) || compareValues(candidate, incumbent);
    return order * direction > 0;
  };
  return {
    name,
    create: () => null,
    add: (accumulator, value) => (accumulator === null || better(value, accumulator) ? value : accumulator),
    merge: (left, right) =>
      left === null ? right : right === null ? left : better(right, left) ? right : left,
    extract: (accumulator) => accumulator as Value,
  };
}

/** The record with the largest rank per key, for example the latest event of each user. */
export function maxBy<Value>(rankBy: RankBy<Value>): Combiner<Value, Value | null, Value> {
  return extremeBy(rankBy, 1, "maxBy");
}

/** The record with the smallest rank per key. */
export function minBy<Value>(rankBy: RankBy<Value>): Combiner<Value, Value | null, Value> {
  return extremeBy(rankBy, -1, "minBy");
}

function extremesBy<Value>(
  n: number,
  rankBy: RankBy<Value> | undefined,
  direction: 1 | -1,
  name: string,
): Combiner<Value, Value[], Value[]> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name}: n must be a positive integer, got ${n}`);
  const rank = rankBy === undefined ? (value: Value) => value : rankOf(rankBy);
  // Best first; full ties fall back to the whole record's order, as maxBy's do.
  const order = (a: Value, b: Value) => (compareValues(rank(b), rank(a)) || compareValues(b, a)) * direction;
  const keep = (values: Value[]) => (values.length > n ? values.sort(order).slice(0, n) : values);
  return {
    name: `${name}(${n})`,
    create: () => [],
    // Kept unsorted up to n, cut back to n past 2n: an add costs little, and the result is the same.
    add: (kept, value) => {
      kept.push(value);
      return kept.length >= 2 * n ? keep(kept) : kept;
    },
    merge: (left, right) => keep([...left, ...right]),
    extract: (kept) => keep(kept).sort(order),
  };
}

/**
 * The `n` records of largest rank, largest first (Beam's `Top.largest`): by the records
 * themselves, or by a field or function as for `maxBy`. Ties fall back to the records' order.
 */
export function largest<Value>(n: number, rankBy?: RankBy<Value>): Combiner<Value, Value[], Value[]> {
  return extremesBy(n, rankBy, 1, "largest");
}

/** The `n` records of smallest rank, smallest first (Beam's `Top.smallest`). */
export function smallest<Value>(n: number, rankBy?: RankBy<Value>): Combiner<Value, Value[], Value[]> {
  return extremesBy(n, rankBy, -1, "smallest");
}

/** Namespace of the built-in combiners: `Combiners.sum()`, `Combiners.maxBy("ts")`, ... */
export const Combiners = { count, sum, min, max, mean, maxBy, minBy, largest, smallest };

/**
 * A combine's values folded by a function of two values, as Spark's `reduceByKey` and Beam's
 * `CombinePerKey` of a function take it: it must be associative and commutative. The accumulator
 * is `[]` or `[value]`, so that no value (null included) stands for "none yet"; a combine over no
 * values gives null, as SQL's aggregates do.
 */
export function folding<Value>(fold: (left: Value, right: Value) => Value): Combiner<Value, Value[], Value> {
  // A fold that returns nothing (a body in braces without `return`) is told at its first call,
  // not as an undefined accumulator where it next crosses a shuffle, or as an undefined output.
  const folded = (left: Value, right: Value): Value[] => {
    const value = fold(left, right);
    if (value === undefined)
      throw new SluiceError(
        "the function that folds two values into one returned undefined: it must return their combination (an arrow function's body in braces needs `return`)",
      );
    return [value];
  };
  return {
    name: fold.name || "fold",
    create: () => [],
    // A value frozen because another transform reads it (shared-records.ts) is copied, so that a
    // fold that changes its left value and returns it, (a, b) => { a.n += b.n; return a; }, keeps
    // a combination of its own, as it would over values nobody else reads.
    add: (accumulator, value) =>
      accumulator.length === 0
        ? [unfrozen(value) as Value]
        : folded(accumulator[0] as Value, unfrozen(value) as Value),
    merge: (left, right) =>
      left.length === 0 ? right : right.length === 0 ? left : folded(left[0] as Value, right[0] as Value),
    extract: (accumulator) => (accumulator.length === 0 ? null : accumulator[0]) as Value,
  };
}

/**
 * A value type without its literal types: `[word, 1] as const` makes values of type `1`, and a
 * fold of them (`(a, b) => a + b`) gives numbers.
 */
export type Widened<Value> = Value extends number
  ? number
  : Value extends string
    ? string
    : Value extends boolean
      ? boolean
      : Value;

/** What the combines take: a combiner, or a function that folds two values into one. */
export type CombinerOrFold<Value, Accumulator, Output> =
  | Combiner<Value, Accumulator, Output>
  | ((left: Widened<Value>, right: Widened<Value>) => Widened<Value>);

const FACTORY_NAMES = new Map<unknown, string>(
  Object.entries(Combiners).map(([name, factory]) => [factory, name]),
);

const COMBINER_METHODS = ["create", "add", "merge", "extract"] as const;

/**
 * The combiner a combine was given, checked when the pipeline is built: a combiner missing
 * `merge` works until two tasks hold values of one key, and `sum` passed uncalled folds values
 * into combiner objects.
 */
export function combinerFrom(given: unknown, where: string): Combiner<unknown, unknown, unknown> {
  if (typeof given === "function") {
    const factory = FACTORY_NAMES.get(given);
    if (factory !== undefined)
      throw new SluiceError(
        `${where} takes a combiner, and was given ${factory} itself: call it, ${factory}()`,
      );
    if (given.length !== 2)
      throw new SluiceError(
        `${where} takes a combiner (sum(), count(), maxBy(...)) or a function that folds two values into one, (left, right) => value; it was given a function of ${given.length} parameter${given.length === 1 ? "" : "s"}: if it makes a combiner, call it`,
      );
    return folding(given as (left: unknown, right: unknown) => unknown);
  }
  if (typeof given !== "object" || given === null)
    throw new SluiceError(
      `${where} takes a combiner (sum(), count(), maxBy(...)) or a function that folds two values into one, and was given ${describeValue(given)}`,
    );
  const missing = COMBINER_METHODS.filter(
    (method) => typeof (given as Record<string, unknown>)[method] !== "function",
  );
  if (missing.length > 0)
    throw new SluiceError(
      `${where} takes a combiner with create, add, merge and extract functions, and the one given has no ${missing.join(" and no ")}${missing.includes("merge") ? " (merge folds the accumulators two tasks made for one key: any combine may need it)" : ""}`,
    );
  const combiner = given as Combiner<unknown, unknown, unknown>;
  // A name for one that has none, without touching the caller's object: its methods (a class's
  // use `this`) are reached through the prototype.
  return typeof combiner.name === "string" && combiner.name !== ""
    ? combiner
    : Object.create(combiner, { name: { value: "combiner" } });
}
