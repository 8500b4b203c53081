import { isUtf8 } from "node:buffer";
import { Readable } from "node:stream";
import { knownOptions } from "../core/option-checks.js";
import type {
  Infer,
  JsonValue,
  Schema,
  Source,
  SourceBatch,
  SourceReadContext,
  SplitContext,
} from "../core/index.js";
import { textBytesOf } from "./archives.js";
import { unreadableAsText } from "./text-encodings.js";
import { splitBytesFor } from "./json-lines-source.js";
import { requestsAtOnce, type S3Settings } from "./s3.js";
import { isLiteralInput, type ListedFile, listFiles, readAll, readBytes } from "./storage.js";
import { readsOnlyWhatItHolds } from "../core/module-state.js";

/**
 * The streaming JSON parser, imported when the first document too large to parse whole is read: a
 * CommonJS package of some twenty modules that every worker would otherwise parse as it starts.
 */
type StreamArray = typeof import("stream-json/streamers/stream-array.js")["default"];
let streamArrayModule: Promise<StreamArray> | undefined;
function loadStreamArray(): Promise<StreamArray> {
  streamArrayModule ??= import("stream-json/streamers/stream-array.js").then((module) => module.default);
  return streamArrayModule;
}

export interface JsonDocumentsOptions {
  readonly schema?: Schema;
  readonly s3?: S3Settings;
  /** A top-level array gives one record per element (default); otherwise the whole value is one record. */
  readonly arrayElements?: boolean;
  /** Files up to this size are parsed whole; larger ones are streamed element by element. Default 16 MiB. */
  readonly streamAboveBytes?: number;
  /**
   * Files per split; many small documents share a task. Default: the files spread over two splits
   * per thread, at most `MAX_FILES_PER_SPLIT` files and the bytes a JSON-lines split takes
   * (`splitBytesFor`) per split.
   */
  readonly filesPerSplit?: number;
  /**
   * The files to read, as the caller listed them (URI and size), instead of listing `uri` again:
   * a driver that has listed the input already (a daily load, which reads only the new files)
   * saves a second listing. Used where the input is cut into splits, on the main thread.
   */
  readonly files?: readonly ListedFile[];
  /** Adds the file's path or S3 URI to each record under this name (for rules such as "the first file wins"). */
  readonly originField?: string;
}

const JSON_DOCUMENTS_OPTIONS: Record<keyof JsonDocumentsOptions, true> = {
  schema: true,
  s3: true,
  arrayElements: true,
  streamAboveBytes: true,
  filesPerSplit: true,
  files: true,
  originField: true,
};

type FileRef = [uri: string, size: number];

/**
 * The most files a split takes by default. Each split is a task that writes a block to every
 * partition of the shuffle after it: splits of a few hundred small documents made blocks of a few
 * rows by the hundred thousand (200,000 song files were 790 splits writing to 277 partitions),
 * whose bookkeeping the main thread held. A split of this many song files is read in a fraction
 * of a second.
 */
export const MAX_FILES_PER_SPLIT = 4096;

/**
 * Consecutive files in splits of at most `maxFiles` files and `maxBytes` bytes (a larger file
 * alone), each split taking files until the next would not fit.
 */
function packFiles(files: readonly ListedFile[], maxFiles: number, maxBytes: number): FileRef[][] {
  const splits: FileRef[][] = [];
  let current: FileRef[] = [];
  let bytes = 0;
  for (const file of files) {
    const size = textBytesOf(file.uri, file.size);
    if (current.length > 0 && (current.length >= maxFiles || bytes + size > maxBytes)) {
      splits.push(current);
      current = [];
      bytes = 0;
    }
    current.push([file.uri, file.size]);
    bytes += size;
  }
  if (current.length > 0) splits.push(current);
  return splits;
}

/**
 * The text `_rejected/` keeps of an element of an array document: its JSON, or `whole` (the
 * document's text, where it was read whole) for a value nested deeper than `JSON.stringify` can
 * follow.
 */
