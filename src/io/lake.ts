import type { Infer, RejectedRecord, Schema, Sink } from "../core/index.js";
import { knownOptions } from "../core/option-checks.js";
import { type JsonLinesTableOptions, JsonLinesTableSink } from "./json-lines-sink.js";
import { LakeCommitter, STATE_FOLDER, type TableDisposition, type WriteMode } from "./lake-committer.js";
import { childOf, formatLocation, parseLocation } from "./location.js";
import { type ParquetTableOptions, ParquetTableSink } from "./parquet-sink.js";
import type { S3Settings } from "./s3.js";

const PARQUET_TABLE_OPTIONS: Record<keyof ParquetTableOptions, true> = {
  partitionBy: true,
  compression: true,
  rowGroupSize: true,
  maxRowsPerFile: true,
  maxBufferedRows: true,
  maxOpenFiles: true,
  sortBy: true,
  disposition: true,
};

export interface LakeOptions {
  /** Default `error-if-exists`, as Spark's. */
  readonly mode?: WriteMode;
  readonly s3?: S3Settings;
}

/**
 * An output folder or S3 prefix holding several tables that commit together: a run's tables
 * become visible at once, after every task succeeded, or not at all.
 *
 * @example
 * const lake = new Lake("s3://bucket/lake", { mode: "overwrite" });
 * songs.write(lake.parquet("songs", songSchema, { partitionBy: ["year", "artist_id"] }));
 */
export class Lake {
  readonly committer: LakeCommitter;

  constructor(
    readonly uri: string,
    options: LakeOptions = {},
  ) {
    knownOptions(options, { mode: true, s3: true }, `lake ${uri}`);
    this.committer = new LakeCommitter(
      parseLocation(uri),
      options.mode ?? "error-if-exists",
      options.s3 ?? {},
    );
  }

  /** A Parquet table (`uri/<name>/`), Hive-partitioned by `partitionBy`. */
  parquet<S extends Schema>(name: string, schema: S, options: ParquetTableOptions = {}): Sink<Infer<S>> {
    knownOptions(options, PARQUET_TABLE_OPTIONS, `table '${name}'`);
    return new ParquetTableSink(name, schema, this.committer, options) as unknown as Sink<Infer<S>>;
  }

  /** A JSON-lines table (`uri/<name>/`); in `update` mode it grows unless `disposition` is `replace`. */
  jsonLines<T>(name: string, options: JsonLinesTableOptions<T> = {}): Sink<T> {
    knownOptions(options, { disposition: true, partitionOf: true }, `table '${name}'`);
    return new JsonLinesTableSink<T>(name, this.committer, options);
  }

  /**
   * A JSON-lines table of what a pipeline keeps beside its tables between loads
   * (`uri/_sluice/<name>/`, a folder readers skip), committed with them.
   */
  state<T>(name: string, options: JsonLinesTableOptions<T> = {}): Sink<T> {
    return this.jsonLines<T>(`${STATE_FOLDER}/${name}`, options);
  }

  /**
   * A state table holding `records`, written by the commit itself: replaced whole by them, or
   * (`append`, in update mode) grown by a file of them.
   */
  stateRecords(name: string, records: readonly unknown[], disposition: TableDisposition = "replace"): void {
    this.committer.writeAtCommit(`${STATE_FOLDER}/${name}`, records, disposition);
  }

  /** Where `state(name)` keeps its files, for a source that reads them back. */
  stateUri(name: string): string {
    return formatLocation(childOf(this.committer.root, `${STATE_FOLDER}/${name}`));
  }

  /** The `_rejected/` table: rejected records with their origin and reason. */
  rejected(): Sink<RejectedRecord> {
    return this.jsonLines<RejectedRecord>("_rejected");
  }
}
