import { isUtf8 } from "node:buffer";
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
import { type ListedFile, listFiles, readAll, readBytes } from "./storage.js";

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
   * they are not counted as records read, so neither in the base of a percentage reject limit.
   */
  readonly bookkeeping?: boolean;
}

/** A piece of a file: bytes [start, end) and the lines that begin in them, and the file's size. */
type FileRange = [uri: string, start: number, end: number, size: number];

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

  async splits(context?: SplitContext): Promise<JsonValue[]> {
    const files = this.options.files ?? (await listFiles(this.uri, this.options.s3));
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
      const [uri, start, listedEnd] = range;
      // Compressed data is read to its end, which its listed size does not tell.
      const end = isReadWholeOnly(uri) ? Number.POSITIVE_INFINITY : listedEnd;
      const whole = fetched.get(index);
      fetched.delete(index);
      yield* this.readRange(uri, start, end, context, whole ? [await whole] : undefined);
    }
  }

  /** One range; `chunks`: the whole file, already read, or undefined to stream it. */
  private async *readRange(
    uri: string,
    start: number,
    end: number,
    context: SourceReadContext,
    chunks: Iterable<Uint8Array> | undefined,
  ): AsyncGenerator<SourceBatch<T>> {
    const schema = this.options.schema;
    const maxRecordBytes = this.options.maxRecordBytes ?? 16 * 1024 * 1024;
    const bookkeeping = this.options.bookkeeping === true;
    // Line numbers are known only when reading from the start of the file.
    let lineNumber = start === 0 ? 0 : undefined;
    let records: T[] = [];
    let offsets: number[] = [];
    let lines: number[] = [];
    const batchOf = (): SourceBatch<T> => {
      const batchOffsets = offsets;
      const batchLines = lines;
      return {
        records,
        origin: (index) =>
          batchLines.length > 0 ? `${uri} line ${batchLines[index]}` : `${uri} byte ${batchOffsets[index]}`,
      };
    };

    // A rejected line is kept whole (it is at most the maximum record size), so that `_rejected/`
    // holds exactly what was rejected; a line past that size keeps its first bytes.
    const reject = (bytes: Uint8Array, offset: number, line: number | undefined, reason: string) => {
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
      const record: RejectedRecord = {
        text,
        source: uri,
        offset,
        ...(line !== undefined ? { line } : {}),
        reason,
      };
      context.reject(record);
    };

    /**
     * One line: `bytes[from, to)`, starting at byte `offset` of the file. The line is passed as a
     * range of the chunk it lies in, not as a view of its own: a million lines would otherwise
     * make a million Buffer objects. `knownUtf8`: the caller already checked the bytes.
     */
    const handleLine = (
      bytes: Buffer,
      lineFrom: number,
      lineTo: number,
      offset: number,
      oversize: number | false,
      knownUtf8: boolean,
    ) => {
      if (lineNumber !== undefined) lineNumber++;
      let from = lineFrom;
      let to = lineTo;
      if (to > from && bytes[to - 1] === CARRIAGE_RETURN) to--;
      if (offset === 0 && bytes[from] === 0xef && bytes[from + 1] === 0xbb && bytes[from + 2] === 0xbf)
        from += 3;
      if (oversize === false && isBlank(bytes, from, to)) return;
      if (!bookkeeping) context.addRecordsSeen(1);
      if (oversize !== false) {
        reject(
          bytes.subarray(from, to),
          offset,
          lineNumber,
          `line of ${oversize} bytes is longer than the maximum record size of ${maxRecordBytes} bytes (its first ${OVERSIZE_PREFIX_BYTES} bytes are kept)`,
        );
        return;
      }
      if (!knownUtf8 && !isUtf8(bytes.subarray(from, to))) {
        reject(bytes.subarray(from, to), offset, lineNumber, "not valid UTF-8");
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString("utf8", from, to));
      } catch (error) {
        reject(bytes.subarray(from, to), offset, lineNumber, `not valid JSON (${(error as Error).message})`);
        return;
      }
      if (schema) {
        // recordOf per line (no result object); parse only for a line that does not fit, for why.
        const record = schema.recordOf(value);
        if (record !== undefined) value = record;
        else {
          const parsed = schema.parse(value);
          if ("problem" in parsed) {
            reject(bytes.subarray(from, to), offset, lineNumber, parsed.problem);
            return;
          }
          value = parsed.record;
        }
      }
      records.push(value as T);
      offsets.push(offset);
      if (lineNumber !== undefined) lines.push(lineNumber);
    };

    // Read from one byte before the range: if that byte is a newline, a line starts at `start`.
    const readFrom = start > 0 ? start - 1 : 0;
    let position = readFrom;
    let lineStart = start > 0 ? -1 : 0; // -1: still looking for the first line start
    let carry: Uint8Array[] = [];
    let carryBytes = 0;
    /** The length of the line being carried across chunks, once it is past the maximum record size. */
    let oversize: number | false = false;
    let finished = false;

    for await (const read of chunks ?? readBytes(uri, this.options.s3, readFrom)) {
      const chunk = Buffer.isBuffer(read) ? read : Buffer.from(read.buffer, read.byteOffset, read.byteLength);
      context.addBytesRead(chunk.byteLength);
      // The lines that lie whole between the chunk's first and last newlines are checked for UTF-8
      // in one call; only the lines at the chunk's edges are checked one by one.
      const firstNewline = chunk.indexOf(NEWLINE);
      const lastNewline = chunk.lastIndexOf(NEWLINE);
      const wholeLinesAreUtf8 =
        lastNewline > firstNewline && isUtf8(chunk.subarray(firstNewline + 1, lastNewline));
      let cursor = 0;
      while (cursor < chunk.byteLength) {
        const newline = chunk.indexOf(NEWLINE, cursor);
        const pieceEnd = newline < 0 ? chunk.byteLength : newline;
        if (lineStart < 0) {
          if (newline < 0) break;
          lineStart = position + newline + 1;
          cursor = newline + 1;
          if (lineStart >= end) {
            finished = true;
            break;
          }
          continue;
        }
        if (carry.length === 0 && oversize === false && newline >= 0 && pieceEnd - cursor <= maxRecordBytes) {
          // The common case: the whole line lies in this chunk.
          handleLine(chunk, cursor, pieceEnd, lineStart, false, wholeLinesAreUtf8 && cursor > firstNewline);
        } else {
          const piece = chunk.subarray(cursor, pieceEnd);
          if (oversize !== false) {
            oversize += piece.byteLength;
          } else if (carryBytes + piece.byteLength > maxRecordBytes) {
            oversize = carryBytes + piece.byteLength;
            // Keep the beginning only, for the rejected-records output.
            carry = [Buffer.concat([...carry, piece]).subarray(0, OVERSIZE_PREFIX_BYTES)];
          } else {
            carry.push(piece);
          }
          carryBytes += piece.byteLength;
          if (newline < 0) break;
          const line = Buffer.concat(carry);
          handleLine(line, 0, line.byteLength, lineStart, oversize, false);
        }
        carry = [];
        carryBytes = 0;
        oversize = false;
        lineStart = position + newline + 1;
        cursor = newline + 1;
        if (records.length >= context.batchSize) {
          yield batchOf();
          records = [];
          offsets = [];
          lines = [];
        }
        if (lineStart >= end) {
          finished = true;
          break;
        }
      }
      position += chunk.byteLength;
      if (finished) break;
    }
    if (!finished && lineStart >= 0 && lineStart < end && (carryBytes > 0 || oversize !== false)) {
      const line = Buffer.concat(carry);
      handleLine(line, 0, line.byteLength, lineStart, oversize, false);
    }
    if (records.length > 0) yield batchOf();
  }
}

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
  files: readonly { uri: string; size: number }[],
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
        splits.push([[file.uri, start, Math.min(file.size, start + splitBytes), file.size]]);
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
  return new JsonLinesSource(uri, options);
}
