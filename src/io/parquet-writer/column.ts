/**
 * One column of a row group as it is filled and then written: its values, its definition levels,
 * and a dictionary kept while it pays. At the end of the row group the column chunk is written
 * dictionary-encoded when that is smaller than PLAIN (few distinct values: level, gender, user
 * agents), PLAIN otherwise (ids, timestamps), as parquet-mr and DuckDB choose; a dictionary that
 * grows past `MAX_DICTIONARY_BYTES` is dropped on the way, as theirs fall back to PLAIN.
 */
import type { ColumnType } from "../../core/index.js";
import {
  bitWidthOf,
  compareUtf8,
  encodeIndices,
  encodeLevels,
  encodePlain,
  type PhysicalType,
} from "./encodings.js";
import { binary, bool, i32, i64, serialize, struct, type ThriftStruct, type ThriftValue } from "./thrift.js";

/** Past this many bytes of distinct values, a column chunk is written PLAIN (parquet-mr's default page size). */
export const MAX_DICTIONARY_BYTES = 1024 * 1024;

export type Codec = "UNCOMPRESSED" | "SNAPPY" | "GZIP";
export const CODEC_IDS: Record<Codec, number> = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2 };

const TYPE_IDS: Record<PhysicalType, number> = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 };
enum Encoding {
  Plain = 0,
  Rle = 3,
  RleDictionary = 8,
}
enum PageType {
  Data = 0,
  Dictionary = 2,
}

/** How a sluice column type is stored: physical type, legacy converted type, logical type. */
export interface StoredType {
  readonly physical: PhysicalType;
  readonly convertedType?: number;
  readonly logicalType?: ThriftStruct;
}

export const STORED_TYPES: Record<ColumnType, StoredType> = {
  // ConvertedType UTF8 = 0; LogicalType STRING = field 1.
  utf8: { physical: "BYTE_ARRAY", convertedType: 0, logicalType: [[1, struct([])]] },
  int32: { physical: "INT32" },
  int64: { physical: "INT64" },
  double: { physical: "DOUBLE" },
  boolean: { physical: "BOOLEAN" },
  // ConvertedType TIMESTAMP_MILLIS = 9; LogicalType TIMESTAMP = field 8, an instant in UTC, in ms.
  timestampMillis: {
    physical: "INT64",
    convertedType: 9,
    logicalType: [
      [
        8,
        struct([
          [1, bool(true)],
          [2, struct([[1, struct([])]])],
        ]),
      ],
    ],
  },
};

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly optional: boolean;
}

/** A value the column cannot hold: the writer names the column and the value. */
export class ColumnValueError extends Error {
  override name = "ColumnValueError";
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The value as the column stores it, or a ColumnValueError saying why it cannot. */
function toStored(spec: ColumnSpec, value: unknown): unknown {
  const bad = (expected: string) =>
    new ColumnValueError(
      `column '${spec.name}' (${spec.type}) cannot hold ${typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value)}: expected ${expected}`,
    );
  switch (spec.type) {
    case "utf8":
      if (typeof value !== "string") throw bad("a string");
      // UTF-8 cannot hold a lone surrogate: it would be written as U+FFFD, another string.
      if (!value.isWellFormed()) throw bad("valid Unicode text (it holds a lone surrogate)");
      return value;
    case "int32":
      if (!Number.isInteger(value) || (value as number) < -(2 ** 31) || (value as number) >= 2 ** 31)
        throw bad("an integer of 32 bits");
      return value;
    case "double":
      if (typeof value !== "number") throw bad("a number");
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw bad("true or false");
      return value;
    case "int64":
    case "timestampMillis": {
      const number = value instanceof Date ? value.getTime() : value;
      if (typeof number === "number" && Number.isSafeInteger(number)) return number;
      if (typeof number === "bigint" && number >= INT64_MIN && number <= INT64_MAX) return number;
      throw bad(spec.type === "int64" ? "an integer of 64 bits" : "milliseconds since 1970 or a Date");
    }
  }
}

function lessThan(physical: PhysicalType, a: unknown, b: unknown): boolean {
  if (physical === "BYTE_ARRAY") return compareUtf8(a as string, b as string) < 0;
  return (a as number) < (b as number);
}

/** A statistics value: the bytes of the value as PLAIN would write it, without a length. */
function statisticsBytes(physical: PhysicalType, value: unknown): Buffer {
  if (physical === "BYTE_ARRAY") return Buffer.from(value as string, "utf8");
  if (physical === "BOOLEAN") return Buffer.from([value ? 1 : 0]);
  return encodePlain(physical, [value]);
}

export interface ChunkResult {
  /** The pages, headers included, as they go into the file. */
  readonly bytes: Buffer[];
  readonly byteLength: number;
  readonly uncompressedLength: number;
  /** ColumnChunk metadata for the footer, given the chunk's offset in the file. */
  readonly metadata: (offset: number) => ThriftStruct;
}

export class ColumnChunkWriter {
  private values: unknown[] = [];
  private levels: Uint8Array;
  private count = 0;
  private nulls = 0;
  private dictionary: Map<unknown, number> | undefined;
  private indices: Uint32Array;
  private dictionaryBytes = 0;
  private plainBytes = 0;
  readonly stored: StoredType;

