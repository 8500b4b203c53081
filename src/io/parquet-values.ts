/**
 * Rows of a Parquet file that another engine wrote, as sluice gives records: what parquetjs reads
 * of three kinds of column is put right here, by the file's own schema (its footer's elements).
 *
 * - INT96 timestamps, Spark's default for timestamps: parquetjs reads nanoseconds of the day and
 *   drops the day unless asked (the reader is opened with `treatInt96AsTimestamp`); epoch ms here.
 * - DECIMAL: parquetjs reads one stored as INT32 or INT64 as FIXED_LEN_BYTE_ARRAY and fails, and
 *   gives a FIXED_LEN_BYTE_ARRAY one as bytes. Its schema is set to read the stored integer as it
 *   is; the scale is applied here, to the number nearest the decimal, or an error naming the
 *   column past 15 significant digits.
 * - UINT_32 and UINT_64: parquetjs reads the stored bits as signed (4294967295 as -1, and 2^63
 *   and above as negatives); here they are read as the unsigned integers they are.
 * - Types the footer gives by their logical type alone, which parquetjs reads as the stored
 *   integer: TIMESTAMP in nanoseconds (pyarrow's default for pandas' timestamps) or in
 *   microseconds without a converted type (a local time), read as the timestamps they are (epoch
 *   milliseconds, as sluice gives any timestamp); TIME in micro- or nanoseconds, as milliseconds
 *   of the day, as TIME_MILLIS reads; FLOAT16, which parquetjs gives as its two bytes, as the
 *   number.
 * - LIST and MAP (three-level groups): parquetjs gives the groups as stored, `{ list: [{ element:
 *   x }] }`, and an empty list as `{ list: null }`; here a list is an array and a map an array of
 *   `[key, value]` pairs (JSON objects have string keys only), empty ones empty, as Spark and
 *   pyarrow give them.
 */

/** A schema element of a Parquet footer, as parquetjs decodes it (thrift's names). */
interface SchemaElement {
  readonly name: string;
  readonly type: number | null;
  readonly type_length: number | null;
  readonly num_children: number | null;
  readonly converted_type: number | null;
  readonly scale: number | null;
  readonly precision: number | null;
  readonly logicalType?: LogicalType | null;
}

/** parquetjs's field of a column, as its reader decodes that column by. */
interface ReaderField {
  primitiveType?: string | undefined;
  originalType?: string | undefined;
  typeLength?: number;
  fields?: Record<string, ReaderField>;
}

/** How a leaf's stored value becomes its value, where parquetjs does not do it (see above). */
type Stored =
  | "uint32"
  | "uint64"
  | { readonly timestampPerMs: bigint }
  | { readonly timePerMs: bigint }
  | "float16";

/** A footer element's logical type, as parquetjs decodes it (thrift's union: one member set). */
interface LogicalType {
  readonly TIMESTAMP?: { readonly unit: TimeUnit } | null;
  readonly TIME?: { readonly unit: TimeUnit } | null;
  readonly FLOAT16?: object | null;
}
interface TimeUnit {
  readonly MILLIS?: object | null;
  readonly MICROS?: object | null;
  readonly NANOS?: object | null;
}

type Node =
  | { readonly kind: "value"; readonly name: string; readonly stored?: Stored }
  | { readonly kind: "decimal"; readonly name: string; readonly scale: number; readonly stored: number }
  | { readonly kind: "list"; readonly name: string; readonly repeated: string; readonly element: Node }
  | {
      readonly kind: "map";
      readonly name: string;
      readonly repeated: string;
      readonly key: Node;
      readonly value: Node;
    }
  | { readonly kind: "group"; readonly name: string; readonly children: readonly Node[] };

const PHYSICAL_NAMES: Record<number, string> = {
  1: "INT32",
  2: "INT64",
  6: "BYTE_ARRAY",
  7: "FIXED_LEN_BYTE_ARRAY",
};
const CONVERTED_MAP = 1;
const CONVERTED_MAP_KEY_VALUE = 2;
const CONVERTED_LIST = 3;
const CONVERTED_DECIMAL = 5;
const CONVERTED_UINT_32 = 13;
const CONVERTED_UINT_64 = 14;

/** Options to open a parquetjs reader with. */
export const READER_OPTIONS = { treatInt96AsTimestamp: true } as const;

/** Makes a value parquetjs read (a bigint, a Date) one of sluice's; `column` names it in an error. */
export type LeafValue = (value: unknown, column: string) => unknown;

/**
 * Sets parquetjs's fields to read each DECIMAL column's stored integer, and answers the function
 * that makes a row of the reader's into a record: each column's value through `leaf`, lists, maps
 * and decimals made as above (`where` names a column for an error).
 */
