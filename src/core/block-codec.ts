/**
 * The bytes of a block: a batch of records on its way through a shuffle or into a lookup table.
 *
 * Records cross threads with JSON's meaning: what arrives is `JSON.parse(JSON.stringify(records))`.
 * JSON text is also the slow way to get there when the records are many objects of one shape, as
 * the rows of a data pipeline are: every member name is written and parsed again for every record,
 * and every string is copied into the text and out of it (a play's 100-byte user agent, thousands
 * of times per block). So a block whose records all have the shape of its first record (the same
 * arrays and plain objects with the same member names in the same order, to a small depth) is
 * written column by column, as Spark's and Arrow's row batches are: numbers as 32- or 64-bit
 * values, strings once per block in a dictionary (or one after another, in a column whose strings
 * are nearly all distinct), with the shape written once. Decoding builds
 * the records with a function made for their shape, so that they share hidden classes (and reads
 * of them stay monomorphic) and the repeated strings are one string each.
 *
 * Anything that JSON would change or that is not a plain value goes as JSON: a block of mixed
 * shapes whole; within a columnar block, a column whose values are not all numbers, all strings or
 * all booleans (with nulls) is one JSON array, which keeps JSON's answer for -0, NaN, dates, lone
 * surrogates and deeper values. A member that is `undefined`, a function or a symbol (JSON drops
 * the member) sends the whole block as JSON. A property test holds the two encodings to the same
 * result on arbitrary records.
 */

/** First byte of a columnar block; a JSON block starts with `[`. */
const COLUMNAR = 0x01;

const FLOAT64 = 0;
const INT32 = 1;
const STRING = 2;
const BOOLEAN = 3;
const NULLS = 4;
const JSON_VALUES = 5;
const PLAIN_STRING = 6;

/** Where records stop being taken apart: deeper values travel inside a JSON column. */
const MAX_DEPTH = 4;
/** Columns a shape may have; past it a record is more document than row, and goes as JSON. */
const MAX_COLUMNS = 128;
/** Shapes compiled per thread; past it new shapes go as JSON rather than grow the cache forever. */
const MAX_SHAPES = 512;

/** A record's shape: 0 for a value, an array of item shapes, or an object of member shapes. */
type Shape = 0 | Shape[] | { [member: string]: Shape };

interface CompiledShape {
  readonly columns: number;
  /** Puts record `index`'s values into the columns; false when the record has another shape. */
  readonly flatten: (record: unknown, columns: unknown[][], index: number) => boolean;
  /** Builds `count` records from decoded columns. */
  readonly build: (columns: unknown[][], count: number) => unknown[];
}

function isPlainObject(value: object): boolean {
  return Object.getPrototypeOf(value) === Object.prototype;
}

/** The shape of a value, or undefined when it is better sent as JSON. */
function shapeOf(value: unknown, depth: number, budget: { columns: number }): Shape | undefined {
  if (typeof value !== "object" || value === null || depth >= MAX_DEPTH) {
    return --budget.columns >= 0 ? 0 : undefined;
  }
  if (Array.isArray(value)) {
    const items: Shape[] = [];
    for (const item of value) {
      const shape = shapeOf(item, depth + 1, budget);
      if (shape === undefined) return undefined;
      items.push(shape);
    }
    return items;
  }
  if (!isPlainObject(value)) return undefined;
  const members: { [member: string]: Shape } = {};
  for (const name of Object.keys(value)) {
    // An object literal would set the prototype instead of making a member of that name.
    if (name === "__proto__") return undefined;
    const shape = shapeOf((value as Record<string, unknown>)[name], depth + 1, budget);
    if (shape === undefined) return undefined;
    members[name] = shape;
  }
  return members;
}

const compiled = new Map<string, CompiledShape>();

/**
 * Generates the two functions of a shape. They are generated, not interpreted, because a loop
 * over member names reads and writes properties by computed name, which V8 cannot specialise;
 * the generated code reads `record.ts` and builds `{ ts: ..., userId: ... }` literals, so records
 * decoded from a block share one hidden class. Member names enter the code as JSON string
 * literals, never as code.
 */