  constructor(
    readonly spec: ColumnSpec,
    private readonly compress: (bytes: Buffer) => Buffer,
    private readonly codec: Codec,
    capacity: number,
  ) {
    this.stored = STORED_TYPES[spec.type];
    this.levels = new Uint8Array(spec.optional ? capacity : 0);
    this.indices = new Uint32Array(this.stored.physical === "BOOLEAN" ? 0 : capacity);
    this.dictionary = this.stored.physical === "BOOLEAN" ? undefined : new Map();
  }

  get rows(): number {
    return this.count;
  }

  append(raw: unknown): void {
    if (this.count === this.levels.length && this.spec.optional) this.levels = grow(this.levels);
    if (raw === null || raw === undefined) {
      if (!this.spec.optional)
        throw new ColumnValueError(`column '${this.spec.name}' is required and the value is ${raw}`);
      this.levels[this.count++] = 0;
      this.nulls++;
      return;
    }
    const value = toStored(this.spec, raw);
    if (this.spec.optional) this.levels[this.count] = 1;
    this.count++;
    const position = this.values.length;
    this.values.push(value);
    const size = this.stored.physical === "BYTE_ARRAY" ? 4 + (value as string).length : 0;
    this.plainBytes += size;
    const dictionary = this.dictionary;
    if (!dictionary) return;
    // -0 and 0 are one key of a Map; PLAIN keeps the sign of each (keys of a DOUBLE column are
    // numbers, so the string stands for nothing else).
    const key = this.stored.physical === "DOUBLE" && Object.is(value, -0) ? "-0" : value;
    let index = dictionary.get(key);
    if (index === undefined) {
      index = dictionary.size;
      dictionary.set(key, index);
      this.dictionaryBytes += size || 8;
      if (this.dictionaryBytes > MAX_DICTIONARY_BYTES) {
        this.dictionary = undefined;
        return;
      }
    }
    if (position === this.indices.length) this.indices = grow(this.indices);
    this.indices[position] = index;
  }

