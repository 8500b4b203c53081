import { didYouMean } from "../core/closest-name.js";
import { SluiceError } from "../core/errors.js";
import type { JsonValue, Schema, Sink, SinkWriter, TaskContext } from "../core/index.js";
import { columnNames, oneOf, positiveWhole } from "../core/option-checks.js";
import { PartitionPaths } from "./hive.js";
import type { LakeCommitter, TableDisposition } from "./lake-committer.js";
import type { Compression } from "./parquet-schema.js";
import { type Codec, type ColumnSpec, ColumnValueError, checkColumnValue } from "./parquet-writer/column.js";
import { ParquetFileWriter } from "./parquet-writer/file.js";
import { openStagedFile, type StagedFile, type WrittenFile } from "./staging.js";
import { forEachInLanes } from "./in-lanes.js";
import { requestsAtOnce } from "./s3.js";
import { readsOnlyWhatItHolds } from "../core/module-state.js";

const CODECS: Record<Compression, Codec> = { snappy: "SNAPPY", gzip: "GZIP", none: "UNCOMPRESSED" };

/** The columns of a file, in schema order. */
function columnSpecs(schema: Schema): ColumnSpec[] {
  return Object.entries(schema.columns).map(([name, column]) => ({
    name,
    type: column.type,
    optional: column.isOptional,
  }));
}

export interface ParquetTableOptions {
  /** Columns whose values name the folders (`year=2018/month=11/`); they are left out of the files. */
  readonly partitionBy?: readonly string[];
  readonly compression?: Compression;
  /** Rows per row group; default 65,536. */
  readonly rowGroupSize?: number;
  /** A file is closed and another begun past this many rows; default unlimited. */
  readonly maxRowsPerFile?: number;
  /**
   * Rows a task holds back, grouped by partition, before writing them out partition by partition;
   * rows of many partitions arriving interleaved then still make one file per partition. Default 20,000.
   */
  readonly maxBufferedRows?: number;
  /**
   * Files a task keeps open at once. Past it, the least recently written file is closed (a later
   * row of its partition starts a new file), so ten thousand partitions never mean ten thousand
   * open writers. Default 64.
   */
  readonly maxOpenFiles?: number;
  /**
   * Columns each file's rows are sorted by (then by the whole row): the row groups' min/max
   * statistics then cover narrow ranges, which lets readers skip them. Each task sorts the rows
   * it writes, so it holds them until its input ends.
   */
  readonly sortBy?: readonly string[];
  /**
   * In a lake's `update` mode: `append` (the default) adds the run's files to the table's, as
   * facts grow; `replace` swaps the table for the run's files, as a small dimension rebuilt whole.
   */
  readonly disposition?: TableDisposition;
}

interface OpenFile {
  readonly partition: string;
  readonly writer: ParquetFileWriter;
  readonly staged: StagedFile;
  rows: number;
}

/** A Parquet table of a lake: Hive-partitioned, staged per task, committed with the lake. */
export class ParquetTableSink<T extends Record<string, unknown>> implements Sink<T> {
  readonly fileSchema: Schema;
  readonly sortBy?: (row: T) => unknown;

  constructor(
    readonly name: string,
    readonly schema: Schema,
    readonly committer: LakeCommitter,
    readonly options: ParquetTableOptions = {},
  ) {
    const partitionBy = columnNames(options.partitionBy, `table '${name}': partitionBy`) ?? [];
    oneOf(options.compression, Object.keys(CODECS) as Compression[], `table '${name}': compression`);
    for (const option of ["rowGroupSize", "maxRowsPerFile", "maxBufferedRows", "maxOpenFiles"] as const)
      positiveWhole(options[option], `table '${name}': ${option}`);
    for (const column of partitionBy) {
      if (!(column in schema.columns))
        throw new SluiceError(
          `table '${name}': partition column '${column}' is not in its schema${didYouMean(column, Object.keys(schema.columns))}: its columns are ${Object.keys(schema.columns).join(", ")}`,
        );
    }
    this.fileSchema = schema.omit(partitionBy as string[]);
    const sortBy = columnNames(options.sortBy, `table '${name}': sortBy`);
    for (const column of sortBy ?? []) {
      if (!(column in schema.columns))
        throw new SluiceError(
          `table '${name}': sort column '${column}' is not in its schema${didYouMean(column, Object.keys(schema.columns))}: its columns are ${Object.keys(schema.columns).join(", ")}`,
        );
    }
    // One column ranks by its value alone (a number sorts fastest); several by their tuple.
    const [first] = sortBy ?? [];
    if (sortBy !== undefined && first !== undefined)
      this.sortBy =
        sortBy.length === 1
          ? (row) => sortValue(row[first])
          : (row) => sortBy.map((column) => sortValue(row[column]));
    // An empty unpartitioned table still gets one file, so that readers find its schema (as Spark
    // does); a partitioned one has no partition to put it in and is left with its _SUCCESS only.
    committer.register(
      name,
      partitionBy.length === 0 ? (runId) => this.writeEmptyFile(runId) : undefined,
      options.disposition,
    );
  }