function compile(shape: Shape): CompiledShape {
  const checks: string[] = [];
  const memberLists: string[][] = [];
  let columns = 0;
  let temporaries = 0;
  const flattenFrom = (node: Shape, expression: string): void => {
    if (node === 0) {
      checks.push(`c[${columns++}][i] = ${expression};`);
      return;
    }
    const name = `v${temporaries++}`;
    checks.push(`const ${name} = ${expression};`);
    if (Array.isArray(node)) {
      checks.push(`if (!Array.isArray(${name}) || ${name}.length !== ${node.length}) return false;`);
      node.forEach((item, index) => {
        flattenFrom(item, `${name}[${index}]`);
      });
      return;
    }
    const members = Object.keys(node);
    const list = `m${memberLists.length}`;
    memberLists.push(members);
    checks.push(
      `if (typeof ${name} !== "object" || ${name} === null || Object.getPrototypeOf(${name}) !== P) return false;`,
      `{ let n = 0; for (const k in ${name}) if (k !== ${list}[n++]) return false; if (n !== ${members.length}) return false; }`,
    );
    for (const member of members) flattenFrom(node[member]!, `${name}[${JSON.stringify(member)}]`);
  };
  flattenFrom(shape, "r");

  let column = 0;
  const buildFrom = (node: Shape): string => {
    if (node === 0) return `c${column++}[i]`;
    if (Array.isArray(node)) return `[${node.map(buildFrom).join(", ")}]`;
    return `{ ${Object.keys(node)
      .map((member) => `${JSON.stringify(member)}: ${buildFrom(node[member]!)}`)
      .join(", ")} }`;
  };
  const record = buildFrom(shape);
  const columnNames = Array.from({ length: columns }, (_, index) => `c${index}`);

  const makeFlatten = new Function(
    "P",
    ...memberLists.map((_, index) => `m${index}`),
    `return function flatten(r, c, i) {\n${checks.join("\n")}\nreturn true;\n};`,
  );
  const makeBuild = new Function(
    `return function build(c, count) {\nconst [${columnNames.join(", ")}] = c;\nconst out = new Array(count);\nfor (let i = 0; i < count; i++) out[i] = ${record};\nreturn out;\n};`,
  );
  return {
    columns,
    flatten: makeFlatten(Object.prototype, ...memberLists),
    build: makeBuild(),
  };
}

/**
 * The same two functions, walking the shape at run time: for processes that forbid generating code
 * from strings (`node --disallow-code-generation-from-strings`, a hardening some platforms set),
 * where `new Function` throws. Slower, and the same bytes and records.
 */
function interpret(shape: Shape): CompiledShape {
  let columns = 0;
  const countColumns = (node: Shape): void => {
    if (node === 0) columns++;
    else if (Array.isArray(node)) node.forEach(countColumns);
    else for (const member of Object.keys(node)) countColumns(node[member]!);
  };
  countColumns(shape);
  const flattenFrom = (
    node: Shape,
    value: unknown,
    target: unknown[][],
    index: number,
    next: number,
  ): number => {
    if (node === 0) {
      target[next]![index] = value;
      return next + 1;
    }
    if (Array.isArray(node)) {
      if (!Array.isArray(value) || value.length !== node.length) return -1;
      let column = next;
      for (let item = 0; item < node.length && column >= 0; item++) {
        column = flattenFrom(node[item]!, value[item], target, index, column);
      }
      return column;
    }
    if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype)
      return -1;
    const members = Object.keys(node);
    let count = 0;
    for (const key in value) if (key !== members[count++]) return -1;
    if (count !== members.length) return -1;
    let column = next;
    for (const member of members) {
      if (column < 0) return -1;
      column = flattenFrom(node[member]!, (value as Record<string, unknown>)[member], target, index, column);
    }
    return column;
  };
  const buildFrom = (node: Shape, source: unknown[][], index: number, next: { column: number }): unknown => {
    if (node === 0) return source[next.column++]![index];
    if (Array.isArray(node)) return node.map((item) => buildFrom(item, source, index, next));
    const record: Record<string, unknown> = {};
    for (const member of Object.keys(node)) record[member] = buildFrom(node[member]!, source, index, next);
    return record;
  };
  return {
    columns,
    flatten: (record, target, index) => flattenFrom(shape, record, target, index, 0) >= 0,
    build: (source, count) => {
      const out = new Array(count);
      for (let index = 0; index < count; index++) out[index] = buildFrom(shape, source, index, { column: 0 });
      return out;
    },
  };
}

