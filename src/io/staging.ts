import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { childOf, type Location } from "./location.js";
import { type S3Settings, type StagedUpload, StagedMultipartUpload } from "./s3.js";

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
    await mkdir(dirname(location.path), { recursive: true });
    const stream: WriteStream = createWriteStream(location.path);
    const failure = captureErrors(stream);
    return {
      stream,
      async close() {
        if (!stream.writableEnded) stream.end();
        await finished(stream);
        if (failure.error) throw failure.error;
        return { kind: "local", path: location.path, bytes: stream.bytesWritten };
      },
      async abort() {
        await endQuietly(stream);
        await rm(location.path, { force: true });
      },
    };
  }
  const location = childOf(root, `${table}/${relativePath}`);
  if (location.kind !== "s3") throw new Error("unreachable");
  const upload = new StagedMultipartUpload(s3, location.bucket, location.key);
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
