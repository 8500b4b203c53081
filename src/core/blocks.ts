import { fileFailure, SluiceError } from "./errors.js";
import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { CYCLE, decodeRecords, encodeRecords, NotJsonError, nonJsonIn, TOO_DEEP } from "./block-codec.js";

/**
 * A block: a batch of records encoded as one run of bytes (block-codec.ts: columnar when the
 * records share a shape, JSON otherwise). One encoding per batch is far cheaper than a structured
 * clone per record, and the bytes own their ArrayBuffer, so they cross threads by transfer, not by
 * copy.
 */
export type BlockRef =
  | { readonly records: number; readonly byteLength: number; readonly bytes: Uint8Array }
  | {
      readonly records: number;
      readonly byteLength: number;
      readonly file: string;
      readonly offset: number;
    }
  | ObjectBlockRef;

/**
 * A block at a byte range of an object in shared storage (a runner past one machine keeps its
 * shuffle there). Tasks never read one themselves: the runner that made it fetches it to a local
 * block before a task sees it, so this layer needs no storage client.
 */
export interface ObjectBlockRef {
  readonly records: number;
  readonly byteLength: number;
  /** The object, as its runner names it (an `s3://` URI, say). */
  readonly object: string;
  readonly offset: number;
}

export function isObjectBlock(block: BlockRef): block is ObjectBlockRef {
  return "object" in block;
}

/**
 * `encodeBlock` for records that cross to another task (a shuffle, a collect, a lookup table): a
 * value JSON would change fails here, naming what and where, on every runner alike.
 */
export function encodeCrossing(
  records: readonly unknown[],
  what: string,
  /** Says where in a record a path of the block lies (`[3][1].at` -> `an accumulator's .at`). */
  describe: (problem: string) => string = (problem) => problem.replace(/ at \[\d+\]/, " in a record at "),
): BlockRef {
  try {
    return encodeBlock(records);
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    const held = /^undefined at \[\d+\]$/.test(error.message)
      ? "one is undefined"
      : `hold ${describe(error.message).replace(/ at $/, "")}`;
    throw notJsonError(what, held, adviceKind(error.message));
  }
}

/**
 * Fails for a shuffle key that JSON would change, worded as `encodeCrossing` words a record: a
 * key a shuffle only routes by is never encoded, and one it cannot hash (a function, a bigint)
 * would fail with the hash's own error.
 */
export function checkCrossingKey(key: unknown, what: string): void {
  if (typeof key === "string" || (typeof key === "number" && Number.isFinite(key))) return;
  const problem = nonJsonIn(key);
  if (problem === undefined) return;
  const held = `hold ${problem.replace(/ at (the top)?/, (_match, top) => (top ? " in a key" : " in a key at "))}`;
  throw notJsonError(what, held, adviceKind(problem));
}

/** What most often put such a value there: a missing return, a call to something asynchronous, or a value to convert. */
function adviceKind(problem: string): Advice {
  if (problem.startsWith("undefined ")) return "undefined";
  if (problem.startsWith("a Promise ")) return "promise";
  if (BYTES.test(problem)) return "bytes";
  if (problem.startsWith(TOO_DEEP)) return "deep";
  return problem.startsWith(CYCLE) ? "cycle" : "convert";
}

type Advice = "undefined" | "promise" | "cycle" | "deep" | "bytes" | "convert";

/** How the description of bytes begins: a Buffer, an ArrayBuffer or a typed array. */
const BYTES =
  /^an? (Buffer|ArrayBuffer|SharedArrayBuffer|DataView|(Big)?(Uint|Int|Float)\d+(Clamped)?Array) /;