export function foreignValues(
  elements: readonly SchemaElement[],
  fields: Record<string, ReaderField>,
  leaf: LeafValue,
  /** The columns wanted (a declared schema's), or undefined for all: others are left out, unconverted. */
  wanted?: ReadonlySet<string>,
): (row: Record<string, unknown>, where: (column: string) => string) => Record<string, unknown> {
  const every = treeOf(elements);
  // parquetjs decodes every column, so every decimal is pointed at its stored integer; a column not
  // wanted is then not converted: its values (an INT64 past 2^53, a decimal too precise for a
  // number) cannot fail the read of the columns that are.
  for (const node of every) storeDecimalsAsIs(node, fields);
  const roots = every.filter((node) => wanted === undefined || wanted.has(node.name));
  return (row, where) => {
    const record: Record<string, unknown> = {};
    for (const node of roots) {
      if (!(node.name in row)) continue;
      const value = row[node.name];
      record[node.name] =
        node.kind === "value" ? leafOf(node, value, leaf) : converted(node, value, where, leaf);
    }
    return record;
  };
}

/** The footer's flat list of elements (depth first, each group followed by its children) as trees. */
function treeOf(elements: readonly SchemaElement[]): Node[] {
  let at = 1; // the first element is the schema's root
  const next = (): Node => {
    const element = elements[at++]!;
    const childCount = element.num_children ?? 0;
    const children: Node[] = [];
    for (let index = 0; index < childCount; index++) children.push(next());
    if (childCount === 0) {
      if (element.converted_type === CONVERTED_DECIMAL && element.type !== null)
        return { kind: "decimal", name: element.name, scale: element.scale ?? 0, stored: element.type };
      const stored = storedAs(element);
      return stored === undefined
        ? { kind: "value", name: element.name }
        : { kind: "value", name: element.name, stored };
    }
    const repeated = children[0];
    if (element.converted_type === CONVERTED_LIST && children.length === 1 && repeated?.kind === "group") {
      const only = repeated.children.length === 1 ? repeated.children[0] : undefined;
      if (only) return { kind: "list", name: element.name, repeated: repeated.name, element: only };
    }
    if (
      (element.converted_type === CONVERTED_MAP || element.converted_type === CONVERTED_MAP_KEY_VALUE) &&
      children.length === 1 &&
      repeated?.kind === "group" &&
      repeated.children.length === 2
    ) {
      const [key, value] = repeated.children as [Node, Node];
      return { kind: "map", name: element.name, repeated: repeated.name, key, value };
    }
    return { kind: "group", name: element.name, children };
  };
  const roots: Node[] = [];
  const rootChildren = elements[0]?.num_children ?? 0;
  for (let index = 0; index < rootChildren && at < elements.length; index++) roots.push(next());
  return roots;
}

/** Points parquetjs at each DECIMAL column's stored integer (INT32, INT64 or its bytes). */
function storeDecimalsAsIs(node: Node, fields: Record<string, ReaderField> | undefined): void {
  const field = fields?.[node.name];
  if (!field) return;
  switch (node.kind) {
    case "decimal":
      field.primitiveType = PHYSICAL_NAMES[node.stored] ?? field.primitiveType;
      field.originalType = undefined;
      return;
    case "list":
      storeDecimalsAsIs(node.element, field.fields?.[node.repeated]?.fields);
      return;
    case "map":
      storeDecimalsAsIs(node.key, field.fields?.[node.repeated]?.fields);
      storeDecimalsAsIs(node.value, field.fields?.[node.repeated]?.fields);
      return;
    case "group":
      for (const child of node.children) storeDecimalsAsIs(child, field.fields);
      return;
    case "value":
      return;
  }
}

function converted(node: Node, value: unknown, where: (column: string) => string, leaf: LeafValue): unknown {
  if (value === null || value === undefined) return null;
  switch (node.kind) {
    case "value":
      return leafOf(node, value, leaf);
    case "decimal":
      return decimalOf(node, value, where);
    case "list": {
      const items = (value as Record<string, unknown>)[node.repeated];
      if (!Array.isArray(items)) return [];
      return items.map((item) =>
        converted(node.element, (item as Record<string, unknown> | null)?.[node.element.name], where, leaf),
      );
    }
    case "map": {
      const entries = (value as Record<string, unknown>)[node.repeated];
      if (!Array.isArray(entries)) return [];
      return entries.map((entry) => {
        const pair = (entry ?? {}) as Record<string, unknown>;
        return [
          converted(node.key, pair[node.key.name], where, leaf),
          converted(node.value, pair[node.value.name], where, leaf),
        ];
      });
    }
    case "group": {
      const group: Record<string, unknown> = {};
      const members = value as Record<string, unknown>;
      for (const child of node.children)
        if (child.name in members) group[child.name] = converted(child, members[child.name], where, leaf);
      return group;
    }
  }
}

