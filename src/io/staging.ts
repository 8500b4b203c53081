import { createWriteStream, type WriteStream, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { childOf, type Location } from "./location.js";
import { type S3Settings, type StagedUpload, StagedMultipartUpload } from "./s3.js";
import { makeFolders, makeFoldersSync } from "./folders.js";
import { writeFailure } from "./write-errors.js";

/** Where run files wait for the commit, relative to the output root: readers skip `_` folders. */
export const TEMPORARY_FOLDER = "_temporary";

/** What a staged file tells the commit: a local file to move in, or an S3 upload to complete. */
export type StagedFileInfo =
  | { readonly kind: "local"; readonly path: string; readonly bytes: number }
  | { readonly kind: "s3"; readonly upload: StagedUpload; readonly bytes: number };

/**
 * One output file written as a stream and kept out of readers' sight until the commit: on local
 * disk under `OUTPUT/_temporary/<run>/`, on S3 as a multipart upload left open at its final key.
 */
export interface StagedFile {
  /** A Node Writable to pipe or write bytes into. */
  readonly stream: Writable;
  /** Ends the stream and returns what the commit needs. */
  close(): Promise<StagedFileInfo>;
  abort(): Promise<void>;
}

/**
 * Opens a staged file for `table/relativePath` under `root`.
 * Local: `root/_temporary/<run>/<table>/<relativePath>`; S3: `root/<table>/<relativePath>`, uncompleted.
 */
export async function openStagedFile(
  root: Location,
  runId: string,
  table: string,
  relativePath: string,
  s3: S3Settings,
): Promise<StagedFile> {
  if (root.kind === "local") {
    const location = childOf(root, `${TEMPORARY_FOLDER}/${runId}/${table}/${relativePath}`);
    if (location.kind !== "local") throw new Error("unreachable");
    return openLocalStagedFile(location.path);
  }
  const location = childOf(root, `${table}/${relativePath}`);
  if (location.kind !== "s3") throw new Error("unreachable");
  const upload = new StagedMultipartUpload(s3, location.bucket, location.key);
  upload.open();
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.byteLength;
      upload.write(chunk).then(() => callback(), callback);
    },
  });
  const failure = captureErrors(stream);
  return {
    stream,
    async close() {
      if (!stream.writableEnded) stream.end();
      await finished(stream);
      if (failure.error) throw failure.error;
      return { kind: "s3", upload: await upload.stage(), bytes };
    },
    async abort() {
      await endQuietly(stream);
      await upload.abort();
    },
  };
}

/** Keeps a stream's error for `close()` to throw, instead of an unhandled 'error' event. */
function captureErrors(stream: Writable): { error: Error | undefined } {
  const failure: { error: Error | undefined } = { error: undefined };
  stream.on("error", (error) => {
    failure.error ??= error;
  });
  return failure;
}

/**
 * Ends a stream that is being abandoned. Destroying it instead would fail the writes its producer
 * (the Parquet writer) still has queued, as unhandled rejections.
 */
async function endQuietly(stream: Writable): Promise<void> {
  if (!stream.writableEnded) stream.end();
  await finished(stream).catch(() => undefined);
}

/** Folders this thread has created, so that thousands of small files do not each ask for them again. */
const createdFolders = new Set<string>();

async function ensureFolder(path: string): Promise<void> {
  if (createdFolders.has(path)) return;
  await makeFolders(path);
  createdFolders.add(path);
}

/** Bytes a local staged file holds in memory before it opens its file and streams the rest. */
const LOCAL_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * A local staged file that collects its bytes in memory and writes them in one call when it is
 * small: the Parquet writer emits dozens of tiny chunks per file, and as separate writes each one
 * is a round trip through the thread pool. Past 8 MiB it opens the file and streams.
 */
function openLocalStagedFile(path: string): StagedFile {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let file: WriteStream | undefined;
  let failure: { error: Error | undefined } = { error: undefined };
  const openFile = async (): Promise<WriteStream> => {
    await ensureFolder(dirname(path));
    const opened = createWriteStream(path);
    failure = captureErrors(opened);
    return opened;
  };
  // Every error leaves as one sentence naming the file: a full disk must read as a full disk.
  const failed = (callback: (error?: Error | null) => void) => (error?: Error | null) =>
    callback(error ? writeFailure(path, error) : error);
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const callback = failed(done);
      if (file) {
        file.write(chunk, callback);
        return;
      }
      chunks.push(chunk);
      buffered += chunk.byteLength;
      if (buffered < LOCAL_BUFFER_BYTES) {
        callback();
        return;
      }
      openFile().then((opened) => {
        file = opened;
        const pending = Buffer.concat(chunks);
        chunks = [];
        file.write(pending, callback);
      }, callback);
    },
  });
  const streamFailure = captureErrors(stream);
  return {
    stream,
    async close() {
      if (!stream.writableEnded) stream.end();
      await finished(stream);
      if (streamFailure.error) throw streamFailure.error;
      try {
        if (file) {
          file.end();
          await finished(file);
          if (failure.error) throw failure.error;
          return { kind: "local", path, bytes: file.bytesWritten };
        }
        // A small file is written in one blocking call (see readAll in storage.ts for why).
        const folder = dirname(path);
        if (!createdFolders.has(folder)) {
          makeFoldersSync(folder);
          createdFolders.add(folder);
        }
        writeFileSync(path, Buffer.concat(chunks));
        return { kind: "local", path, bytes: buffered };
      } catch (error) {
        throw writeFailure(path, error);
      }
    },
    async abort() {
      await endQuietly(stream);
      if (file) await endQuietly(file);
      chunks = [];
      await rm(path, { force: true });
    },
  };
}

/**
 * Writes `text` into a staged file's stream, and when the stream is full waits until it drains or
 * fails: a failed stream never drains, and its `close()` reports the failure.
 */
export async function writeStaged(stream: Writable, text: string): Promise<void> {
  if (stream.destroyed || stream.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off("drain", done).off("error", done).off("close", done);
      resolve();
    };
    stream.on("drain", done).on("error", done).on("close", done);
  });
}

/** A written file, as the commit sees it. */
export interface WrittenFile {
  readonly table: string;
  readonly partition: string;
  readonly rows: number;
  readonly staged: StagedFileInfo;
}