/** Whether this process may generate code from strings; decided once, on first use. */
let codeGeneration: boolean | undefined;

function compileOrInterpret(shape: Shape): CompiledShape {
  if (codeGeneration === undefined) {
    try {
      codeGeneration = new Function("return true")() === true;
    } catch {
      codeGeneration = false;
    }
  }
  return codeGeneration ? compile(shape) : interpret(shape);
}

/** The functions of a shape, compiled once per thread (cached while there is room). */
function compiledShape(key: string, shape: () => Shape): CompiledShape {
  let found = compiled.get(key);
  if (!found) {
    found = compileOrInterpret(shape());
    if (compiled.size < MAX_SHAPES) compiled.set(key, found);
  }
  return found;
}

/** Bytes of each index into a string column's dictionary of `distinct` strings (0 is null). */
function indexWidth(distinct: number): 1 | 2 | 4 {
  return distinct < 0xff ? 1 : distinct < 0xffff ? 2 : 4;
}

interface EncodedColumn {
  readonly kind: number;
  readonly byteLength: number;
  write(view: DataView, bytes: Buffer, offset: number): void;
}

const isWellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** How a column of values is written, or undefined when one of them has no JSON form as a member. */
function encodeColumn(values: readonly unknown[]): EncodedColumn | undefined {
  const count = values.length;
  let numbers = 0;
  let int32s = 0;
  let strings = 0;
  let booleans = 0;
  let nulls = 0;
  for (let index = 0; index < count; index++) {
    const value = values[index];
    switch (typeof value) {
      case "number":
        // Finite and not -0: what a float64 keeps and JSON would too.
        if (value - value === 0 && (value !== 0 || 1 / value > 0)) {
          numbers++;
          if ((value | 0) === value) int32s++;
        }
        break;
      case "string":
        strings++;
        break;
      case "boolean":
        booleans++;
        break;
      case "object":
        if (value === null) nulls++;
        break;
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
      // bigint: JSON.stringify throws for it, as it would for the whole block.
    }
  }
  if (nulls === count) return { kind: NULLS, byteLength: 1, write: () => undefined };
  if (numbers + nulls === count) return numberColumn(values, nulls > 0, int32s === numbers);
  if (strings + nulls === count) return stringColumn(values);
  if (booleans + nulls === count) {
    return {
      kind: BOOLEAN,
      byteLength: 1 + count,
      write: (_view, bytes, offset) => writeBooleans(bytes, offset, values),
    };
  }
  return jsonColumn(values);
}

/*
 * The loops that write a column's values are functions of their own, called by each column's
 * small `write`: a loop inside a closure made per column started cold for each block in a fresh
 * process, and V8 optimized and threw away the same loop again and again.
 */

function writeBooleans(bytes: Buffer, offset: number, values: readonly unknown[]): void {
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    bytes[offset + index] = value === null ? 2 : value ? 1 : 0;
  }
}

