/**
 * The encodings sluice writes in data and dictionary pages: PLAIN for values, and the
 * RLE/bit-packing hybrid for definition levels and dictionary indices (Parquet's Encodings.md).
 */

import { GrowingBuffer } from "../../core/growing-buffer.js";

/** Physical types of the columns sluice writes. */
export type PhysicalType = "BOOLEAN" | "INT32" | "INT64" | "DOUBLE" | "BYTE_ARRAY";

const TWO_TO_32 = 2 ** 32;

/** PLAIN: values one after the other, little-endian; byte arrays each after a 4-byte length. */
export function encodePlain(
  type: PhysicalType,
  values: readonly unknown[],
  count: number = values.length,
): Buffer {
  switch (type) {
    case "BYTE_ARRAY": {
      // Indexed loops, not for-of: a page is encoded once, often by code V8 has not optimized yet,
      // where for-of makes an iterator result for every value.
      let total = 0;
      for (let index = 0; index < count; index++)
        total += 4 + Buffer.byteLength(values[index] as string, "utf8");
      const page = Buffer.allocUnsafe(total);
      let position = 0;
      for (let index = 0; index < count; index++) {
        const written = page.write(values[index] as string, position + 4, "utf8");
        page.writeUInt32LE(written, position);
        position += 4 + written;
      }
      return page;
    }
    case "INT64": {
      const page = Buffer.allocUnsafe(8 * count);
      for (let index = 0; index < count; index++) {
        const value = values[index];
        if (typeof value === "bigint") page.writeBigInt64LE(value, 8 * index);
        else {
          const high = Math.floor((value as number) / TWO_TO_32);
          page.writeUInt32LE((value as number) - high * TWO_TO_32, 8 * index);
          page.writeInt32LE(high, 8 * index + 4);
        }
      }
      return page;
    }
    case "INT32": {
      const page = Buffer.allocUnsafe(4 * count);
      for (let index = 0; index < count; index++) page.writeInt32LE(values[index] as number, 4 * index);
      return page;
    }
    case "DOUBLE": {
      const page = Buffer.allocUnsafe(8 * count);
      for (let index = 0; index < count; index++) page.writeDoubleLE(values[index] as number, 8 * index);
      return page;
    }
    case "BOOLEAN": {
      // Bit-packed, least significant bit first.
      const page = Buffer.alloc(Math.ceil(count / 8));
      for (let index = 0; index < count; index++) if (values[index]) page[index >> 3]! |= 1 << (index & 7);
      return page;
    }
  }
}

/** The bits needed for values up to `max`. */
export function bitWidthOf(max: number): number {
  return max === 0 ? 0 : 32 - Math.clz32(max);
}

/**
 * The RLE/bit-packing hybrid: a run of 8 or more equal values is one RLE run; other values go
 * into bit-packed groups of 8 (the last group padded with zeros; readers stop at the value count).
 */
export function encodeHybrid(values: ArrayLike<number>, count: number, bitWidth: number): Buffer {
  scratch.length = 0;
  writeHybrid(scratch, values, count, bitWidth);
  return scratch.copy();
}

/**
 * Where levels and indices are encoded before their one copy out: a buffer made per page took a
 * kilobyte of Node's buffer pool each time, and a table of thousands of one-row files spent more
 * on new pools than on encoding (encoding is synchronous, so one buffer serves every caller).
 */
const scratch = new GrowingBuffer(16 * 1024);

function writeHybrid(
  writer: GrowingBuffer,
  values: ArrayLike<number>,
  count: number,
  bitWidth: number,
): void {
  const valueBytes = Math.ceil(bitWidth / 8);
  let literalStart = 0; // values [literalStart, index) wait to be bit-packed
  let index = 0;
  while (index < count) {
    const value = values[index]!;
    let runEnd = index + 1;
    while (runEnd < count && values[runEnd] === value) runEnd++;
    // Literals must be whole groups of 8 before a run starts: the run lends them values.
    const pending = index - literalStart;
    const lent = (8 - (pending % 8)) % 8;
    if (runEnd - index - lent >= 8) {
      packLiterals(writer, values, literalStart, index + lent, bitWidth);
      writer.varint((runEnd - index - lent) << 1);
      for (let byte = 0; byte < valueBytes; byte++) writer.byte((value >>> (8 * byte)) & 0xff);
      literalStart = runEnd;
    }
    index = runEnd;
  }
  packLiterals(writer, values, literalStart, count, bitWidth);
}

/**
 * Bit-packs `values[start, end)` in groups of 8 (the last padded with zeros); `end - start` is a
 * multiple of 8, or the rest of the values. A function of its own, not a closure of
 * `encodeHybrid`'s: a closure made per call is a new call target each time, and V8 threw away
 * the optimized `encodeHybrid` for it again and again.
 */
function packLiterals(
  writer: GrowingBuffer,
  values: ArrayLike<number>,
  start: number,
  end: number,
  bitWidth: number,
): void {
  const total = end - start;
  if (total === 0) return;
  const groups = Math.ceil(total / 8);
  writer.varint((groups << 1) | 1);
  // Room for all the groups at once, then bytes written straight into it: a call per byte was
  // most of a page's encoding while the code still ran in the interpreter.
  writer.reserve(groups * bitWidth);
  const bytes = writer.buffer;
  let at = writer.length;
  let accumulator = 0;
  let bits = 0;
  if (bitWidth <= 24) {
    // At most 7 bits carried plus 24: the accumulator stays within 31 bits, so integer shifts
    // hold it (definition levels and dictionary indices, nearly every call).
    for (let position = start; position < start + groups * 8; position++) {
      accumulator |= (position < end ? values[position]! : 0) << bits;
      bits += bitWidth;
      while (bits >= 8) {
        bytes[at++] = accumulator & 0xff;
        accumulator >>>= 8;
        bits -= 8;
      }
    }
  } else {
    for (let position = start; position < start + groups * 8; position++) {
      accumulator += (position < end ? values[position]! : 0) * 2 ** bits;
      bits += bitWidth;
      while (bits >= 8) {
        bytes[at++] = accumulator & 0xff;
        accumulator = Math.floor(accumulator / 256);
        bits -= 8;
      }
    }
  }
  writer.length = at;
}

/** Definition levels of a page, as a v1 data page stores them: a 4-byte length, then the hybrid. */
export function encodeLevels(levels: Uint8Array, count: number): Buffer {
  scratch.length = 4;
  writeHybrid(scratch, levels, count, 1);
  scratch.buffer.writeUInt32LE(scratch.length - 4, 0);
  return scratch.copy();
}

/** Dictionary indices, as a data page stores them: one byte of bit width, then the hybrid. */
export function encodeIndices(indices: Uint32Array, count: number, dictionarySize: number): Buffer {
  const bitWidth = bitWidthOf(Math.max(dictionarySize - 1, 0));
  scratch.length = 0;
  scratch.byte(bitWidth);
  writeHybrid(scratch, indices, count, bitWidth);
  return scratch.copy();
}

/**
 * Orders strings as their UTF-8 bytes compare, which Parquet's statistics use. JavaScript's `<`
 * compares UTF-16 code units, which puts U+E000..U+FFFF after astral characters; remapping code
 * units at the first difference puts surrogates last, as UTF-8 does.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    let x = a.charCodeAt(index);
    let y = b.charCodeAt(index);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}
