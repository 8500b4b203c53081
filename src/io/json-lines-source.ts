import { isUtf8 } from "node:buffer";
import { knownOptions } from "../core/option-checks.js";
import type {
  Infer,
  JsonValue,
  RejectedRecord,
  Schema,
  Source,
  SourceBatch,
  SourceReadContext,
  SplitContext,
} from "../core/index.js";
import type { S3Settings } from "./s3.js";
import { isGzipName, isReadWholeOnly, textBytesOf } from "./archives.js";
import { unreadableAsText } from "./text-encodings.js";
import { damagedBookkeeping } from "./bookkeeping.js";
import { listBookkeeping } from "./inventory.js";
import { isLiteralInput, type ListedAs, type ListedFile, listFiles, readAll, readBytes } from "./storage.js";
import { readsOnlyWhatItHolds } from "../core/module-state.js";

export interface JsonLinesOptions {
  /** Records that do not fit are rejected with the reason. */
  readonly schema?: Schema;
  readonly s3?: S3Settings;
  /**
   * Files larger than this are cut into byte ranges; smaller ones are grouped. Default: the input
   * spread over two splits per thread, between 1 MiB and 16 MiB (a task holds its shuffle output
   * until it ends, so smaller splits mean a lower peak of memory; a small input still gives every
   * thread work).
   */
  readonly splitBytes?: number;
  /** Lines longer than this are rejected without being held whole. Default 16 MiB. */
  readonly maxRecordBytes?: number;
  /**
   * The files to read, as the caller listed them (URI and size), instead of listing `uri` again:
   * a driver that has listed the input already (a daily load, which reads only the new files)
   * saves a second listing. Used where the input is cut into splits, on the main thread.
   */
  readonly files?: readonly ListedFile[];
  /**
   * The records are a pipeline's own bookkeeping (what it kept from an earlier run), not input:
   * they are not counted as records read, so neither in the base of a percentage reject limit,
   * and a damaged one fails the run instead of being set aside (bookkeeping.ts). Listed from a
   * table a lake committed, the files must be those its commit recorded, at their sizes
   * (inventory.ts).
   */
  readonly bookkeeping?: boolean;
}

const JSON_LINES_OPTIONS: Record<keyof JsonLinesOptions, true> = {
  schema: true,
  s3: true,
  splitBytes: true,
  maxRecordBytes: true,
  files: true,
  bookkeeping: true,
};

/** A piece of a file: bytes [start, end) and the lines that begin in them, and the file's size. */
/**
 * A range of a file to read; `version` and `identity`, what its listing gave for a file cut into
 * several ranges, so that each is read from the content that was listed (storage.ts's `readBytes`).
 */
type FileRange =
  | [uri: string, start: number, end: number, size: number]
  | [uri: string, start: number, end: number, size: number, version: string | null]
  | [uri: string, start: number, end: number, size: number, version: string | null, identity: string];

/**
 * Files up to this size are read whole in one call, a few ahead of the one being parsed. Through a
 * stream, each small file cost an open, a 1 MiB read buffer and a close: 100,000 one-line files
 * spent most of their time allocating and collecting those buffers.
 */
const SMALL_FILE_BYTES = 1024 * 1024;
/** Small files requested ahead of the one being parsed (S3 answers each after a round trip). */
const SMALL_FILES_AHEAD = 16;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** What `_rejected/` keeps of a line longer than the maximum record size: its first bytes. */
const OVERSIZE_PREFIX_BYTES = 4096;

