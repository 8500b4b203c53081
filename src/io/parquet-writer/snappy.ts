/**
 * Snappy compression of Parquet pages through snappyjs's compressor, into one scratch buffer this
 * thread reuses. snappyjs's own `compress` zero-fills a new buffer of the largest possible size for
 * every page and returns a view of it: a table partitioned into thousands of one-row files made as
 * many short-lived ArrayBuffers as pages, each holding its worst case, and collecting them was a
 * large part of writing such a file. Here a page costs one copy of its compressed bytes, taken from
 * Node's buffer pool when small.
 */
import { SnappyCompressor } from "snappyjs/snappy_compressor.js";
import { GrowingBuffer } from "../../core/growing-buffer.js";

const scratch = new GrowingBuffer(64 * 1024);

export function snappyCompress(bytes: Uint8Array): Buffer {
  const compressor = new SnappyCompressor(bytes);
  scratch.length = 0;
  scratch.reserve(compressor.maxCompressedLength());
  scratch.length = compressor.compressToBuffer(scratch.buffer);
  return scratch.copy();
}
