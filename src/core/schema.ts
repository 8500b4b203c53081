/**
 * Schemas: declare a record's columns once, and derive from the declaration the TypeScript type
 * (`Infer<typeof songSchema>`), the validation of JSON input, and the Parquet schema of the output.
 *
 * @example
 * const song = schema({ song_id: column.utf8(), year: column.int32(), duration: column.double().optional() });
 * type Song = Infer<typeof song>; // { song_id: string; year: number; duration: number | null }
 */
import { describeValue, SluiceError } from "./errors.js";

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

/**
 * JSON numbers past 2^53 are parsed to the nearest number a double holds, which is no longer the
 * integer written: such a value is refused saying so, not as if it were no integer at all.
 */
function integerProblem(value: unknown, expected: string): string {
  return Number.isInteger(value)
    ? `expected ${expected} of at most 2^53 in magnitude, which JSON numbers hold exactly`
    : `expected ${expected}`;
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
      return Number.isSafeInteger(value) ? undefined : integerProblem(value, "an integer");
    case "timestampMillis":
      if (!Number.isSafeInteger(value)) return integerProblem(value, "epoch milliseconds (an integer)");
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

/**
 * A member of a JSON object: its own, never one it inherits. A log line without `toString` or
 * `constructor` lacks that member (null where optional), rather than holding Object's function.
 */
function memberOf(input: Record<string, unknown>, name: string): unknown {
  return name in Object.prototype && !Object.hasOwn(input, name) ? undefined : input[name];
}

/** Sets a member of a record; `__proto__` too, which an assignment would take for the prototype. */
function setMember(record: Record<string, unknown>, name: string, value: unknown): void {
  if (name === "__proto__")
    Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
  else record[name] = value;
}

/** Whether a present, non-null value fits a column's type: `typeProblem` without the reason. */
const TYPE_TESTS: Record<ColumnType, (v: string) => string> = {
  utf8: (v) => `typeof ${v} === "string" && ${v}.isWellFormed()`,
  boolean: (v) => `typeof ${v} === "boolean"`,
  double: (v) => `typeof ${v} === "number" && Number.isFinite(${v})`,
  int32: (v) => `Number.isInteger(${v}) && ${v} >= ${INT32_MIN} && ${v} <= ${INT32_MAX}`,
  int64: (v) => `Number.isSafeInteger(${v})`,
  timestampMillis: (v) => `Number.isSafeInteger(${v}) && ${v} >= 0 && ${v} <= ${MAX_DATE_MILLIS}`,
};

/** Whether every check passes; a check that throws does not. */
function passesChecks(checks: readonly ColumnCheck<unknown>[], value: unknown): boolean {
  try {
    for (const check of checks) if (check(value) !== undefined) return false;
    return true;
  } catch {
    return false;
  }
}

/** A record built from a fitting JSON object, or undefined where any member does not fit. */
type RecordBuilder = (input: Record<string, unknown>) => Record<string, unknown> | undefined;

/**
 * Compiles the schema into one function that tests every member and builds the record as an
 * object literal, as ajv compiles JSON schemas: every record then has the same hidden class, in
 * the declared order, and the tests are inlined instead of looked up per member. Records are
 * read by the million, and a record built member by member cost as much as its `JSON.parse`.
 * Where a member does not fit, the builder gives up and `parse` finds the reason the slow way.
 */
function compileRecordBuilder(declared: readonly [string, Column][]): RecordBuilder {
  const lines: string[] = [];
  const members: string[] = [];
  declared.forEach(([name, column], index) => {
    const value = `v${index}`;
    const test = TYPE_TESTS[column.type](value);
    const checks = column.checks.length > 0 ? ` && passesChecks(checks[${index}], ${value})` : "";
    const key = JSON.stringify(name);
    // memberOf's rule; a plain load for the names no object inherits, which is every other name.
    lines.push(
      name in Object.prototype ? `let ${value} = memberOf(input, ${key});` : `let ${value} = input[${key}];`,
    );
    lines.push(
      column.isOptional
        ? `if (${value} === undefined || ${value} === null) ${value} = null; else if (!(${test}${checks})) return undefined;`
        : `if (${value} === undefined || ${value} === null || !(${test}${checks})) return undefined;`,
    );
    // A literal's "__proto__": value would set the prototype; a computed key defines a member.
    members.push(name === "__proto__" ? `["__proto__"]: ${value}` : `${JSON.stringify(name)}: ${value}`);
  });
  lines.push(`return { ${members.join(", ")} };`);
  const body = `return (input) => {\n${lines.join("\n")}\n};`;
  const checks = declared.map(([, column]) => column.checks);
  return new Function("passesChecks", "memberOf", "checks", body)(
    passesChecks,
    memberOf,
    checks,
  ) as RecordBuilder;
}

export class Schema<C extends Columns = Columns> {
  /** The columns as pairs, made once: `problem` runs for every record read. */
  private readonly declared: readonly [string, Column][];
  /** Made on first use: most schemas declare Parquet output and never read JSON. */
  private builder: RecordBuilder | undefined;

  constructor(readonly columns: C) {
    if (typeof columns !== "object" || columns === null || Array.isArray(columns))
      throw new SluiceError(
        `a schema takes an object of columns, { name: column.utf8() }, got ${describeValue(columns)}`,
      );
    this.declared = Object.entries(columns);
    for (const [name, column] of this.declared) {
      if (!(column instanceof Column))
        throw new SluiceError(
          `schema column '${name}' is ${describeValue(column)}, not a column: declare it with column.utf8(), column.int32(), column.timestampMillis() and the like`,
        );
    }
  }

  /**
   * The record a JSON value makes, or undefined where it does not fit the schema (`parse` then
   * says why). What readers call per record: no result object around the record.
   */
  recordOf(value: unknown): Infer<Schema<C>> | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    this.builder ??= compileRecordBuilder(this.declared);
    return this.builder(value as Record<string, unknown>) as Infer<Schema<C>> | undefined;
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
    const record = this.recordOf(value);
    return record ? { record } : this.interpret(value);
  }

  /** `parse` member by member: the reference the compiled builder agrees with, and the reasons. */
  private interpret(value: unknown): { readonly record: Infer<Schema<C>> } | { readonly problem: string } {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return { problem: `expected a JSON object, got ${describeJson(value)}` };
    }
    const input = value as Record<string, unknown>;
    const record: Record<string, unknown> = {};
    for (const [name, declared] of this.declared) {
      const member = memberOf(input, name);
      if (member === null || member === undefined) {
        if (!declared.isOptional)
          return { problem: `'${name}' is ${member === null ? "null" : "missing"}, a value is required` };
        setMember(record, name, null);
        continue;
      }
      const problem = typeProblem(declared.type, member) ?? checkProblem(declared, member);
      if (problem) return { problem: `'${name}' is ${describeJson(member)}, ${problem}` };
      setMember(record, name, member);
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