function isBlank(bytes: Uint8Array, from: number, to: number): boolean {
  for (let index = from; index < to; index++) {
    const byte = bytes[index];
    if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}

/**
 * True when a file's first line is a lone `[` or `{`: the start of a pretty-printed JSON document,
 * which a JSON-lines reader rejects a line at a time without the reason being plain.
 */
function opensDocument(bytes: Uint8Array, from: number, to: number): boolean {
  let first = -1;
  for (let index = from; index < to; index++) {
    const byte = bytes[index]!;
    if (byte === 0x20 || byte === 0x09 || byte === CARRIAGE_RETURN) continue;
    if (first >= 0) return false;
    first = byte;
  }
  return first === 0x5b || first === 0x7b;
}

/**
 * JSON lines (one record per line) from local files or S3 objects matching a URI glob.
 *
 * Splits are byte ranges: a line belongs to the range its first byte lies in, so any cut of a file
 * yields each line exactly once. Lines are split on `\n` (a `\r` before it is dropped, a leading
 * byte-order mark too), checked for UTF-8, and given to `JSON.parse`: per line, the fastest way to
 * read JSON lines in Node (the token-level streaming parser is about ten times slower). The split
 * is done here rather than by a library because rejected records must carry their byte offset.
 */
export class JsonLinesSource<T> implements Source<T> {
  constructor(
    readonly uri: string,
    private readonly options: JsonLinesOptions = {},
  ) {}

  get description(): string {
    return this.uri;
  }

  get literalInput(): boolean {
    return isLiteralInput(this.uri, this.options.files);
  }

  async splits(context?: SplitContext): Promise<JsonValue[]> {
    const list = this.options.bookkeeping ? listBookkeeping : listFiles;
    const files = this.options.files ?? (await list(this.uri, this.options.s3));
    const totalBytes = files.reduce((total, file) => total + file.size, 0);
    return cutIntoSplits(
      files,
      this.options.splitBytes ?? splitBytesFor(totalBytes, context?.parallelism ?? 1),
    );
  }

  bytesOf(split: JsonValue): number {
    return (split as FileRange[]).reduce(
      (total, [uri, start, end]) => total + textBytesOf(uri, end - start),
      0,
    );
  }

  describeSplit(split: JsonValue): string {
    const ranges = split as FileRange[];
    const first = ranges[0];
    if (!first) return "an empty split";
    return ranges.length === 1
      ? `${first[0]} bytes ${first[1]}..${first[2]}`
      : `${first[0]} and ${ranges.length - 1} more file(s)`;
  }

  async *read(split: JsonValue, context: SourceReadContext): AsyncGenerator<SourceBatch<T>> {
    const ranges = split as FileRange[];
    // A .gz file's listed size is its compressed size: it is streamed, whatever that size.
    const isSmall = ([uri, start, end, size]: FileRange) =>
      start === 0 && end === size && size <= SMALL_FILE_BYTES && !isGzipName(uri);
    const fetched = new Map<number, Promise<Buffer>>();
    let nextFetch = 0;
    for (const [index, range] of ranges.entries()) {
      while (nextFetch < ranges.length && nextFetch <= index + SMALL_FILES_AHEAD) {
        const ahead = ranges[nextFetch]!;
        if (isSmall(ahead)) {
          const read = readAll(ahead[0], this.options.s3);
          read.catch(() => undefined); // awaited below, in order; this only keeps it from being unhandled
          fetched.set(nextFetch, read);
        }
        nextFetch++;
      }
      const [uri, start, listedEnd, size, version, identity] = range;
      // Compressed data is read to its end, which its listed size does not tell.
      const end = isReadWholeOnly(uri) ? Number.POSITIVE_INFINITY : listedEnd;
      const whole = fetched.get(index);
      fetched.delete(index);
      // A file cut into ranges is read as listed (storage.ts's readBytes).
      const listed: ListedAs | undefined =
        start > 0 || listedEnd < size
          ? {
              size,
              ...(version === undefined || version === null ? {} : { version }),
              ...(identity === undefined ? {} : { identity }),
            }
          : undefined;
      yield* this.readRange(uri, start, end, context, whole ? [await whole] : undefined, listed);
    }
  }

  /** One range; `chunks`: the whole file, already read, or undefined to stream it. */
  private async *readRange(
    uri: string,
    start: number,
    end: number,
    context: SourceReadContext,
    chunks: Iterable<Uint8Array> | undefined,
    listed: ListedAs | undefined,
  ): AsyncGenerator<SourceBatch<T>> {
    const lines = new LineReader<T>(uri, start, end, context, this.options);
    // Read from one byte before the range: if that byte is a newline, a line starts at `start`.
    for await (const read of chunks ?? readBytes(uri, this.options.s3, lines.readFrom, listed)) {
      const chunk = Buffer.isBuffer(read) ? read : Buffer.from(read.buffer, read.byteOffset, read.byteLength);
      context.addBytesRead(chunk.byteLength);
      lines.startChunk(chunk);
      while (lines.takeLines()) yield lines.takeBatch();
      if (lines.finished) break;
      lines.endChunk();
    }
    lines.finish();
    if (lines.hasRecords) yield lines.takeBatch();
    lines.countSeen();
  }
}

/**
 * The lines of one byte range, taken a chunk at a time. A class rather than closures in the
 * reading generator: the parsing loop is then one method that V8 optimizes once per thread. As
 * closures made anew for every range, its optimized code was tied to the first range's and thrown
 * away at the next, and each thread compiled the loop again for every file it read.
 */
class LineReader<T> {
  /** Where reading starts: one byte before the range, whose newline says a line starts at `start`. */
  readonly readFrom: number;
  finished = false;
  private readonly schema: Schema | undefined;
  private readonly maxRecordBytes: number;
  private readonly bookkeeping: boolean;
  /** Line numbers are known only when reading from the start of the file. */
  private lineNumber: number | undefined;
  private records: T[] = [];
  private offsets: number[] = [];
  private lines: number[] = [];
  /** The file offset of the current chunk's first byte. */
  private position: number;
  /** The file offset of the line being read; -1 while still looking for the first line start. */
  private lineStart: number;
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  /** The length of the line being carried across chunks, once it is past the maximum record size. */
  private oversize: number | false = false;
  /** Lines seen and not yet counted in the task's records seen: counted a batch at a time. */
  private seen = 0;
  // The chunk being read.
  private chunk: Buffer = EMPTY_CHUNK;
  private cursor = 0;
  private firstNewline = -1;
  private wholeLinesAreUtf8 = false;

  constructor(
    private readonly uri: string,
    start: number,
    private readonly end: number,
    private readonly context: SourceReadContext,
    options: JsonLinesOptions,
  ) {
    this.schema = options.schema;
    this.maxRecordBytes = options.maxRecordBytes ?? 16 * 1024 * 1024;
    this.bookkeeping = options.bookkeeping === true;
    this.lineNumber = start === 0 ? 0 : undefined;
    this.readFrom = start > 0 ? start - 1 : 0;
    this.position = this.readFrom;
    this.lineStart = start > 0 ? -1 : 0;
  }

  get hasRecords(): boolean {
    return this.records.length > 0;
  }

  startChunk(chunk: Buffer): void {
    this.chunk = chunk;
    this.cursor = 0;
    // The lines that lie whole between the chunk's first and last newlines are checked for UTF-8
    // in one call; only the lines at the chunk's edges are checked one by one.
    this.firstNewline = chunk.indexOf(NEWLINE);
    const lastNewline = chunk.lastIndexOf(NEWLINE);
    this.wholeLinesAreUtf8 =
      lastNewline > this.firstNewline && isUtf8(chunk.subarray(this.firstNewline + 1, lastNewline));
  }

  endChunk(): void {
    this.position += this.chunk.byteLength;
    this.chunk = EMPTY_CHUNK;
  }

  /**
   * Reads the chunk's lines from where it stopped, until the chunk ends (false) or a batch is
   * full (true: take it, then call again). Sets `finished` past the range's last line.
   */
  takeLines(): boolean {
    if (this.finished) return false;
    const chunk = this.chunk;
    const batchSize = this.context.batchSize;
    while (this.cursor < chunk.byteLength) {
      const cursor = this.cursor;
      const newline = chunk.indexOf(NEWLINE, cursor);
      const pieceEnd = newline < 0 ? chunk.byteLength : newline;
      if (this.lineStart < 0) {
        if (newline < 0) return false;
        this.lineStart = this.position + newline + 1;
        this.cursor = newline + 1;
        if (this.lineStart >= this.end) {
          this.finished = true;
          return false;
        }
        continue;
      }
      if (
        this.carry.length === 0 &&
        this.oversize === false &&
        newline >= 0 &&
        pieceEnd - cursor <= this.maxRecordBytes
      ) {
        // The common case: the whole line lies in this chunk.
        this.handleLine(
          chunk,
          cursor,
          pieceEnd,
          this.lineStart,
          false,
          this.wholeLinesAreUtf8 && cursor > this.firstNewline,
        );
      } else {
        const piece = chunk.subarray(cursor, pieceEnd);
        if (this.oversize !== false) {
          this.oversize += piece.byteLength;
        } else if (this.carryBytes + piece.byteLength > this.maxRecordBytes) {
          this.oversize = this.carryBytes + piece.byteLength;
          // Keep the beginning only, for the rejected-records output.
          this.carry = [Buffer.concat([...this.carry, piece]).subarray(0, OVERSIZE_PREFIX_BYTES)];
        } else {
          this.carry.push(piece);
        }
        this.carryBytes += piece.byteLength;
        if (newline < 0) {
          this.cursor = chunk.byteLength;
          return false;
        }
        const line = Buffer.concat(this.carry);
        this.handleLine(line, 0, line.byteLength, this.lineStart, this.oversize, false);
      }
      this.carry = [];
      this.carryBytes = 0;
      this.oversize = false;
      this.lineStart = this.position + newline + 1;
      this.cursor = newline + 1;
      if (this.lineStart >= this.end) this.finished = true;
      if (this.records.length >= batchSize) return true;
      if (this.finished) return false;
    }
    return false;
  }

  /** The last line, when the range ends in the middle of it (a file without a final newline). */
  finish(): void {
    if (
      !this.finished &&
      this.lineStart >= 0 &&
      this.lineStart < this.end &&
      (this.carryBytes > 0 || this.oversize !== false)
    ) {
      const line = Buffer.concat(this.carry);
      this.handleLine(line, 0, line.byteLength, this.lineStart, this.oversize, false);
    }
  }

  /** Adds the lines seen since the last count to the task's records seen. */
  countSeen(): void {
    if (this.seen > 0) this.context.addRecordsSeen(this.seen);
    this.seen = 0;
  }

  /** The records read so far, as a batch, and a new batch begun. */
  takeBatch(): SourceBatch<T> {
    this.countSeen();
    const uri = this.uri;
    const batchOffsets = this.offsets;
    const batchLines = this.lines;
    const batch: SourceBatch<T> = {
      records: this.records,
      origin: (index) =>
        batchLines.length > 0 ? `${uri} line ${batchLines[index]}` : `${uri} byte ${batchOffsets[index]}`,
    };
    this.records = [];
    this.offsets = [];
    this.lines = [];
    return batch;
  }

  /**
   * One line: `bytes[from, to)`, starting at byte `offset` of the file. The line is passed as a
   * range of the chunk it lies in, not as a view of its own: a million lines would otherwise
   * make a million Buffer objects. `knownUtf8`: the caller already checked the bytes.
   */
  private handleLine(
    bytes: Buffer,
    lineFrom: number,
    lineTo: number,
    offset: number,
    oversize: number | false,
    knownUtf8: boolean,
  ): void {
    if (this.lineNumber !== undefined) this.lineNumber++;
    let from = lineFrom;
    let to = lineTo;
    if (to > from && bytes[to - 1] === CARRIAGE_RETURN) to--;
    if (offset === 0 && bytes[from] === 0xef && bytes[from + 1] === 0xbb && bytes[from + 2] === 0xbf)
      from += 3;
    if (offset === 0) {
      const misnamed = unreadableAsText(this.uri, bytes, from);
      if (misnamed) throw misnamed;
    }
    if (oversize === false && isBlank(bytes, from, to)) return;
    if (!this.bookkeeping) this.seen++;
    if (oversize !== false) {
      this.reject(
        bytes.subarray(from, to),
        offset,
        `line of ${oversize} bytes is longer than the maximum record size of ${this.maxRecordBytes} bytes (its first ${OVERSIZE_PREFIX_BYTES} bytes are kept)`,
      );
      return;
    }
    if (!knownUtf8 && !isUtf8(bytes.subarray(from, to))) {
      this.reject(bytes.subarray(from, to), offset, "not valid UTF-8");
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString("utf8", from, to));
    } catch (error) {
      this.reject(
        bytes.subarray(from, to),
        offset,
        `not valid JSON (${(error as Error).message})${offset === 0 && opensDocument(bytes, from, to) ? ": the file looks like one JSON document over many lines, which jsonDocuments reads" : ""}`,
      );
      return;
    }
    const schema = this.schema;
    if (schema) {
      // recordOf per line (no result object); parse only for a line that does not fit, for why.
      const record = schema.recordOf(value);
      if (record !== undefined) value = record;
      else {
        const parsed = schema.parse(value);
        if ("problem" in parsed) {
          this.reject(bytes.subarray(from, to), offset, parsed.problem);
          return;
        }
        value = parsed.record;
      }
    }
    this.records.push(value as T);
    this.offsets.push(offset);
    if (this.lineNumber !== undefined) this.lines.push(this.lineNumber);
  }

  /**
   * A rejected line is kept whole (it is at most the maximum record size), so that `_rejected/`
   * holds exactly what was rejected; a line past that size keeps its first bytes.
   */
  private reject(bytes: Uint8Array, offset: number, reason: string): void {
    const line = this.lineNumber;
    if (this.bookkeeping)
      throw damagedBookkeeping(
        `${this.uri} ${line !== undefined ? `line ${line}` : `byte ${offset}`}`,
        reason,
      );
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
    const record: RejectedRecord = {
      text,
      source: this.uri,
      offset,
      ...(line !== undefined ? { line } : {}),
      reason,
    };
    this.context.reject(record);
  }
}