function writeNumbers(
  view: DataView,
  bytes: Buffer,
  offset: number,
  values: readonly unknown[],
  hasNulls: boolean,
  allInt32: boolean,
): void {
  const count = values.length;
  bytes[offset] = hasNulls ? 1 : 0;
  let position = offset + 1;
  if (hasNulls) {
    for (let index = 0; index < count; index++) bytes[position + index] = values[index] === null ? 1 : 0;
    position += count;
  }
  if (allInt32) {
    for (let index = 0; index < count; index++, position += 4) {
      const value = values[index];
      view.setInt32(position, value === null ? 0 : (value as number), true);
    }
  } else {
    for (let index = 0; index < count; index++, position += 8) {
      const value = values[index];
      view.setFloat64(position, value === null ? 0 : (value as number), true);
    }
  }
}

function writeDictionaryStrings(
  view: DataView,
  bytes: Buffer,
  offset: number,
  distinct: readonly string[],
  indexes: Uint32Array,
  width: 1 | 2 | 4,
  text: string,
  textBytes: number,
): void {
  view.setUint32(offset, distinct.length, true);
  view.setUint32(offset + 4, textBytes, true);
  let position = offset + 8;
  for (let index = 0; index < distinct.length; index++, position += 4)
    view.setUint32(position, distinct[index]!.length, true);
  const count = indexes.length;
  if (width === 1) for (let index = 0; index < count; index++) bytes[position + index] = indexes[index]!;
  else if (width === 2)
    for (let index = 0; index < count; index++) view.setUint16(position + 2 * index, indexes[index]!, true);
  else
    for (let index = 0; index < count; index++) view.setUint32(position + 4 * index, indexes[index]!, true);
  bytes.write(text, position + width * count, textBytes, "utf8");
}

function writePlainStrings(
  view: DataView,
  bytes: Buffer,
  offset: number,
  values: readonly unknown[],
  text: string,
  textBytes: number,
): void {
  view.setUint32(offset, textBytes, true);
  let position = offset + 4;
  for (let index = 0; index < values.length; index++, position += 4) {
    const value = values[index];
    view.setUint32(position, value === null ? NULL_LENGTH : (value as string).length, true);
  }
  bytes.write(text, position, textBytes, "utf8");
}

function jsonColumn(values: readonly unknown[]): EncodedColumn {
  checkJson(values);
  const text = JSON.stringify(values);
  const length = Buffer.byteLength(text, "utf8");
  return {
    kind: JSON_VALUES,
    byteLength: 1 + 4 + length,
    write(view, bytes, offset) {
      view.setUint32(offset, length, true);
      bytes.write(text, offset + 4, length, "utf8");
    },
  };
}

/** Numbers: a null flag per value if any is null, then 32-bit integers when all fit, else float64s. */
function numberColumn(values: readonly unknown[], hasNulls: boolean, allInt32: boolean): EncodedColumn {
  const count = values.length;
  const width = allInt32 ? 4 : 8;
  return {
    kind: allInt32 ? INT32 : FLOAT64,
    byteLength: 1 + 1 + (hasNulls ? count : 0) + width * count,
    write: (view, bytes, offset) => writeNumbers(view, bytes, offset, values, hasNulls, allInt32),
  };
}

/**
 * Strings: each distinct string once, as one UTF-8 run with the UTF-16 length of each, then the
 * index of every value in that list (0 for null) in 1, 2 or 4 bytes; a column of nearly all
 * distinct strings goes string by string instead. Strings that UTF-8 cannot carry (lone
 * surrogates) make the column JSON, which escapes them.
 */
function stringColumn(values: readonly unknown[]): EncodedColumn {
  const count = values.length;
  const indexes = new Uint32Array(count);
  const positions = new Map<string, number>();
  const distinct: string[] = [];
  let strings = 0;
  for (let index = 0; index < count; index++) {
    const value = values[index];
    if (value === null) continue;
    let position = positions.get(value as string);
    if (position === undefined) {
      distinct.push(value as string);
      position = distinct.length;
      positions.set(value as string, position);
    }
    indexes[index] = position;
    // Nearly every one of the first strings new (song ids, titles): a list of distinct strings
    // would save no bytes, and its map of positions is most of the column's encoding time.
    if (++strings === DISTINCT_SAMPLE && distinct.length >= DISTINCT_SAMPLE * MOSTLY_DISTINCT)
      return plainStringColumn(values);
  }
  const text = distinct.join("");
  if (!isWellFormed(text)) return jsonColumn(values);
  const textBytes = Buffer.byteLength(text, "utf8");
  const width = indexWidth(distinct.length);
  return {
    kind: STRING,
    byteLength: 1 + 4 + 4 + 4 * distinct.length + width * count + textBytes,
    write: (view, bytes, offset) =>
      writeDictionaryStrings(view, bytes, offset, distinct, indexes, width, text, textBytes),
  };
}