  private async writeEmptyFile(runId: string): Promise<WrittenFile> {
    const staged = await openStagedFile(
      this.committer.root,
      runId,
      this.name,
      `part-empty-${runId}.parquet`,
      this.committer.s3,
    );
    try {
      const writer = new ParquetFileWriter(staged.stream, columnSpecs(this.fileSchema), {
        codec: CODECS[this.options.compression ?? "snappy"],
      });
      await writer.close();
      return { table: this.name, partition: "", rows: 0, staged: await staged.close() };
    } catch (error) {
      // On S3 the file's upload is open from the start: a failed file leaves none behind.
      await staged.abort();
      throw error;
    }
  }

  async openWriter(context: TaskContext): Promise<SinkWriter<T>> {
    return new ParquetTaskWriter(this, context);
  }
}

/**
 * A value as a sort compares it: a Date (which a timestamp column takes, as it does epoch
 * milliseconds) as its milliseconds, which order as the instants do.
 */
function sortValue(value: unknown): unknown {
  return value instanceof Date ? value.getTime() : value;
}

/**
 * A partition column's values are held by folder names, not by the files, so the writer never
 * sees them: they are checked here as it checks its columns', with one more rule. An empty
 * string is written, as Hive writes it, to the default partition, which reads back as null: in a
 * required column that would be a null the schema does not allow.
 */
function partitionValueCheck(
  table: string,
  schema: Schema,
  partitionBy: readonly string[],
): (name: string, value: unknown) => void {
  const specs = new Map(
    columnSpecs(schema)
      .filter((spec) => partitionBy.includes(spec.name))
      .map((spec) => [spec.name, spec]),
  );
  return (name, value) => {
    const spec = specs.get(name)!;
    try {
      checkColumnValue(spec, value);
    } catch (error) {
      if (error instanceof ColumnValueError) throw new Error(`table '${table}': ${error.message}`);
      throw error;
    }
    if (value === "" && !spec.optional)
      throw new Error(
        `table '${table}': partition column '${name}' is required and a value is "": an empty partition value is written to Hive's default partition and reads back as null; make the column optional, or give the rows a value`,
      );
  };
}

class ParquetTaskWriter<T extends Record<string, unknown>> implements SinkWriter<T> {
  private readonly open = new Map<string, OpenFile>();
  private readonly buffered = new Map<string, T[]>();
  private bufferedRows = 0;
  private readonly written: WrittenFile[] = [];
  private readonly columns: ColumnSpec[];
  private fileCount = 0;
  private readonly partitionPaths: PartitionPaths | undefined;

  constructor(
    private readonly table: ParquetTableSink<T>,
    private readonly context: TaskContext,
  ) {
    this.columns = columnSpecs(table.fileSchema);
    const partitionBy = table.options.partitionBy ?? [];
    this.partitionPaths =
      partitionBy.length > 0
        ? new PartitionPaths(partitionBy, partitionValueCheck(table.name, table.schema, partitionBy))
        : undefined;
  }

  private async fileFor(partition: string): Promise<OpenFile> {
    const existing = this.open.get(partition);
    if (existing) {
      // Map order is the recency order: move it to the back.
      this.open.delete(partition);
      this.open.set(partition, existing);
      return existing;
    }
    const maxOpen = this.table.options.maxOpenFiles ?? 64;
    while (this.open.size >= maxOpen) {
      const [oldest] = this.open.keys();
      await this.closeFile(oldest!);
    }
    const sequence = this.fileCount++;
    const name = `part-${this.context.taskId}-${this.context.runId}${sequence > 0 ? `-${sequence}` : ""}.parquet`;
    const relativePath = partition ? `${partition}/${name}` : name;
    const { root, s3 } = this.table.committer;
    const staged = await openStagedFile(root, this.context.runId, this.table.name, relativePath, s3);
    const writer = new ParquetFileWriter(staged.stream, this.columns, {
      codec: CODECS[this.table.options.compression ?? "snappy"],
      rowGroupSize: this.table.options.rowGroupSize ?? 65_536,
    });
    const file: OpenFile = { partition, writer, staged, rows: 0 };
    this.open.set(partition, file);
    return file;
  }

