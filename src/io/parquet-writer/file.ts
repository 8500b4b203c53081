/**
 * A Parquet file written as a stream: row groups of column chunks, then the footer. Flat schemas
 * only (every column a top-level value, which is what sluice's schemas are), data pages v1,
 * dictionary encoding where it pays, statistics (minimum, maximum, null count) per column chunk,
 * and nothing else: no page statistics, no page index, no key-value metadata.
 *
 * sluice writes its own files rather than through @dsnp/parquetjs's writer: that one writes no
 * dictionaries, no logical types, a page index and distinct counts nobody reads, and could only
 * be made fast by replacing parts of it for the whole process. @dsnp/parquetjs still reads
 * Parquet in sluice (ParquetSource), and the tests read every file sluice writes with it and with
 * DuckDB, polars and Arrow's Rust reader.
 */
import { once } from "node:events";
import type { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { SLUICE_BUILD } from "../../core/index.js";
import { type Codec, ColumnChunkWriter, type ColumnSpec, type ChunkResult } from "./column.js";
import { snappyCompress } from "./snappy.js";
import { binary, i32, i64, serialize, struct, type ThriftStruct } from "./thrift.js";

const MAGIC = Buffer.from("PAR1");

const COMPRESSORS: Record<Codec, (bytes: Buffer) => Buffer> = {
  UNCOMPRESSED: (bytes) => bytes,
  SNAPPY: snappyCompress,
  GZIP: (bytes) => gzipSync(bytes),
};

/**
 * `created_by`, in the form parquet-mr parses (`NAME version X.Y.Z (build HASH)`): readers that
 * cannot parse it distrust the string statistics of the file.
 */
export const CREATED_BY = SLUICE_BUILD;

export interface ParquetFileOptions {
  readonly codec?: Codec;
  /** Rows per row group; default 65,536. */
  readonly rowGroupSize?: number;
}

type Shredder = (rows: readonly Record<string, unknown>[], from: number, to: number) => void;

/**
 * One function that hands each row's members to their columns, with the member names written
 * into it: each `row.name` is then a load of one name that V8 caches per row shape, where a
 * loop over the columns reading `row[name]` looks up a different name at one place (a lookup
 * V8 does not cache), and that lookup was a fifth of appending a songplay.
 */
function compileShredder(columns: readonly ColumnChunkWriter[]): Shredder {
  const names = columns.map((column) => column.spec.name);
  const key = JSON.stringify(names);
  let factory = shredderFactories.get(key);
  if (!factory) {
    const appends = names.map((name, index) => `columns[${index}].append(row[${JSON.stringify(name)}]);`);
    const body = `return (rows, from, to) => {
  for (let index = from; index < to; index++) {
    const row = rows[index];
    ${appends.join("\n    ")}
  }
};`;
    factory = new Function("columns", body) as ShredderFactory;
    if (shredderFactories.size >= MAX_SHREDDER_FACTORIES) shredderFactories.clear();
    shredderFactories.set(key, factory);
  }
  return factory(columns);
}

type ShredderFactory = (columns: readonly ColumnChunkWriter[]) => Shredder;

/**
 * Compiled once per list of column names: a table partitioned into thousands of small files
 * writes each with a shredder made by the same factory, which V8 optimizes once for all of them.
 */
const shredderFactories = new Map<string, ShredderFactory>();

/**
 * A bound on the factories kept: a program has as many as it has table schemas, but one that
 * makes schemas from its data (a column per field seen) would otherwise keep one per shape.
 */
const MAX_SHREDDER_FACTORIES = 256;

export class ParquetFileWriter {
  private readonly columns: ColumnChunkWriter[];
  private readonly rowGroupSize: number;
  private readonly rowGroups: ThriftStruct[] = [];
  private position = 0;
  private rows = 0;
  private rowsInGroup = 0;
  private started = false;
  private failure: unknown;
  /** Bytes laid out in the file but not yet given to the stream. */
  private held: Buffer[] = [];

  constructor(
    private readonly stream: Writable,
    readonly specs: readonly ColumnSpec[],
    options: ParquetFileOptions = {},
  ) {
    const codec = options.codec ?? "SNAPPY";
    this.rowGroupSize = options.rowGroupSize ?? 65_536;
    this.columns = specs.map((spec) => new ColumnChunkWriter(spec, COMPRESSORS[codec], codec));
    this.shred = compileShredder(this.columns);
  }

  /** Appends rows [from, to) to the columns. */
  private readonly shred: Shredder;

  /** Appends rows (objects with a member per column; others are ignored), writing full row groups. */
  async appendRows(rows: readonly Record<string, unknown>[]): Promise<void> {
    this.checkUsable();
    try {
      await this.append(rows);
    } catch (error) {
      // Columns are filled one after the other: a bad value leaves them uneven, and the file
      // cannot be finished. The task that wrote it fails; its staged file is discarded.
      this.failure = error;
      throw error;
    }
  }

  private checkUsable(): void {
    if (this.failure !== undefined)
      throw new Error(
        `this Parquet file cannot be written further: an earlier append failed (${(this.failure as Error).message})`,
      );
  }

  private async append(rows: readonly Record<string, unknown>[]): Promise<void> {
    let offset = 0;
    while (offset < rows.length) {
      const take = Math.min(rows.length - offset, this.rowGroupSize - this.rowsInGroup);
      this.shred(rows, offset, offset + take);
      this.rowsInGroup += take;
      offset += take;
      if (this.rowsInGroup >= this.rowGroupSize) {
        this.finishRowGroup();
        await this.writeHeld();
      }
    }
  }

  private hold(bytes: Buffer): void {
    this.position += bytes.length;
    this.held.push(bytes);
  }

  /**
   * Gives the stream what is held, in one write: a row group's pages (dozens for a file of a few
   * rows, of which a partitioned table writes thousands) each written on their own cost a pass
   * through the stream's machinery and an await apiece.
   */
  private async writeHeld(): Promise<void> {
    if (this.held.length === 0) return;
    const bytes = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    if (!this.stream.write(bytes)) await once(this.stream, "drain");
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.hold(MAGIC);
  }

  /** Lays out the row group's column chunks after what is held, and its metadata for the footer. */
  private finishRowGroup(): void {
    if (this.rowsInGroup === 0) return;
    this.start();
    const groupStart = this.position;
    const chunks: { result: ChunkResult; offset: number }[] = [];
    for (const column of this.columns) {
      const result = column.finish();
      chunks.push({ result, offset: this.position });
      for (const page of result.bytes) this.hold(page);
    }
    const uncompressed = chunks.reduce((sum, { result }) => sum + result.uncompressedLength, 0);
    this.rowGroups.push([
      [1, { list: { struct: chunks.map(({ result, offset }) => result.metadata(offset)) } }],
      [2, i64(uncompressed)],
      [3, i64(this.rowsInGroup)],
      [5, i64(groupStart)],
      [6, i64(this.position - groupStart)],
    ]);
    this.rows += this.rowsInGroup;
    this.rowsInGroup = 0;
  }

  /** Writes the last row group and the footer, and ends the stream. */
  async close(): Promise<void> {
    this.checkUsable();
    this.finishRowGroup();
    this.start();
    const schema: ThriftStruct[] = [
      [
        [4, binary("schema")],
        [5, i32(this.columns.length)],
      ],
      ...this.columns.map(
        ({ spec, stored }): ThriftStruct => [
          [1, i32({ BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 }[stored.physical])],
          [3, i32(spec.optional ? 1 : 0)],
          [4, binary(spec.name)],
          [6, stored.convertedType === undefined ? undefined : i32(stored.convertedType)],
          [10, stored.logicalType === undefined ? undefined : struct(stored.logicalType)],
        ],
      ),
    ];
    const footer = serialize([
      [1, i32(1)],
      [2, { list: { struct: schema } }],
      [3, i64(this.rows)],
      [4, { list: { struct: this.rowGroups } }],
      [6, binary(CREATED_BY)],
      // Every column is ordered by its type's own order, so readers may trust min and max.
      [7, { list: { struct: this.columns.map((): ThriftStruct => [[1, struct([])]]) } }],
    ]);
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(footer.length, 0);
    this.hold(footer);
    this.hold(length);
    this.hold(MAGIC);
    await this.writeHeld();
    this.stream.end();
  }
}
