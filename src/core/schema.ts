/**
 * Schemas: declare a record's columns once, and derive from the declaration the TypeScript type
 * (`Infer<typeof songSchema>`), the validation of JSON input, and the Parquet schema of the output.
 *
 * @example
 * const song = schema({ song_id: column.utf8(), year: column.int32(), duration: column.double().optional() });
 * type Song = Infer<typeof song>; // { song_id: string; year: number; duration: number | null }
 */

/** Physical types sluice reads from JSON and writes to Parquet. */
export type ColumnType = "utf8" | "int32" | "int64" | "double" | "boolean" | "timestampMillis";

type TypeOf<Type extends ColumnType> = Type extends "utf8"
  ? string
  : Type extends "boolean"
    ? boolean
    : number;

/** A rule a value must keep beyond its type: the reason it does not, or undefined. */
export type ColumnCheck<Value> = (value: Value) => string | undefined;

export class Column<Type extends ColumnType = ColumnType, Optional extends boolean = boolean> {
  declare readonly __value: Optional extends true ? TypeOf<Type> | null : TypeOf<Type>;

  constructor(
    readonly type: Type,
    readonly isOptional: Optional,
    readonly checks: readonly ColumnCheck<TypeOf<Type>>[] = [],
  ) {}

  /** The column may be null (or absent) in the input, and is an optional Parquet column. */
  optional(): Column<Type, true> {
    return new Column(this.type, true, this.checks);
  }

  /**
   * A rule every non-null value must keep, beyond its type: a record whose value breaks it is
   * rejected with the reason the rule gives (`'ts' is -5, before 1970`).
   *
   * @example column.utf8().check((id) => (id === "" ? "an id cannot be empty" : undefined))
   */
  check(rule: ColumnCheck<TypeOf<Type>>): Column<Type, Optional> {
    return new Column(this.type, this.isOptional, [...this.checks, rule]);
  }
}

/** Column constructors. */
export const column = {
  utf8: () => new Column("utf8", false),
  int32: () => new Column("int32", false),
  int64: () => new Column("int64", false),
  double: () => new Column("double", false),
  boolean: () => new Column("boolean", false),
  /** Epoch milliseconds (UTC); a Parquet TIMESTAMP_MILLIS. */
  timestampMillis: () => new Column("timestampMillis", false),
};

export type Columns = Record<string, Column>;

/** The record type a schema declares. */
export type Infer<S> = S extends Schema<infer C> ? { [Name in keyof C]: C[Name]["__value"] } : never;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** The last instant a JavaScript Date holds, in milliseconds since 1970. */
const MAX_DATE_MILLIS = 8.64e15;

/**
 * A short description of a JSON value for a reason. Arrays and objects are not written out: one
 * may be nested deeper than `JSON.stringify` can follow, and the rejected record keeps the text.
 */
function describeJson(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "an object";
  if (typeof value === "string" && !value.isWellFormed()) return "a string with a lone surrogate";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Why `value` does not fit a column of `type`, or undefined when it does. */
function typeProblem(type: ColumnType, value: unknown): string | undefined {
  switch (type) {
    case "utf8":
      if (typeof value !== "string") return "expected a string";
      // A lone surrogate cannot be written as UTF-8: it would become U+FFFD and merge distinct keys.
      return value.isWellFormed() ? undefined : "expected valid Unicode text";
    case "boolean":
      return typeof value === "boolean" ? undefined : "expected true or false";
    case "double":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "expected a number";
    case "int32":
      return Number.isInteger(value) && (value as number) >= INT32_MIN && (value as number) <= INT32_MAX
        ? undefined
        : "expected a 32-bit integer";
    case "int64":
      return Number.isSafeInteger(value) ? undefined : "expected an integer";
    case "timestampMillis":
      if (!Number.isSafeInteger(value)) return "expected epoch milliseconds (an integer)";
      return (value as number) >= 0 && (value as number) <= MAX_DATE_MILLIS
        ? undefined
        : "expected epoch milliseconds from 1970 to 275760 (what the Parquet writer holds)";
  }
}

function checkProblem(declared: Column, value: unknown): string | undefined {
  for (const check of declared.checks) {
    let problem: string | undefined;
    try {
      problem = (check as ColumnCheck<unknown>)(value);
    } catch (error) {
      // A rule that throws rejects the record it could not judge, rather than failing the run.
      problem = `its check failed (${error instanceof Error ? error.message : String(error)})`;
    }
    if (problem) return problem;
  }
  return undefined;
}

export class Schema<C extends Columns = Columns> {
  /** The columns as pairs, made once: `problem` runs for every record read. */
  private readonly declared: readonly [string, Column][];

  constructor(readonly columns: C) {
    this.declared = Object.entries(columns);
  }

  get names(): string[] {
    return Object.keys(this.columns);
  }

  /**
   * Why `value` does not fit the schema (`'ts' is "yesterday", expected epoch milliseconds`), or
   * undefined. Members the schema does not declare are allowed and left alone.
   */
  problem(value: unknown): string | undefined {
    const parsed = this.parse(value);
    return "problem" in parsed ? parsed.problem : undefined;
  }

  /**
   * The record a JSON value makes: every declared member, an absent one as null (absent is null,
   * so that `Infer<typeof schema>` holds at run time), members nobody declared left out; or why
   * it does not fit. A member present with the wrong JSON type, or breaking a column's check,
   * gives the problem, naming the member.
   */
  parse(value: unknown): { readonly record: Infer<Schema<C>> } | { readonly problem: string } {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return { problem: `expected a JSON object, got ${describeJson(value)}` };
    }
    const input = value as Record<string, unknown>;
    const record: Record<string, unknown> = {};
    for (const [name, declared] of this.declared) {
      const member = input[name];
      if (member === null || member === undefined) {
        if (!declared.isOptional)
          return { problem: `'${name}' is ${member === null ? "null" : "missing"}, a value is required` };
        record[name] = null;
        continue;
      }
      const problem = typeProblem(declared.type, member) ?? checkProblem(declared, member);
      if (problem) return { problem: `'${name}' is ${describeJson(member)}, ${problem}` };
      record[name] = member;
    }
    return { record: record as Infer<Schema<C>> };
  }

  /** The schema without some columns (for example the partition columns, which live in folder names). */
  omit(names: readonly string[]): Schema {
    const kept: Columns = { ...this.columns };
    for (const name of names) delete kept[name];
    return new Schema(kept);
  }
}

/** Declares a schema. */
export function schema<C extends Columns>(columns: C): Schema<C> {
  return new Schema(columns);
}