/** Strings a column's dictionary takes before it is judged worth keeping. */
const DISTINCT_SAMPLE = 256;
/** The share of those strings that, all distinct, make the column go string by string. */
const MOSTLY_DISTINCT = 0.9;

/** Strings one by one: the UTF-16 length of each (NULL_LENGTH for null), then their UTF-8 run. */
function plainStringColumn(values: readonly unknown[]): EncodedColumn {
  const count = values.length;
  let text = "";
  for (let index = 0; index < count; index++) {
    const value = values[index];
    if (value !== null) text += value as string;
  }
  if (!isWellFormed(text)) return jsonColumn(values);
  const textBytes = Buffer.byteLength(text, "utf8");
  return {
    kind: PLAIN_STRING,
    byteLength: 1 + 4 + 4 * count + textBytes,
    write: (view, bytes, offset) => writePlainStrings(view, bytes, offset, values, text, textBytes),
  };
}

/** The length that stands for null in a plain string column: no string in V8 is that long. */
const NULL_LENGTH = 0xffffffff;

/** The columnar bytes of a block, or undefined when it must go as JSON. */
function encodeColumnar(records: readonly unknown[]): Uint8Array | undefined {
  if (records.length === 0) return undefined;
  const shape = shapeOf(records[0], 0, { columns: MAX_COLUMNS });
  // A block of bare values (numbers, strings) gains nothing from a shape.
  if (shape === undefined || shape === 0) return undefined;
  const shapeText = JSON.stringify(shape);
  // Compiling is the expensive part; once the cache is full, new shapes go as JSON.
  if (!compiled.has(shapeText) && compiled.size >= MAX_SHAPES) return undefined;
  const compiledForShape = compiledShape(shapeText, () => shape);
  const count = records.length;
  const values: unknown[][] = Array.from({ length: compiledForShape.columns }, () => new Array(count));
  for (let index = 0; index < count; index++) {
    if (!compiledForShape.flatten(records[index], values, index)) return undefined;
  }
  const columns: EncodedColumn[] = [];
  for (const column of values) {
    const encoded = encodeColumn(column);
    if (!encoded) return undefined;
    columns.push(encoded);
  }
  const shapeBytes = Buffer.byteLength(shapeText, "utf8");
  let total = 1 + 4 + 4 + shapeBytes;
  for (const column of columns) total += column.byteLength;
  // An unpooled buffer: the block owns its ArrayBuffer, so that it can be transferred.
  const bytes = Buffer.allocUnsafeSlow(total);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bytes[0] = COLUMNAR;
  view.setUint32(1, count, true);
  view.setUint32(5, shapeBytes, true);
  bytes.write(shapeText, 9, shapeBytes, "utf8");
  let offset = 9 + shapeBytes;
  for (const column of columns) {
    bytes[offset] = column.kind;
    column.write(view, bytes, offset + 1);
    offset += column.byteLength;
  }
  return bytes;
}

const jsonEncoder = new TextEncoder();

/** A record that JSON would change in silence: named by what it holds and where. */
export class NotJsonError extends Error {
  override name = "NotJsonError";
}

function kindOf(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && value !== null)
    return withArticle(value.constructor?.name ?? "null-prototype object");
  return withArticle(typeof value);
}

