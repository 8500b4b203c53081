/**
 * The parts of snappyjs (which ships no types) that sluice uses: its compressor, which writes into
 * a buffer the caller gives it, and (in the tests) its own compress and uncompress.
 */
declare module "snappyjs" {
  const snappy: {
    compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
    uncompress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  };
  export default snappy;
}

declare module "snappyjs/snappy_compressor.js" {
  export class SnappyCompressor {
    constructor(uncompressed: Uint8Array);
    /** The most bytes `compressToBuffer` may write. */
    maxCompressedLength(): number;
    /** Writes the compressed bytes at the start of `output`; returns how many. */
    compressToBuffer(output: Uint8Array): number;
  }
}
