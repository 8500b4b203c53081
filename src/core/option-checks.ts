/**
 * Checks of options made when what takes them is built (a lake, a table, a source): a misspelt
 * mode, disposition or codec would otherwise fall to a default (a typo of "update" overwrote the
 * lake), a column name given as a string would be read letter by letter, and a count of 0 taken.
 */
import { didYouMean } from "./closest-name.js";
import { describeValue, SluiceError } from "./errors.js";

/**
 * `value` when it is one of `allowed`; an error naming the option and the choices otherwise.
 * `otherNames` maps names other engines give the same choices (Spark's "left_outer") to ours, for
 * the error to say which one was meant.
 */
export function oneOf<T extends string>(
  value: T | undefined,
  allowed: readonly T[],
  what: string,
  otherNames?: ReadonlyMap<string, T>,
): T | undefined {
  if (value === undefined || allowed.includes(value)) return value;
  const meant = typeof value === "string" ? otherNames?.get(value.toLowerCase()) : undefined;
  throw new SluiceError(
    `${what} must be one of ${allowed.map((choice) => `"${choice}"`).join(", ")}; got ${describeValue(value)}${meant === undefined ? "" : `: did you mean "${meant}"?`}`,
  );
}

/** Column names: an array of strings (not one string, which a loop would take letter by letter). */
export function columnNames(
  value: readonly string[] | undefined,
  what: string,
): readonly string[] | undefined {
  if (value === undefined) return value;
  if (!Array.isArray(value) || value.some((name) => typeof name !== "string"))
    throw new SluiceError(`${what} must be an array of column names, got ${describeValue(value)}`);
  return value;
}

/** A count such as rows per group: a whole number of 1 or more. */
export function positiveWhole(value: number | undefined, what: string): number | undefined {
  if (value === undefined || (Number.isInteger(value) && value >= 1)) return value;
  throw new SluiceError(`${what} must be a whole number of 1 or more, got ${describeValue(value)}`);
}

/**
 * Refuses option names outside `names` (every name an options type has, as a record so that
 * TypeScript holds it to the type): a misspelt one (`shema`, `partitionby`) would otherwise be
 * ignored without a word, reading records unchecked or writing a table unpartitioned.
 */
export function knownOptions<Options>(
  options: Options | undefined,
  names: Record<keyof Options, true>,
  what: string,
): void {
  if (typeof options !== "object" || options === null) return;
  const allowed = Object.keys(names);
  const unknown = Object.keys(options).filter((name) => !Object.hasOwn(names, name));
  if (unknown.length === 0) return;
  const named = unknown.map((name) => `'${name}'${didYouMean(name, allowed)}`);
  throw new SluiceError(
    `${what}: unknown option${unknown.length > 1 ? "s" : ""} ${named.join(", ")}; the options are ${allowed.join(", ")}`,
  );
}
