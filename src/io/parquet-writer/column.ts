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

function badValue(spec: ColumnSpec, value: unknown, expected: string): ColumnValueError {
  return new ColumnValueError(
    `column '${spec.name}' (${spec.type}) cannot hold ${typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value)}: expected ${expected}`,
  );
}

/**
 * Throws the ColumnValueError the writer would for `value` in the column: null in a required
 * column, or a value of another type. For values that are checked but not written to a file
 * (a partition column's, which its folder name holds).
 */
export function checkColumnValue(spec: ColumnSpec, value: unknown): void {
  if (value === null || value === undefined) {
    if (!spec.optional) throw missingValue(spec, value);
    return;
  }
  toStored(spec, value);
}

function missingValue(spec: ColumnSpec, value: null | undefined): ColumnValueError {
  return new ColumnValueError(`column '${spec.name}' is required and the value is ${value}`);
}

/** The value as the column stores it, or a ColumnValueError saying why it cannot. */
function toStored(spec: ColumnSpec, value: unknown): unknown {
  // No closure for the error made on every call: this runs for every value written.
  switch (spec.type) {
    case "utf8":
      if (typeof value !== "string") throw badValue(spec, value, "a string");
      // UTF-8 cannot hold a lone surrogate: it would be written as U+FFFD, another string.
      if (!value.isWellFormed())
        throw badValue(spec, value, "valid Unicode text (it holds a lone surrogate)");
      return value;
    case "int32":
      if (!Number.isInteger(value) || (value as number) < -(2 ** 31) || (value as number) >= 2 ** 31)
        throw badValue(spec, value, "an integer of 32 bits");
      return value;
    case "double":
      if (typeof value !== "number") throw badValue(spec, value, "a number");
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw badValue(spec, value, "true or false");
      return value;
    case "int64":
    case "timestampMillis": {
      const number = value instanceof Date ? value.getTime() : value;
      if (typeof number === "number" && Number.isSafeInteger(number)) return number;
      if (typeof number === "bigint" && number >= INT64_MIN && number <= INT64_MAX) return number;
      throw badValue(
        spec,
        value,
        spec.type === "int64" ? "an integer of 64 bits" : "milliseconds since 1970 or a Date",
      );
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

/** Rows per data page: a page is encoded and compressed as soon as it is full. */
export const PAGE_ROWS = 16_384;

type Mode = "undecided" | "dictionary" | "plain";

/**
 * A column chunk, filled a page at a time. A full page is encoded and compressed at once, so that
 * a row group holds its pages' compressed bytes rather than its values. The first page decides the
 * encoding, as parquet-mr's writer does: dictionary when that page is smaller so, PLAIN otherwise.
 * A dictionary that outgrows `MAX_DICTIONARY_BYTES` stops growing; the pages after it are PLAIN,
 * and the chunk keeps the dictionary its first pages refer to.
 */
export class ColumnChunkWriter {
  readonly stored: StoredType;
  /**
   * The JavaScript type of the values this column's dictionary holds as they are given, so that
   * a value already in it is found before it is checked again: strings of a utf8 column, numbers
   * of an integer or timestamp one (its Dates and bigints are converted first). Not DOUBLE, whose
   * dictionary keeps -0 apart from 0 under another key; not BOOLEAN, which has none.
   */
  private readonly keyType: "string" | "number" | undefined;
  private mode: Mode;
  private dictionary = new Map<unknown, number>();
  /** The dictionary's keys in order, and how many of them `min` and `max` have taken in. */
  private dictionaryKeys: unknown[] = [];
  private rangedKeys = 0;
  private dictionaryBytes = 0;
  // The page being filled. Its values are kept only while they may be written PLAIN: a page whose
  // chunk is dictionary-encoded is written from its indices, and its values were a second array
  // as long as the page, grown by copying, for every column of every page. The array is the
  // column's for all its pages, its first `pageValues` the page's: a new one per page grew by
  // copying to the page's length again each time.
  private values: unknown[] = [];
  /** The page's non-null values so far, kept or not (when kept, they are `values`' first ones). */
  private pageValues = 0;
  // Grown as a page fills: most files of a partitioned table (a song's) hold a few rows.
  private indices = new Uint32Array(16);
  private levels = new Uint8Array(16);
  private pageRows = 0;
  private pagePlainBytes = 0;
  // The chunk so far.
  private readonly pages: Buffer[] = [];
  private pagesLength = 0;
  private uncompressedLength = 0;
  private rows = 0;
  private nulls = 0;
  private dictionaryPages = 0;
  private plainPages = 0;
  private min: unknown;
  private max: unknown;

  constructor(
    readonly spec: ColumnSpec,
    private readonly compress: (bytes: Buffer) => Buffer,
    private readonly codec: Codec,
  ) {
    this.stored = STORED_TYPES[spec.type];
    this.keyType =
      spec.type === "utf8"
        ? "string"
        : spec.type === "double" || spec.type === "boolean"
          ? undefined
          : "number";
    this.mode = this.stored.physical === "BOOLEAN" ? "plain" : "undecided";
  }

  append(raw: unknown): void {
    if (this.pageRows === this.levels.length && this.spec.optional) this.levels = grown(this.levels);
    if (raw === null || raw === undefined) {
      if (!this.spec.optional) throw missingValue(this.spec, raw);
      this.levels[this.pageRows++] = 0;
      this.nulls++;
    } else {
      // A value already in the dictionary was checked when it was added: only its index is taken.
      // One that is not, but was looked up as given, is stored as given: it is not looked up again.
      const lookedUp = this.mode !== "plain" && typeof raw === this.keyType;
      const index = lookedUp ? this.dictionary.get(raw) : undefined;
      const value = index === undefined ? toStored(this.spec, raw) : raw;
      if (index !== undefined) this.addIndex(index);
      else if (this.mode !== "plain" && !this.addToDictionary(value, lookedUp)) {
        // The dictionary is full: the page so far keeps it, and the pages after it are PLAIN.
        this.flushPage();
        this.mode = "plain";
      }
      if (this.spec.optional) this.levels[this.pageRows] = 1;
      this.pageRows++;
      if (this.mode !== "dictionary") this.values[this.pageValues] = value;
      this.pageValues++;
      if (this.stored.physical === "BYTE_ARRAY") this.pagePlainBytes += 4 + (value as string).length;
    }
    if (this.pageRows === PAGE_ROWS) this.flushPage();
  }

  /**
   * Adds a value's index to the page; false when the dictionary has no room for a new value.
   * `absent`: the caller has just looked the value up and not found it.
   */
  private addToDictionary(value: unknown, absent: boolean): boolean {
    // -0 and 0 are one key of a Map; PLAIN keeps the sign of each (keys of a DOUBLE column are
    // numbers, so the string stands for nothing else).
    const key = this.stored.physical === "DOUBLE" && Object.is(value, -0) ? "-0" : value;
    let index = absent ? undefined : this.dictionary.get(key);
    if (index === undefined) {
      const size = this.stored.physical === "BYTE_ARRAY" ? 4 + Buffer.byteLength(value as string) : 8;
      if (this.dictionaryBytes + size > MAX_DICTIONARY_BYTES) return false;
      index = this.dictionary.size;
      this.dictionary.set(key, index);
      this.dictionaryKeys.push(key);
      this.dictionaryBytes += size;
    }
    this.addIndex(index);
    return true;
  }

  private addIndex(index: number): void {
    if (this.pageValues === this.indices.length) this.indices = grown(this.indices);
    this.indices[this.pageValues] = index;
  }

  private flushPage(): void {
    if (this.pageRows === 0) return;
    const physical = this.stored.physical;
    const values = this.values;
    const count = this.pageValues;
    if (this.mode === "undecided") {
      const plainBytes = physical === "BYTE_ARRAY" ? this.pagePlainBytes : encodedWidth(physical) * count;
      const indexBytes = (count * bitWidthOf(Math.max(this.dictionary.size - 1, 0))) / 8;
      this.mode = count > 0 && this.dictionaryBytes + indexBytes < plainBytes ? "dictionary" : "plain";
      if (this.mode === "plain") {
        this.dictionary.clear();
        this.dictionaryKeys = [];
      }
    }
    // A chunk written from its dictionary keeps no values: the ones this page held go.
    if (this.mode === "dictionary" && values.length > 0) this.values = [];
    // A dictionary page's values are its dictionary's keys: the range takes in the keys added
    // since the last page, not every value (a page of 16,384 values may hold a handful of keys).
    if (this.mode === "dictionary") {
      const keys = this.dictionaryKeys;
      for (let index = this.rangedKeys; index < keys.length; index++)
        this.widenRange(physical, fromKey(physical, keys[index]));
      this.rangedKeys = keys.length;
    } else {
      // An index, not for-of: this runs once a page, often before V8 optimizes it, and unoptimized
      // for-of makes an iterator result for every value.
      for (let index = 0; index < count; index++) this.widenRange(physical, values[index]);
    }
    const encoded =
      this.mode === "dictionary"
        ? encodeIndices(this.indices, count, this.dictionary.size)
        : encodePlain(physical, values, count);
    const body = this.spec.optional
      ? Buffer.concat([encodeLevels(this.levels, this.pageRows), encoded])
      : encoded;
    const encoding = this.mode === "dictionary" ? Encoding.RleDictionary : Encoding.Plain;
    const page = this.addPage(body, (uncompressed, compressed) => [
      [1, i32(PageType.Data)],
      [2, i32(uncompressed)],
      [3, i32(compressed)],
      [
        5,
        struct([
          [1, i32(this.pageRows)],
          [2, i32(encoding)],
          [3, i32(Encoding.Rle)],
          [4, i32(Encoding.Rle)],
        ]),
      ],
    ]);
    this.pages.push(...page);
    this.pagesLength += page[0]!.length + page[1]!.length;
    if (this.mode === "dictionary") this.dictionaryPages++;
    else this.plainPages++;
    this.rows += this.pageRows;
    this.pageValues = 0;
    this.pageRows = 0;
    this.pagePlainBytes = 0;
  }

  /** Takes a value into the chunk's minimum and maximum (NaN is not ordered: left out). */
  private widenRange(physical: PhysicalType, value: unknown): void {
    if (typeof value === "number" && Number.isNaN(value)) return;
    if (this.min === undefined || lessThan(physical, value, this.min)) this.min = value;
    if (this.max === undefined || lessThan(physical, this.max, value)) this.max = value;
  }

  private addPage(
    body: Buffer,
    header: (uncompressed: number, compressed: number) => ThriftStruct,
  ): Buffer[] {
    const compressed = this.compress(body);
    const head = serialize(header(body.length, compressed.length));
    this.uncompressedLength += head.length + body.length;
    return [head, compressed];
  }

  /** Writes the chunk's pages (the dictionary first) and starts the column over for the next row group. */
  finish(): ChunkResult {
    this.flushPage();
    const physical = this.stored.physical;
    const dictionaryPage: Buffer[] = [];
    if (this.dictionaryPages > 0) {
      const entries = this.dictionaryKeys.map((key) => fromKey(physical, key));
      dictionaryPage.push(
        ...this.addPage(encodePlain(physical, entries), (uncompressed, compressed) => [
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
        ]),
      );
    }
    const dictionaryLength = dictionaryPage.reduce((sum, page) => sum + page.length, 0);
    const pages = [...dictionaryPage, ...this.pages];
    const byteLength = dictionaryLength + this.pagesLength;
    const encodings = [
      Encoding.Plain,
      Encoding.Rle,
      ...(this.dictionaryPages > 0 ? [Encoding.RleDictionary] : []),
    ];
    const [min, max] = [
      this.min === 0 && physical === "DOUBLE" ? -0 : this.min, // Parquet's rule for zeros
      this.max === 0 && physical === "DOUBLE" ? 0 : this.max,
    ];
    const statistics: ThriftValue = struct([
      [3, i64(this.nulls)],
      [5, max === undefined ? undefined : binary(statisticsBytes(physical, max))],
      [6, min === undefined ? undefined : binary(statisticsBytes(physical, min))],
    ]);
    const name = this.spec.name;
    const codec = CODEC_IDS[this.codec];
    const rows = this.rows;
    const uncompressedLength = this.uncompressedLength;
    const hasDictionary = this.dictionaryPages > 0;
    // How many pages of each kind, which readers use to tell a chunk whose data pages are all
    // dictionary-encoded (and may be filtered by its dictionary) from one that fell back to PLAIN.
    const encodingStats: ThriftStruct[] = [
      ...(hasDictionary ? [pageStats(PageType.Dictionary, Encoding.Plain, 1)] : []),
      ...(hasDictionary ? [pageStats(PageType.Data, Encoding.RleDictionary, this.dictionaryPages)] : []),
      ...(this.plainPages > 0 ? [pageStats(PageType.Data, Encoding.Plain, this.plainPages)] : []),
    ];
    this.reset();
    return {
      bytes: pages,
      byteLength,
      uncompressedLength,
      metadata: (offset) => [
        [2, i64(offset)],
        [
          3,
          struct([
            [1, i32(TYPE_IDS[physical])],
            [2, { list: { i32: encodings } }],
            [3, { list: { binary: [name] } }],
            [4, i32(codec)],
            [5, i64(rows)],
            [6, i64(uncompressedLength)],
            [7, i64(byteLength)],
            [9, i64(offset + dictionaryLength)],
            [11, hasDictionary ? i64(offset) : undefined],
            [12, statistics],
            [13, { list: { struct: encodingStats } }],
          ]),
        ],
      ],
    };
  }

  private reset(): void {
    this.pages.length = 0;
    this.pagesLength = 0;
    this.uncompressedLength = 0;
    this.rows = 0;
    this.nulls = 0;
    this.dictionaryPages = 0;
    this.plainPages = 0;
    this.min = undefined;
    this.max = undefined;
    this.dictionary = new Map();
    this.dictionaryKeys = [];
    this.rangedKeys = 0;
    this.dictionaryBytes = 0;
    this.mode = this.stored.physical === "BOOLEAN" ? "plain" : "undecided";
  }
}

/** A typed array twice as long, up to a page, holding what `array` held. */
function grown<T extends Uint8Array | Uint32Array>(array: T): T {
  const larger = new (array.constructor as new (length: number) => T)(Math.min(array.length * 2, PAGE_ROWS));
  larger.set(array);
  return larger;
}

function pageStats(type: PageType, encoding: Encoding, count: number): ThriftStruct {
  return [
    [1, i32(type)],
    [2, i32(encoding)],
    [3, i32(count)],
  ];
}

function fromKey(physical: PhysicalType, key: unknown): unknown {
  return physical === "DOUBLE" && key === "-0" ? -0 : key;
}

function encodedWidth(physical: PhysicalType): number {
  return physical === "INT32" ? 4 : physical === "BOOLEAN" ? 1 / 8 : 8;
}