const ADVICE: Record<Advice, string> = {
  // undefined is found only where JSON cannot leave it out (a record, a key or value, an array's
  // item): most often a function that returned nothing, not a value to convert.
  undefined:
    "a function returned nothing there (an arrow function's body in braces needs `return`) or read a member the record does not have; use null for no value",
  promise:
    "a function called something asynchronous and returned its Promise there, which a transform keeps as it is (its function's result is taken as it returns); do the asynchronous work in a source, or before the pipeline",
  cycle:
    "JSON cannot write a value that refers to itself: keep a key of what it refers to (an id) instead of the object",
  // Most often a binary Parquet column (BYTE_ARRAY without a text annotation), read as a Buffer.
  bytes:
    'convert them first: bytes to text with Buffer.from(bytes).toString("base64") (or "utf8", when they are text), a typed array of numbers to an array with Array.from(values) (a binary Parquet column is read as Buffers)',
  deep: "flatten it (a list kept as nested pairs, [head, [head, [...]]], is most often what grows that deep: an array holds it flat)",
  convert:
    "convert it first (a Date to epoch milliseconds or ISO text, a Map or Set to an array or object, NaN or an infinity to null)",
};

function notJsonError(what: string, held: string, kind: Advice): SluiceError {
  return new SluiceError(
    `${what} must be JSON values, as they cross between threads, and ${held}: ${ADVICE[kind]}`,
  );
}

export function encodeBlock(records: readonly unknown[]): BlockRef {
  // The codec gives each block its own ArrayBuffer (Buffer.from may share a pool), which
  // matters because blocks are transferred, and a transfer detaches the whole buffer.
  const bytes = encodeRecords(records);
  return { records: records.length, byteLength: bytes.byteLength, bytes };
}

/**
 * Decodes a block. A spilled one is read with blocking calls: it comes back from the page cache
 * in microseconds, where three asynchronous calls (open, read, close) would each wait a round trip
 * through libuv's thread pool, and a reduce task reads thousands of blocks one after the other.
 */
export async function readBlock(block: BlockRef): Promise<unknown[]> {
  if ("bytes" in block) return decodeRecords(block.bytes);
  if (isObjectBlock(block)) {
    throw new SluiceError(
      `a block of ${block.object} reached a task unfetched: the runner that stored it must fetch it first`,
    );
  }
  const descriptor = openSync(block.file, "r");
  try {
    const buffer = Buffer.allocUnsafe(block.byteLength);
    let filled = 0;
    while (filled < block.byteLength) {
      const read = readSync(descriptor, buffer, filled, block.byteLength - filled, block.offset + filled);
      if (read === 0) throw new Error(`${block.file} ends before the block at ${block.offset} does`);
      filled += read;
    }
    return decodeRecords(buffer);
  } finally {
    closeSync(descriptor);
  }
}

/** Writes in-memory blocks into one file and returns references to their places in it. */
export async function spillBlocks(file: string, blocks: readonly BlockRef[]): Promise<BlockRef[]> {
  const { parts, spilled } = layOut(file, blocks);
  try {
    if (parts.length > 0) await writeFile(file, parts);
  } catch (error) {
    throw fileFailure("spill shuffle data to", file, error);
  }
  return spilled;
}

/** `spillBlocks` with a blocking write, for callers that cannot wait (a few megabytes at most). */
export function spillBlocksSync(file: string, blocks: readonly BlockRef[]): BlockRef[] {
  const { parts, spilled } = layOut(file, blocks);
  try {
    if (parts.length > 0) writeFileSync(file, Buffer.concat(parts));
  } catch (error) {
    throw fileFailure("spill shuffle data to", file, error);
  }
  return spilled;
}

/** Where each block goes in a spill file, and the bytes of those not yet in one. */
function layOut(file: string, blocks: readonly BlockRef[]): { parts: Uint8Array[]; spilled: BlockRef[] } {
  const parts: Uint8Array[] = [];
  const spilled: BlockRef[] = [];
  let offset = 0;
  for (const block of blocks) {
    if (!("bytes" in block)) {
      spilled.push(block);
      continue;
    }
    parts.push(block.bytes);
    spilled.push({ records: block.records, byteLength: block.byteLength, file, offset });
    offset += block.byteLength;
  }
  return { parts, spilled };
}

/** The ArrayBuffers of in-memory blocks, for a transfer list. */
export function transferablesOf(blocks: Iterable<BlockRef>): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const block of blocks) if ("bytes" in block) buffers.push(block.bytes.buffer as ArrayBuffer);
  return buffers;
}