  private async closeFile(partition: string): Promise<void> {
    const file = this.open.get(partition);
    if (!file) return;
    this.open.delete(partition);
    await file.writer.close();
    const staged = await file.staged.close();
    this.written.push({ table: this.table.name, partition, rows: file.rows, staged });
  }

  async write(records: readonly T[]): Promise<void> {
    if (records.length > 0) this.checkMembers(records[0]!);
    for (const record of records) {
      const partition = this.partitionPaths ? this.partitionPaths.of(record) : "";
      let rows = this.buffered.get(partition);
      if (!rows) {
        rows = [];
        this.buffered.set(partition, rows);
      }
      rows.push(record);
    }
    this.bufferedRows += records.length;
    if (this.bufferedRows >= (this.table.options.maxBufferedRows ?? 20_000)) await this.flush();
  }

  /**
   * Refuses a row holding a member that is not a column of the table: `City` for `city` would
   * otherwise leave an optional column null in every row without a word. Checked on the first row
   * of each batch the task writes, which is where a misspelt member of the code that makes the
   * rows shows, at no cost per row. A member that is undefined is absent, as JSON has it.
   */
  private checkMembers(row: T): void {
    const columns = this.table.schema.columns;
    for (const member in row) {
      if (Object.hasOwn(columns, member) || row[member] === undefined) continue;
      const names = Object.keys(columns);
      throw new Error(
        `table '${this.table.name}': a row has a member '${member}', which is not a column of the table${didYouMean(member, names)}: its columns are ${names.join(", ")}; make the rows of those members only (map to a row first)`,
      );
    }
  }

  /** Writes the held-back rows, one partition after the other, in partition order. */
  private async flush(): Promise<void> {
    const partitions = [...this.buffered.keys()].sort();
    // Several partitions at once, so that opening and closing many small files overlaps; each
    // group first makes room among the open files, so that no file of the group is evicted.
    const maxOpen = this.table.options.maxOpenFiles ?? 64;
    const groupSize = Math.max(1, Math.min(8, maxOpen));
    for (let start = 0; start < partitions.length; start += groupSize) {
      const group = partitions.slice(start, start + groupSize);
      const alreadyOpen = group.filter((partition) => this.open.has(partition)).length;
      const excess = this.open.size + group.length - alreadyOpen - maxOpen;
      if (excess > 0) {
        // Least recently used first (Map order), never one of this group's.
        const evicted = [...this.open.keys()]
          .filter((partition) => !group.includes(partition))
          .slice(0, excess);
        await this.closeFiles(evicted);
      }
      await Promise.all(
        group.map((partition) => this.writePartition(partition, this.buffered.get(partition)!)),
      );
    }
    this.buffered.clear();
    this.bufferedRows = 0;
  }

  private async writePartition(partition: string, records: readonly T[]): Promise<void> {
    const maxRows = this.table.options.maxRowsPerFile ?? Number.POSITIVE_INFINITY;
    let offset = 0;
    while (offset < records.length) {
      const file = await this.fileFor(partition);
      const count = Math.min(records.length - offset, maxRows - file.rows);
      // Columns not in the file schema (the partition columns) are ignored by the writer.
      try {
        await file.writer.appendRows(records.slice(offset, offset + count));
      } catch (error) {
        if (error instanceof ColumnValueError)
          throw new Error(`table '${this.table.name}': ${error.message}`);
        throw error;
      }
      file.rows += count;
      offset += count;
      if (file.rows >= maxRows) await this.closeFile(partition);
    }
  }

  /**
   * Closes files several at a time (as many as S3 requests a thread keeps in flight): each close
   * ends in a folder creation and a write, or an upload's round trips, which overlap.
   */
  private async closeFiles(partitions: readonly string[]): Promise<void> {
    await forEachInLanes(partitions, requestsAtOnce(this.table.committer.s3), (partition) =>
      this.closeFile(partition),
    );
  }

  async close(): Promise<JsonValue> {
    await this.flush();
    await this.closeFiles([...this.open.keys()]);
    return this.written as unknown as JsonValue;
  }

  async abort(): Promise<void> {
    this.buffered.clear();
    // Every open file on S3 has an upload open: aborted several at a time, as files are closed.
    const open = [...this.open.values()];
    this.open.clear();
    await forEachInLanes(open, requestsAtOnce(this.table.committer.s3), (file) => file.staged.abort());
  }
}

readsOnlyWhatItHolds(ParquetTableSink);