function elementText(value: unknown, whole?: string): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return whole ?? "(a value nested too deeply to write out; see its file)";
  }
}

/**
 * JSON documents, one value per file (a song record per file, say), from local files or S3 objects
 * matching a URI glob. A top-level array in a large file is streamed element by element with
 * stream-json, so that no large document is held whole.
 */
export class JsonDocumentsSource<T> implements Source<T> {
  constructor(
    readonly uri: string,
    private readonly options: JsonDocumentsOptions = {},
  ) {}

  get description(): string {
    return this.uri;
  }

  get literalInput(): boolean {
    return isLiteralInput(this.uri, this.options.files);
  }

  async splits(context?: SplitContext): Promise<JsonValue[]> {
    const files = this.options.files ?? (await listFiles(this.uri, this.options.s3));
    const fixed = this.options.filesPerSplit;
    if (fixed !== undefined) return packFiles(files, fixed, Number.POSITIVE_INFINITY);
    const parallelism = context?.parallelism ?? 1;
    const totalBytes = files.reduce((total, file) => total + textBytesOf(file.uri, file.size), 0);
    return packFiles(
      files,
      Math.min(MAX_FILES_PER_SPLIT, Math.max(1, Math.ceil(files.length / (2 * parallelism)))),
      splitBytesFor(totalBytes, parallelism),
    );
  }

  bytesOf(split: JsonValue): number {
    return (split as FileRef[]).reduce((total, [uri, size]) => total + textBytesOf(uri, size), 0);
  }

  describeSplit(split: JsonValue): string {
    const files = split as FileRef[];
    return files.length === 1 ? files[0]![0] : `${files[0]?.[0]} and ${files.length - 1} more file(s)`;
  }

