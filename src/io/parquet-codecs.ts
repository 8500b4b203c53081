/**
 * Compression codecs parquetjs does not read, added to its table of codecs for reading files
 * other engines wrote: ZSTD (Polars' default, and DuckDB's and Spark's on request) through fzstd,
 * a pure-JavaScript decoder (Node 20 has no zstd in zlib), and LZ4_RAW (pyarrow's `lz4`), whose
 * block format is short enough to decode here. sluice writes its own files (parquet-writer/), so
 * only reading is added.
 */
import { decompress as zstdDecompress } from "fzstd";

/** parquetjs's table of codecs, by the names the Parquet footer gives them. */
type CodecTable = Record<
  string,
  {
    deflate: (value: Buffer) => Buffer | Promise<Buffer>;
    inflate: (value: Buffer) => Buffer | Promise<Buffer>;
  }
>;

/** The codecs sluice reads, for the message that names a file compressed with another. */
export const READABLE_CODECS = ["UNCOMPRESSED", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4_RAW"] as const;

/** Adds ZSTD and LZ4_RAW to parquetjs's codecs (again, as another copy of sluice in the process would, is harmless). */
export function addReadCodecs(codecs: CodecTable): void {
  codecs.ZSTD ??= { deflate: cannotWrite("ZSTD"), inflate: (value) => toBuffer(zstdDecompress(value)) };
  codecs.LZ4_RAW ??= { deflate: cannotWrite("LZ4_RAW"), inflate: (value) => lz4BlockDecompress(value) };
}

function cannotWrite(codec: string): () => never {
  return () => {
    throw new Error(`sluice reads ${codec} Parquet pages and does not write them`);
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * One LZ4 block (the format LZ4_RAW pages hold, without a frame): sequences of a token, literals,
 * and a match copied from the output already written. Fails on a block that reads past its end or
 * copies from before its start, as a damaged page would.
 */
export function lz4BlockDecompress(input: Uint8Array): Buffer {
  let output = Buffer.allocUnsafe(Math.max(64, input.length * 4));
  let written = 0;
  let at = 0;
  const room = (needed: number) => {
    if (written + needed <= output.length) return;
    const larger = Buffer.allocUnsafe(Math.max(output.length * 2, written + needed));
    output.copy(larger, 0, 0, written);
    output = larger;
  };
  const length = (start: number): number => {
    let total = start;
    if (start !== 15) return total;
    let byte: number;
    do {
      if (at >= input.length) throw damagedBlock();
      byte = input[at++]!;
      total += byte;
    } while (byte === 255);
    return total;
  };
  while (at < input.length) {
    const token = input[at++]!;
    const literals = length(token >> 4);
    if (at + literals > input.length) throw damagedBlock();
    room(literals);
    output.set(input.subarray(at, at + literals), written);
    at += literals;
    written += literals;
    // The last sequence is literals alone.
    if (at === input.length) break;
    if (at + 2 > input.length) throw damagedBlock();
    const offset = input[at]! | (input[at + 1]! << 8);
    at += 2;
    if (offset === 0 || offset > written) throw damagedBlock();
    const matched = length(token & 15) + 4;
    room(matched);
    // Byte by byte: a match may overlap the bytes it is writing (a run of one repeated byte).
    for (let index = 0; index < matched; index++) output[written + index] = output[written - offset + index]!;
    written += matched;
  }
  return output.subarray(0, written);
}

function damagedBlock(): Error {
  return new Error("an LZ4 block that reads past its end or copies from before its start");
}