/** "a Date", "an ArrayBuffer", "a Uint8Array" (said "you-int"). */
function withArticle(name: string): string {
  return `${/^[AEIOaeio]/.test(name) ? "an" : "a"} ${name}`;
}

/**
 * Where `value` holds something JSON does not keep as it is (a Date, Map, Set or other class
 * instance, NaN or an infinity, a bigint, a function, a symbol, `undefined` in an array), or
 * undefined when it is a JSON value. A member that is `undefined` is allowed: JSON leaves it out,
 * and an absent member reads as null. A value that holds itself is named as a cycle.
 */
export function nonJsonIn(value: unknown, path = "", depth = 0): string | undefined {
  const found = findNonJson(value, depth, []);
  if (!found) return undefined;
  const at = path + shortPath(found.steps.reverse());
  return `${found.what} at ${at || "the top"}`;
}

/** What a value that holds itself is called: the message's advice is told by its start. */
export const CYCLE = "a reference to a value that holds it (a cycle)";
/** The depth past which a value is not searched: deeper, the search and JSON's writer near the end of the stack. */
const MAX_SEARCH_DEPTH = 1000;
export const TOO_DEEP = `a value nested more than ${MAX_SEARCH_DEPTH} deep`;

/** The steps of a path, its middle left out when it is long (a value nested hundreds deep). */
function shortPath(steps: readonly string[]): string {
  if (steps.length <= 12) return steps.join("");
  return `${steps.slice(0, 6).join("")}<${steps.length - 10} more>${steps.slice(-4).join("")}`;
}

/** What JSON would not keep, and the steps to it from the value searched, innermost first. */
interface NonJson {
  readonly what: string;
  readonly steps: string[];
}

/**
 * The search behind `nonJsonIn`. The path is written only for what is found, on the way back
 * out: a daily load's options hold 20,000 files, and naming every member visited cost more than
 * visiting it.
 */
function findNonJson(value: unknown, depth: number, within: object[]): NonJson | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : { what: kindOf(value), steps: [] };
    case "object": {
      if (value === null) return undefined;
      // The objects on the path from the top: a handful deep, so a scan costs less than a Set.
      if (within.includes(value)) return { what: CYCLE, steps: [] };
      if (depth > MAX_SEARCH_DEPTH) return { what: TOO_DEEP, steps: [] };
      within.push(value);
      const found = findWithin(value, depth, within);
      within.pop();
      return found;
    }
    default:
      return { what: kindOf(value), steps: [] };
  }
}

/** The search in an object's members or an array's items. */
function findWithin(value: object, depth: number, within: object[]): NonJson | undefined {
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const item = value[index];
      if (item === undefined) return { what: "undefined", steps: [`[${index}]`] };
      const found = findNonJson(item, depth + 1, within);
      if (found) {
        found.steps.push(`[${index}]`);
        return found;
      }
    }
    return undefined;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return { what: kindOf(value), steps: [] };
  for (const member of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[member];
    if (item === undefined) continue;
    const found = findNonJson(item, depth + 1, within);
    if (found) {
      found.steps.push(`.${member}`);
      return found;
    }
  }
  return undefined;
}

function checkJson(values: readonly unknown[]): void {
  const problem = nonJsonIn(values);
  if (problem) throw new NotJsonError(problem);
}

/**
 * The bytes of a block of records: columnar when they share a shape, JSON otherwise. A record
 * that JSON would change (a Date, a Map, NaN) is refused with a NotJsonError: what crosses a
 * thread must arrive as it left, on every runner. The columnar path holds only plain values; the
 * JSON paths are checked.
 */
export function encodeRecords(records: readonly unknown[]): Uint8Array {
  let columnar: Uint8Array | undefined;
  try {
    columnar = encodeColumnar(records);
  } catch (error) {
    // A column's check knows the column, not the record: say where in the record it is.
    if (error instanceof NotJsonError) checkJson(records);
    throw error;
  }
  if (columnar) return columnar;
  checkJson(records);
  // TextEncoder gives each block its own ArrayBuffer, as the columnar path does.
  return jsonEncoder.encode(JSON.stringify(records));
}