const EMPTY_CHUNK = Buffer.alloc(0);

const MAX_SPLIT_BYTES = 16 * 1024 * 1024;
const MIN_SPLIT_BYTES = 1024 * 1024;

/**
 * The default split size, as Spark sizes file splits: the input spread over the threads (two
 * splits each, so that a slow one can be balanced), at most 16 MiB and at least 1 MiB, below which
 * a task's fixed cost outweighs what it reads. Four files of 3.5 MB on two threads are read by
 * four tasks or more, not by one; a large input keeps 16 MiB splits.
 */
export function splitBytesFor(totalBytes: number, parallelism: number): number {
  return Math.min(MAX_SPLIT_BYTES, Math.max(MIN_SPLIT_BYTES, Math.ceil(totalBytes / (2 * parallelism))));
}

/** Groups small files into splits of about `splitBytes` and cuts large ones into byte ranges. */
export function cutIntoSplits(
  files: readonly { uri: string; size: number; version?: string; identity?: string }[],
  splitBytes: number,
): FileRange[][] {
  const splits: FileRange[][] = [];
  let group: FileRange[] = [];
  let groupBytes = 0;
  for (const file of files) {
    // Compressed files cannot be entered in the middle: one split each when large.
    if (file.size > splitBytes && isReadWholeOnly(file.uri)) {
      splits.push([[file.uri, 0, file.size, file.size]]);
      continue;
    }
    if (file.size > splitBytes) {
      for (let start = 0; start < file.size; start += splitBytes) {
        const end = Math.min(file.size, start + splitBytes);
        splits.push([
          file.version === undefined && file.identity === undefined
            ? [file.uri, start, end, file.size]
            : file.identity === undefined
              ? [file.uri, start, end, file.size, file.version ?? null]
              : [file.uri, start, end, file.size, file.version ?? null, file.identity],
        ]);
      }
      continue;
    }
    group.push([file.uri, 0, file.size, file.size]);
    groupBytes += file.size;
    if (groupBytes >= splitBytes) {
      splits.push(group);
      group = [];
      groupBytes = 0;
    }
  }
  if (group.length > 0) splits.push(group);
  return splits;
}

/** Reads JSON lines from a URI glob: `jsonLines("s3://bucket/log_data/**\/*.json", { schema })`. */
export function jsonLines<S extends Schema>(
  uri: string,
  options: JsonLinesOptions & { schema: S },
): JsonLinesSource<Infer<S>>;
export function jsonLines<T = unknown>(uri: string, options?: JsonLinesOptions): JsonLinesSource<T>;
export function jsonLines(uri: string, options: JsonLinesOptions = {}): JsonLinesSource<unknown> {
  knownOptions(options, JSON_LINES_OPTIONS, "jsonLines");
  return new JsonLinesSource(uri, options);
}

readsOnlyWhatItHolds(JsonLinesSource);
