import type { JsonValue } from "./keys.js";

/** A record that could not be read, with where it came from and why. */
export interface RejectedRecord {
  /** The original text (a line, or a whole document), as far as it could be decoded. */
  readonly text: string;
  /** The file path or S3 URI it came from. */
  readonly source: string;
  /** Byte offset of the record in its file, where known. */
  readonly offset?: number;
  /** 1-based line number, where known. */
  readonly line?: number;
  /** 1-based row number, for a record read from a file of rows (Parquet), which has no lines. */
  readonly row?: number;
  readonly reason: string;
}

/** What a source sees while a task reads one split. */
export interface SourceReadContext {
  /** Records per batch the source should aim for. */
  readonly batchSize: number;
  /** Sends a record that cannot be read to the pipeline's rejected-records output and counts it. */
  reject(record: RejectedRecord): void;
  /** Counts bytes read from storage. */
  addBytesRead(bytes: number): void;
  /** Counts input records seen (valid or not; blank lines excluded), the base of a percentage limit. */
  addRecordsSeen(count: number): void;
}

/** A batch of records from a source; `origin(i)` says where record i came from, for error messages. */
export interface SourceBatch<T> {
  readonly records: T[];
  origin?(index: number): string;
}

/** What a source knows of the run when it cuts its input. */
export interface SplitContext {
  /** Tasks the run executes at once (threads of the pool, 1 on the direct runner). */
  readonly parallelism: number;
}

/**
 * Where data enters a pipeline. `splits` runs once on the main thread and cuts the input into
 * pieces of work (plain JSON); `read` runs in whichever thread runs the task, so workers do their
 * own I/O and the main thread never carries data.
 */
export interface Source<T> {
  /** A short description for plans and errors, e.g. `s3://bucket/log_data/**\/*.json`. */
  readonly description: string;
  /**
   * The input cut into pieces of work. `context.parallelism` is how many tasks the run executes at
   * once: a source sizes its pieces so that a small input still gives every thread work.
   */
  splits(context?: SplitContext): Promise<JsonValue[]>;
  /**
   * The bytes of input one split covers, as text. A run sizes its shuffles from the sum over its
   * sources (definition.ts); a source that cannot tell leaves it out, and the run then takes the
   * most partitions.
   */
  bytesOf?(split: JsonValue): number;
  read(split: JsonValue, context: SourceReadContext): AsyncIterable<SourceBatch<T>>;
  /** Describes one split for error messages, e.g. the file it covers. */
  describeSplit?(split: JsonValue): string;
  /**
   * True when the source names its input literally: a folder, a file or a prefix, with no
   * wildcard and no list of files given. Finding no file there is then a mistake (a misspelt or
   * missing path), and the run fails unless its read says `required: false`; a wildcard that
   * matches nothing reads nothing, as Beam's file patterns do.
   */
  readonly literalInput?: boolean;
}

/** What a sink writer knows about the task it writes for. */
export interface TaskContext {
  readonly runId: string;
  readonly stageId: number;
  /** Unique within the job: used in output file names. */
  readonly taskId: string;
}

/** Writes one task's records; `close` returns what the job commit needs to know (JSON). */
export interface SinkWriter<T> {
  write(records: readonly T[]): Promise<void>;
  close(): Promise<JsonValue>;
  /** Discards what this task wrote. */
  abort(): Promise<void>;
}

/** The job-level side of one or more sinks: set up before the first task, commit after the last. */
export interface JobCommitter {
  /** Equal ids mean the same committer, also across threads. */
  readonly id: string;
  /**
   * The folder on this machine's disk its tasks write to, if any: a runner past one machine
   * checks that every worker sees it at the same path before it runs a task there.
   */
  readonly localFolder?: string | undefined;
  /** Runs before any task: recovers interrupted commits, checks the write mode. */
  setup(runId: string): Promise<void>;
  /** Makes every task's output visible at once. */
  commit(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<void>;
  /** Removes what the run staged (the tasks' messages say what); called when the job fails. */
  /** Returns what it could not remove, described for the person running the job (empty when all went). */
  abort(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<string[]>;
}

/** Where data leaves a pipeline. Sinks sharing a committer commit together, as one transaction. */
export interface Sink<T> {
  /** Unique within a pipeline, e.g. the table name. */
  readonly name: string;
  readonly committer: JobCommitter;
  /** When set, each task's records reach the writer in this order (see `sortWithinPartitions`). */
  sortBy?(record: T): unknown;
  openWriter(context: TaskContext): Promise<SinkWriter<T>>;
}