/** True when the bytes are a columnar block (for tests and metrics). */
export function isColumnar(bytes: Uint8Array): boolean {
  return bytes[0] === COLUMNAR;
}

class Reader {
  offset: number;
  readonly view: DataView;

  constructor(
    readonly bytes: Buffer,
    offset: number,
  ) {
    this.offset = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  uint32(): number {
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  text(byteLength: number): string {
    const text = this.bytes.toString("utf8", this.offset, this.offset + byteLength);
    this.offset += byteLength;
    return text;
  }
}

function decodeColumn(reader: Reader, count: number): unknown[] {
  const { bytes, view } = reader;
  const kind = bytes[reader.offset++];
  const values = new Array<unknown>(count);
  switch (kind) {
    case NULLS:
      values.fill(null);
      return values;
    case FLOAT64:
    case INT32: {
      const hasNulls = bytes[reader.offset++] === 1;
      const flags = reader.offset;
      if (hasNulls) reader.offset += count;
      let position = reader.offset;
      for (let index = 0; index < count; index++) {
        const isNull = hasNulls && bytes[flags + index] === 1;
        if (kind === INT32) {
          values[index] = isNull ? null : view.getInt32(position, true);
          position += 4;
        } else {
          values[index] = isNull ? null : view.getFloat64(position, true);
          position += 8;
        }
      }
      reader.offset = position;
      return values;
    }
    case STRING: {
      const distinctCount = reader.uint32();
      const textBytes = reader.uint32();
      const lengths = reader.offset;
      reader.offset += 4 * distinctCount;
      const width = indexWidth(distinctCount);
      const indexes = reader.offset;
      reader.offset += width * count;
      const text = reader.text(textBytes);
      const distinct: (string | null)[] = [null];
      let start = 0;
      for (let index = 0; index < distinctCount; index++) {
        const length = view.getUint32(lengths + 4 * index, true);
        distinct.push(text.slice(start, start + length));
        start += length;
      }
      for (let index = 0; index < count; index++) {
        const at = indexes + width * index;
        const position =
          width === 1 ? bytes[at]! : width === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
        values[index] = distinct[position];
      }
      return values;
    }
    case PLAIN_STRING: {
      const textBytes = reader.uint32();
      const lengths = reader.offset;
      reader.offset += 4 * count;
      const text = reader.text(textBytes);
      let start = 0;
      for (let index = 0; index < count; index++) {
        const length = view.getUint32(lengths + 4 * index, true);
        if (length === NULL_LENGTH) values[index] = null;
        else {
          values[index] = text.slice(start, start + length);
          start += length;
        }
      }
      return values;
    }
    case BOOLEAN: {
      for (let index = 0; index < count; index++) {
        const flag = bytes[reader.offset + index];
        values[index] = flag === 2 ? null : flag === 1;
      }
      reader.offset += count;
      return values;
    }
    case JSON_VALUES: {
      const length = reader.uint32();
      return JSON.parse(reader.text(length)) as unknown[];
    }
    default:
      throw new Error(`a shuffle block has a column of unknown kind ${kind}`);
  }
}

function decodeColumnar(bytes: Buffer): unknown[] {
  const reader = new Reader(bytes, 1);
  const count = reader.uint32();
  const shapeText = reader.text(reader.uint32());
  const shape = compiledShape(shapeText, () => JSON.parse(shapeText) as Shape);
  const columns: unknown[][] = [];
  for (let column = 0; column < shape.columns; column++) columns.push(decodeColumn(reader, count));
  return shape.build(columns, count);
}

/** The records of a block's bytes, whichever way they were encoded. */
export function decodeRecords(bytes: Uint8Array): unknown[] {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer[0] === COLUMNAR) return decodeColumnar(buffer);
  return JSON.parse(buffer.toString("utf8")) as unknown[];
}