/**
 * The logical type of each top-level column that only its logical type tells (a TIMESTAMP in
 * nanoseconds has no converted type), named for a declared schema's check: `TIMESTAMP`, `TIME`,
 * `FLOAT16`.
 */
export function logicalTypeNames(elements: readonly SchemaElement[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const node of treeOf(elements)) {
    if (node.kind !== "value" || (typeof node.stored !== "object" && node.stored !== "float16")) continue;
    names.set(
      node.name,
      node.stored === "float16" ? "FLOAT16" : "timestampPerMs" in node.stored ? "TIMESTAMP" : "TIME",
    );
  }
  return names;
}

/** How a leaf element's stored value is read where parquetjs reads it otherwise; undefined: as it does. */
function storedAs(element: SchemaElement): Stored | undefined {
  if (element.converted_type === CONVERTED_UINT_32) return "uint32";
  if (element.converted_type === CONVERTED_UINT_64) return "uint64";
  const logical = element.logicalType;
  // With a converted type (TIMESTAMP_MILLIS, TIMESTAMP_MICROS, TIME_MILLIS), parquetjs converts.
  if (!logical || element.converted_type !== null) return undefined;
  if (logical.TIMESTAMP) {
    const perMs = perMillisecond(logical.TIMESTAMP.unit);
    return perMs === undefined ? undefined : { timestampPerMs: perMs };
  }
  if (logical.TIME) {
    const perMs = perMillisecond(logical.TIME.unit);
    return perMs === undefined || perMs === 1n ? undefined : { timePerMs: perMs };
  }
  if (logical.FLOAT16) return "float16";
  return undefined;
}

function perMillisecond(unit: TimeUnit): bigint | undefined {
  if (unit.MILLIS) return 1n;
  if (unit.MICROS) return 1_000n;
  if (unit.NANOS) return 1_000_000n;
  return undefined;
}

/** A leaf's value through `leaf`, read first as its type stores it where parquetjs does not. */
function leafOf(node: Extract<Node, { kind: "value" }>, value: unknown, leaf: LeafValue): unknown {
  const { stored } = node;
  if (stored === undefined || value === null || value === undefined) return leaf(value, node.name);
  if (stored === "uint32" && typeof value === "number") return leaf(value >>> 0, node.name);
  if (stored === "uint64" && typeof value === "bigint") return leaf(BigInt.asUintN(64, value), node.name);
  if (stored === "float16" && value instanceof Uint8Array && value.length === 2)
    return leaf(float16Of(value[0]! | (value[1]! << 8)), node.name);
  if (typeof stored === "object" && (typeof value === "bigint" || typeof value === "number")) {
    const units = BigInt(value);
    if ("timestampPerMs" in stored)
      return leaf(new Date(Number(floorDivide(units, stored.timestampPerMs))), node.name);
    return leaf(Number(floorDivide(units, stored.timePerMs)), node.name);
  }
  return leaf(value, node.name);
}

/** The millisecond an instant lies in: division rounded down, also before 1970. */
function floorDivide(units: bigint, perMs: bigint): bigint {
  const quotient = units / perMs;
  return units % perMs < 0n ? quotient - 1n : quotient;
}

/** An IEEE 754 half-precision number from its 16 bits (little-endian in the file). */
function float16Of(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * A stored decimal (an integer, or big-endian two's complement bytes) with its scale, as the
 * number nearest it. One of more than 15 significant digits, which a number does not hold
 * exactly, fails naming the column (a DECIMAL(38, 18) of 19.99 has 4).
 */
function decimalOf(
  node: Extract<Node, { kind: "decimal" }>,
  stored: unknown,
  where: (column: string) => string,
): number {
  let unscaled: bigint;
  if (typeof stored === "number" || typeof stored === "bigint") unscaled = BigInt(stored);
  else if (stored instanceof Uint8Array) unscaled = fromTwosComplement(stored);
  else throw new Error(`${where(node.name)}: a DECIMAL that is neither an integer nor bytes`);
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(node.scale + 1, "0");
  const text = `${unscaled < 0n ? "-" : ""}${digits.slice(0, digits.length - node.scale)}.${digits.slice(digits.length - node.scale)}`;
  if (digits.replace(/^0+/, "").replace(/0+$/, "").length > 15)
    throw new Error(
      `${where(node.name)}: the DECIMAL ${text} has more significant digits than a JavaScript number holds exactly (15); cast it to a string or a double where the file is written`,
    );
  return Number.parseFloat(text);
}

function fromTwosComplement(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  // The first bit is the sign.
  return bytes[0]! & 0x80 ? value - (1n << BigInt(bytes.length * 8)) : value;
}