  /** Writes the chunk's pages and starts the column over for the next row group. */
  finish(): ChunkResult {
    const physical = this.stored.physical;
    const values = this.values;
    const dictionary = this.dictionary;
    const plainBytes = physical === "BYTE_ARRAY" ? this.plainBytes : encodedWidth(physical) * values.length;
    const useDictionary =
      dictionary !== undefined &&
      values.length > 0 &&
      this.dictionaryBytes + (values.length * bitWidthOf(Math.max(dictionary.size - 1, 0))) / 8 < plainBytes;

    // Statistics over the distinct values where there is a dictionary, else over all values.
    const candidates = dictionary ? [...dictionary.keys()].map((key) => fromKey(physical, key)) : values;
    let min: unknown;
    let max: unknown;
    for (const value of candidates) {
      if (typeof value === "number" && Number.isNaN(value)) continue;
      if (min === undefined || lessThan(physical, value, min)) min = value;
      if (max === undefined || lessThan(physical, max, value)) max = value;
    }
    // Parquet's rule for floating-point zeros: a minimum of zero is -0, a maximum +0.
    if (min === 0 && physical === "DOUBLE") min = -0;
    if (max === 0 && physical === "DOUBLE") max = 0;

    const pages: Buffer[] = [];
    let uncompressedLength = 0;
    let dictionaryPageLength = 0;
    const addPage = (
      type: PageType,
      body: Buffer,
      header: (uncompressed: number, compressed: number) => ThriftStruct,
    ) => {
      const compressed = this.compress(body);
      const head = serialize(header(body.length, compressed.length));
      pages.push(head, compressed);
      uncompressedLength += head.length + body.length;
      if (type === PageType.Dictionary) dictionaryPageLength = head.length + compressed.length;
    };
    const levels = this.spec.optional ? encodeLevels(this.levels, this.count) : undefined;
    if (useDictionary) {
      const entries = [...dictionary.keys()].map((key) => fromKey(physical, key));
      addPage(PageType.Dictionary, encodePlain(physical, entries), (uncompressed, compressed) => [
        [1, i32(PageType.Dictionary)],
        [2, i32(uncompressed)],
        [3, i32(compressed)],
        [
          7,
          struct([
            [1, i32(entries.length)],
            [2, i32(Encoding.Plain)],
          ]),
        ],
      ]);
    }
    const valueBytes = useDictionary
      ? encodeIndices(this.indices, values.length, dictionary.size)
      : encodePlain(physical, values);
    const body = levels ? Buffer.concat([levels, valueBytes]) : valueBytes;
    addPage(PageType.Data, body, (uncompressed, compressed) => [
      [1, i32(PageType.Data)],
      [2, i32(uncompressed)],
      [3, i32(compressed)],
      [
        5,
        struct([
          [1, i32(this.count)],
          [2, i32(useDictionary ? Encoding.RleDictionary : Encoding.Plain)],
          [3, i32(Encoding.Rle)],
          [4, i32(Encoding.Rle)],
        ]),
      ],
    ]);

    const byteLength = pages.reduce((sum, page) => sum + page.length, 0);
    const count = this.count;
    const nulls = this.nulls;
    const encodings = useDictionary
      ? [Encoding.Plain, Encoding.Rle, Encoding.RleDictionary]
      : [Encoding.Plain, Encoding.Rle];
    const statistics: ThriftValue = struct([
      [3, i64(nulls)],
      [5, max === undefined ? undefined : binary(statisticsBytes(physical, max))],
      [6, min === undefined ? undefined : binary(statisticsBytes(physical, min))],
    ]);
    const name = this.spec.name;
    const codec = CODEC_IDS[this.codec];
    const total = uncompressedLength;
    this.reset();
    return {
      bytes: pages,
      byteLength,
      uncompressedLength: total,
      metadata: (offset) => [
        [2, i64(offset)],
        [
          3,
          struct([
            [1, i32(TYPE_IDS[physical])],
            [2, { list: { i32: encodings } }],
            [3, { list: { binary: [name] } }],
            [4, i32(codec)],
            [5, i64(count)],
            [6, i64(total)],
            [7, i64(byteLength)],
            [9, i64(offset + dictionaryPageLength)],
            [11, useDictionary ? i64(offset) : undefined],
            [12, statistics],
          ]),
        ],
      ],
    };
  }

  private reset(): void {
    this.values = [];
    this.count = 0;
    this.nulls = 0;
    this.plainBytes = 0;
    this.dictionaryBytes = 0;
    this.dictionary = this.stored.physical === "BOOLEAN" ? undefined : new Map();
  }
}

function fromKey(physical: PhysicalType, key: unknown): unknown {
  return physical === "DOUBLE" && key === "-0" ? -0 : key;
}

function encodedWidth(physical: PhysicalType): number {
  return physical === "INT32" ? 4 : physical === "BOOLEAN" ? 1 / 8 : 8;
}

function grow<T extends Uint8Array | Uint32Array>(array: T): T {
  const grown = new (array.constructor as new (length: number) => T)(Math.max(16, array.length * 2));
  grown.set(array);
  return grown;
}