  async *read(split: JsonValue, context: SourceReadContext): AsyncGenerator<SourceBatch<T>> {
    let records: T[] = [];
    let origins: string[] = [];
    const flush = (): SourceBatch<T> => {
      const batchOrigins = origins;
      const batch = { records, origin: (index: number) => batchOrigins[index] ?? "" };
      records = [];
      origins = [];
      return batch;
    };
    /** One document or element; `textOf` gives its original text, for `_rejected/`, only when needed. */
    const accept = (value: unknown, uri: string, origin: string, textOf: () => string) => {
      context.addRecordsSeen(1);
      let record = value;
      const schema = this.options.schema;
      if (schema) {
        const parsed = schema.parse(value);
        if ("problem" in parsed) {
          context.reject({ text: textOf(), source: uri, offset: 0, reason: parsed.problem });
          return;
        }
        record = parsed.record;
      }
      const originField = this.options.originField;
      if (originField && typeof record === "object" && record !== null && !Array.isArray(record))
        record = { ...(record as Record<string, unknown>), [originField]: uri };
      records.push(record as T);
      origins.push(origin);
    };

    const files = split as FileRef[];
    const streamAbove = this.options.streamAboveBytes ?? 16 * 1024 * 1024;
    const streamed = (size: number) => size > streamAbove && this.options.arrayElements !== false;
    // Small documents are fetched a few at a time ahead of the one being parsed (in order): one
    // request after another would leave a task waiting on S3 latency for every file.
    const readAhead = requestsAtOnce(this.options.s3);
    const fetched = new Map<number, Promise<Buffer>>();
    let nextFetch = 0;
    const fetchAhead = (current: number) => {
      while (nextFetch < files.length && nextFetch < current + readAhead) {
        const [uri, size] = files[nextFetch]!;
        if (!streamed(size)) {
          const read = readAll(uri, this.options.s3);
          read.catch(() => undefined); // awaited below, in order; this only keeps it from being unhandled
          fetched.set(nextFetch, read);
        }
        nextFetch++;
      }
    };
    for (const [index, [uri, size]] of files.entries()) {
      fetchAhead(index);
      if (streamed(size)) {
        yield* this.streamElements(uri, size, context, accept, flush);
        continue;
      }
      const bytes = await fetched.get(index)!;
      fetched.delete(index);
      context.addBytesRead(bytes.byteLength);
      let body: Buffer = bytes;
      if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
      const misnamed = unreadableAsText(uri, body);
      if (misnamed) throw misnamed;
      if (body.toString("latin1").trim() === "") continue;
      if (!isUtf8(body)) {
        context.addRecordsSeen(1);
        context.reject({
          text: body.toString("utf8"),
          source: uri,
          offset: 0,
          reason: "not valid UTF-8",
        });
        continue;
      }
      const text = body.toString("utf8");
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        context.addRecordsSeen(1);
        context.reject({
          text,
          source: uri,
          offset: 0,
          line: 1,
          reason: `not valid JSON (${(error as Error).message})${holdsLines(text) ? ": the file holds one JSON value per line, which jsonLines reads" : ""}`,
        });
        continue;
      }
      if (Array.isArray(value) && this.options.arrayElements !== false) {
        value.forEach((element, index) => {
          accept(element, uri, `${uri} element ${index}`, () => elementText(element, text));
        });
      } else {
        accept(value, uri, uri, () => text);
      }
      if (records.length >= context.batchSize) yield flush();
    }
    if (records.length > 0) yield flush();
  }

  private async *streamElements(
    uri: string,
    size: number,
    context: SourceReadContext,
    accept: (value: unknown, uri: string, origin: string, textOf: () => string) => void,
    flush: () => SourceBatch<T>,
  ): AsyncGenerator<SourceBatch<T>> {
    // Its first bytes first: a compressed file under a plain name fails naming its format, as a
    // smaller one does, rather than as one record rejected for not being a JSON array.
    const start = readBytes(uri, this.options.s3)[Symbol.asyncIterator]();
    const first = await start.next();
    await start.return?.();
    const misnamed = first.done ? undefined : unreadableAsText(uri, first.value);
    if (misnamed) throw misnamed;
    const parser = (await loadStreamArray()).withParserAsStream();
    const input = Readable.from(readBytes(uri, this.options.s3));
    input.pipe(parser);
    let pending = 0;
    try {
      for await (const item of parser as AsyncIterable<{ key: number; value: unknown }>) {
        accept(item.value, uri, `${uri} element ${item.key}`, () => elementText(item.value));
        if (++pending >= context.batchSize) {
          pending = 0;
          yield flush();
        }
      }
      context.addBytesRead(size);
    } catch (error) {
      context.addRecordsSeen(1);
      context.reject({
        text: "",
        source: uri,
        reason: `not a valid JSON array (${(error as Error).message})`,
      });
    } finally {
      input.destroy();
    }
  }
}

/** Reads JSON documents from a URI glob: `jsonDocuments("song_data/**\/*.json", { schema })`. */
export function jsonDocuments<S extends Schema>(
  uri: string,
  options: JsonDocumentsOptions & { schema: S },
): JsonDocumentsSource<Infer<S>>;
export function jsonDocuments<T = unknown>(
  uri: string,
  options?: JsonDocumentsOptions,
): JsonDocumentsSource<T>;
export function jsonDocuments(uri: string, options: JsonDocumentsOptions = {}): JsonDocumentsSource<unknown> {
  knownOptions(options, JSON_DOCUMENTS_OPTIONS, "jsonDocuments");
  return new JsonDocumentsSource(uri, options);
}

/**
 * Whether a file that is not one JSON document is JSON lines instead (its first two lines each a
 * value): said in the reason, as the JSON-lines reader says the opposite.
 */
function holdsLines(text: string): boolean {
  const lines = text.split("\n", 3);
  if (lines.length < 2) return false;
  return lines.slice(0, 2).every((line) => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false;
    }
  });
}

readsOnlyWhatItHolds(JsonDocumentsSource);
