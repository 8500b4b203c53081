import { isUtf8 } from "node:buffer";
import type {
  Infer,
  JsonValue,
  RejectedRecord,
  Schema,
  Source,
  SourceBatch,
  SourceReadContext,
} from "../core/index.js";
import type { S3Settings } from "./s3.js";
import { listFiles, readBytes } from "./storage.js";

export interface JsonLinesOptions {
  /** Records that do not fit are rejected with the reason. */
  readonly schema?: Schema;
  readonly s3?: S3Settings;
  /**
   * Files larger than this are cut into byte ranges; smaller ones are grouped. Default 16 MiB: a
   * task holds its shuffle output until it ends, so smaller splits mean a lower peak of memory.
   */
  readonly splitBytes?: number;
  /** Lines longer than this are rejected without being held whole. Default 16 MiB. */
  readonly maxRecordBytes?: number;
}

/** A piece of a file: bytes [start, end) and the lines that begin in them. */
type FileRange = [uri: string, start: number, end: number];

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const REJECTED_TEXT_LIMIT = 4096;

function isBlank(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
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

  async splits(): Promise<JsonValue[]> {
    const files = await listFiles(this.uri, this.options.s3);
    return cutIntoSplits(files, this.options.splitBytes ?? 16 * 1024 * 1024);
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
    for (const [uri, start, end] of split as FileRange[]) {
      yield* this.readRange(uri, start, end, context);
    }
  }

  private async *readRange(
    uri: string,
    start: number,
    end: number,
    context: SourceReadContext,
  ): AsyncGenerator<SourceBatch<T>> {
    const schema = this.options.schema;
    const maxRecordBytes = this.options.maxRecordBytes ?? 16 * 1024 * 1024;
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

    const reject = (bytes: Uint8Array, offset: number, line: number | undefined, reason: string) => {
      const text = Buffer.from(bytes.subarray(0, REJECTED_TEXT_LIMIT)).toString("utf8");
      const record: RejectedRecord = {
        text,
        source: uri,
        offset,
        ...(line !== undefined ? { line } : {}),
        reason,
      };
      context.reject(record);
    };

    const handleLine = (line: Uint8Array, offset: number, oversize: boolean) => {
      if (lineNumber !== undefined) lineNumber++;
      let body = line;
      if (body.length > 0 && body[body.length - 1] === CARRIAGE_RETURN)
        body = body.subarray(0, body.length - 1);
      if (offset === 0 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
      if (!oversize && isBlank(body)) return;
      context.addRecordsSeen(1);
      if (oversize) {
        reject(
          body,
          offset,
          lineNumber,
          `line longer than the maximum record size of ${maxRecordBytes} bytes`,
        );
        return;
      }
      if (!isUtf8(body)) {
        reject(body, offset, lineNumber, "not valid UTF-8");
        return;
      }
      const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        reject(body, offset, lineNumber, `not valid JSON (${(error as Error).message})`);
        return;
      }
      const problem = schema?.problem(value);
      if (problem) {
        reject(body, offset, lineNumber, problem);
        return;
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
    let oversize = false;
    let finished = false;

    for await (const chunk of readBytes(uri, this.options.s3, readFrom)) {
      context.addBytesRead(chunk.byteLength);
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
        const piece = chunk.subarray(cursor, pieceEnd);
        if (!oversize) {
          if (carryBytes + piece.byteLength > maxRecordBytes) {
            oversize = true;
            // Keep the beginning only, for the rejected-records output.
            carry = [Buffer.concat([...carry, piece]).subarray(0, REJECTED_TEXT_LIMIT)];
          } else {
            carry.push(piece);
          }
          carryBytes += piece.byteLength;
        }
        if (newline < 0) break;
        const line = carry.length === 1 ? carry[0]! : Buffer.concat(carry);
        handleLine(line, lineStart, oversize);
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
    if (!finished && lineStart >= 0 && lineStart < end && (carryBytes > 0 || oversize)) {
      handleLine(carry.length === 1 ? carry[0]! : Buffer.concat(carry), lineStart, oversize);
    }
    if (records.length > 0) yield batchOf();
  }
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
    if (file.size > splitBytes) {
      for (let start = 0; start < file.size; start += splitBytes) {
        splits.push([[file.uri, start, Math.min(file.size, start + splitBytes)]]);
      }
      continue;
    }
    group.push([file.uri, 0, file.size]);
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
