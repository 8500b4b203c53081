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

export class Column<Type extends ColumnType = ColumnType, Optional extends boolean = boolean> {
  declare readonly __value: Optional extends true ? TypeOf<Type> | null : TypeOf<Type>;

  constructor(
    readonly type: Type,
    readonly isOptional: Optional,
  ) {}

  /** The column may be null (or missing) in the input, and is an optional Parquet column. */
  optional(): Column<Type, true> {
    return new Column(this.type, true);
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

function describeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Why `value` does not fit a column of `type`, or undefined when it does. */
function typeProblem(type: ColumnType, value: unknown): string | undefined {
  switch (type) {
    case "utf8":
      return typeof value === "string" ? undefined : "expected a string";
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
      return Number.isSafeInteger(value) ? undefined : "expected epoch milliseconds (an integer)";
  }
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
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return `expected a JSON object, got ${describeJson(value)}`;
    }
    const record = value as Record<string, unknown>;
    for (const [name, declared] of this.declared) {
      const member = record[name];
      if (member === null || member === undefined) {
        if (!declared.isOptional)
          return `'${name}' is ${member === null ? "null" : "missing"}, a value is required`;
        continue;
      }
      const problem = typeProblem(declared.type, member);
      if (problem) return `'${name}' is ${describeJson(member)}, ${problem}`;
    }
    return undefined;
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
