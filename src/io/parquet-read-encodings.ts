/**
 * Page encodings parquetjs does not read, added to its table of encodings for reading files other
 * engines wrote (and its RLE decoder made to read booleans, below): Parquet's second-version encodings, which Spark's v2 writer, DuckDB's V2 format
 * and arrow-rs's v2 writer use (DELTA_BINARY_PACKED for integers, DELTA_LENGTH_BYTE_ARRAY and
 * DELTA_BYTE_ARRAY for bytes and text), and BYTE_STREAM_SPLIT (floats, as pyarrow and Polars
 * write on request). Each decoder gives values as parquetjs's PLAIN decoder does (INT32, FLOAT
 * and DOUBLE as numbers, INT64 as bigints, byte arrays as Buffers) and leaves its cursor after
 * the bytes it read, as the format's own layout of a page needs.
 */

/** parquetjs's cursor over a page's bytes. */
interface Cursor {
  readonly buffer: Buffer;
  offset: number;
}

type Decoder = {
  decodeValues(
    type: string,
    cursor: Cursor,
    count: number,
    options: { typeLength?: number; bitWidth?: number; disableEnvelope?: boolean },
  ): unknown[];
};

/** The encodings added here, for the message that names a file in another. */
export const READABLE_ENCODINGS = [
  "DELTA_BINARY_PACKED",
  "DELTA_LENGTH_BYTE_ARRAY",
  "DELTA_BYTE_ARRAY",
  "BYTE_STREAM_SPLIT",
] as const;

/** Adds the decoders to parquetjs's table of encodings (the `codec` module's exports). */
export function addReadEncodings(encodings: Record<string, unknown>): void {
  const rle = encodings.RLE as Decoder | undefined;
  if (rle && !booleanAware.has(rle)) encodings.RLE = withBooleans(rle);
  encodings.DELTA_BINARY_PACKED ??= deltaBinaryPacked;
  encodings.DELTA_LENGTH_BYTE_ARRAY ??= deltaLengthByteArray;
  encodings.DELTA_BYTE_ARRAY ??= deltaByteArray;
  encodings.BYTE_STREAM_SPLIT ??= byteStreamSplit;
}

/** RLE decoders already made to read booleans: another copy of sluice in the process adds them again. */
const booleanAware = new WeakSet<Decoder>();

/**
 * parquetjs's RLE decoder, reading BOOLEAN values too: they are RLE-encoded in data pages of
 * version 2 (parquet-mr's and Parquet C++'s writers), bit width 1 after a 4-byte length, and
 * parquetjs reads them with the column's type length for a bit width, which a boolean has not:
 * every value came back false. Levels (INT32) go to parquetjs's decoder as they are.
 */
function withBooleans(rle: Decoder): Decoder {
  const decoder: Decoder = {
    // The rest of parquetjs's RLE codec (its writer's encodeValues, for levels) is kept as it is.
    ...rle,
    decodeValues(type, cursor, count, options) {
      if (type !== "BOOLEAN") return rle.decodeValues(type, cursor, count, options);
      const bits = rle.decodeValues(type, cursor, count, { ...options, bitWidth: 1, disableEnvelope: false });
      return bits.map((bit) => bit === 1);
    },
  };
  booleanAware.add(decoder);
  return decoder;
}

const deltaBinaryPacked: Decoder = {
  decodeValues(type, cursor, count) {
    if (type !== "INT32" && type !== "INT64") throw new Error(`DELTA_BINARY_PACKED of ${type}`);
    const values = deltaIntegers(cursor, count);
    return type === "INT64"
      ? values.map((value) => BigInt.asIntN(64, value))
      : values.map((value) => Number(BigInt.asIntN(32, value)));
  },
};

const deltaLengthByteArray: Decoder = {
  decodeValues(_type, cursor, count) {
    return lengthPrefixed(cursor, count);
  },
};

const deltaByteArray: Decoder = {
  decodeValues(_type, cursor, count) {
    const prefixes = deltaIntegers(cursor, count).map(Number);
    const suffixes = lengthPrefixed(cursor, count);
    const values: Buffer[] = [];
    let previous = Buffer.alloc(0);
    for (let index = 0; index < count; index++) {
      const prefix = prefixes[index]!;
      if (prefix > previous.length)
        throw damaged("DELTA_BYTE_ARRAY", "a prefix longer than the value before");
      previous = Buffer.concat([previous.subarray(0, prefix), suffixes[index]!]);
      values.push(previous);
    }
    return values;
  },
};

const byteStreamSplit: Decoder = {
  decodeValues(type, cursor, count, options) {
    const width =
      type === "FLOAT" || type === "INT32"
        ? 4
        : type === "DOUBLE" || type === "INT64"
          ? 8
          : type === "FIXED_LEN_BYTE_ARRAY"
            ? (options.typeLength ?? 0)
            : 0;
    if (width === 0) throw new Error(`BYTE_STREAM_SPLIT of ${type}`);
    const { buffer, offset } = cursor;
    if (offset + width * count > buffer.length) throw damaged("BYTE_STREAM_SPLIT", "streams past its end");
    // Byte k of value i is byte i of stream k; the streams lie one after another.
    const joined = Buffer.allocUnsafe(width * count);
    for (let index = 0; index < count; index++)
      for (let byte = 0; byte < width; byte++)
        joined[index * width + byte] = buffer[offset + byte * count + index]!;
    cursor.offset = offset + width * count;
    const values: unknown[] = [];
    for (let index = 0; index < count; index++) {
      const at = index * width;
      if (type === "FLOAT") values.push(joined.readFloatLE(at));
      else if (type === "DOUBLE") values.push(joined.readDoubleLE(at));
      else if (type === "INT32") values.push(joined.readInt32LE(at));
      else if (type === "INT64") values.push(joined.readBigInt64LE(at));
      else values.push(joined.subarray(at, at + width));
    }
    return values;
  },
};

/** DELTA_LENGTH_BYTE_ARRAY: the lengths, delta-encoded, then the bytes one after another. */
function lengthPrefixed(cursor: Cursor, count: number): Buffer[] {
  const lengths = deltaIntegers(cursor, count).map(Number);
  const values: Buffer[] = [];
  for (const length of lengths) {
    if (length < 0 || cursor.offset + length > cursor.buffer.length)
      throw damaged("DELTA_LENGTH_BYTE_ARRAY", "a value past its end");
    values.push(cursor.buffer.subarray(cursor.offset, cursor.offset + length));
    cursor.offset += length;
  }
  return values;
}

/**
 * DELTA_BINARY_PACKED: a header (block size, miniblocks per block, value count, first value),
 * then blocks of a minimum delta and one bit width per miniblock, each miniblock's deltas from
 * that minimum bit-packed (least significant bit first). Summed as bigints, for INT64's range;
 * the caller wraps them to the column's width, as the writer's arithmetic did.
 */
function deltaIntegers(cursor: Cursor, count: number): bigint[] {
  const reader = new VarintReader(cursor);
  const blockSize = Number(reader.unsigned());
  const miniblocks = Number(reader.unsigned());
  const total = Number(reader.unsigned());
  let value = reader.zigzag();
  const perMiniblock = miniblocks > 0 ? blockSize / miniblocks : 0;
  if (total < count || (total > 1 && (!Number.isInteger(perMiniblock) || perMiniblock % 32 !== 0)))
    throw damaged("DELTA_BINARY_PACKED", "a header that does not fit its values");
  const values: bigint[] = [];
  if (total > 0) values.push(value);
  while (values.length < total) {
    const minDelta = reader.zigzag();
    const widthsAt = cursor.offset;
    cursor.offset += miniblocks;
    if (cursor.offset > cursor.buffer.length) throw damaged("DELTA_BINARY_PACKED", "a block past its end");
    for (let miniblock = 0; miniblock < miniblocks && values.length < total; miniblock++) {
      const width = cursor.buffer[widthsAt + miniblock]!;
      if (width > 64) throw damaged("DELTA_BINARY_PACKED", `a bit width of ${width}`);
      const bytes = (width * perMiniblock) / 8;
      if (cursor.offset + bytes > cursor.buffer.length)
        throw damaged("DELTA_BINARY_PACKED", "a miniblock past its end");
      for (let index = 0; index < perMiniblock; index++) {
        const delta = unpack(cursor.buffer, cursor.offset, index * width, width);
        // The last miniblock is padded to its full length: what lies past the count is not a value.
        if (values.length < total) {
          value += minDelta + delta;
          values.push(value);
        }
      }
      cursor.offset += bytes;
    }
  }
  return values.slice(0, count);
}

/** `width` bits from `bit` on of the bytes from `start`, least significant first. */
function unpack(buffer: Buffer, start: number, bit: number, width: number): bigint {
  let result = 0n;
  for (let taken = 0; taken < width; ) {
    const at = bit + taken;
    const byte = buffer[start + (at >> 3)]!;
    const shift = at & 7;
    const take = Math.min(8 - shift, width - taken);
    result |= BigInt((byte >> shift) & ((1 << take) - 1)) << BigInt(taken);
    taken += take;
  }
  return result;
}

/** ULEB128 and zigzag varints, as bigints, from a cursor. */
class VarintReader {
  constructor(private readonly cursor: Cursor) {}

  unsigned(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.cursor.offset >= this.cursor.buffer.length || shift > 63n)
        throw damaged("DELTA_BINARY_PACKED", "a number past its end");
      const byte = this.cursor.buffer[this.cursor.offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  zigzag(): bigint {
    const encoded = this.unsigned();
    return (encoded >> 1n) ^ -(encoded & 1n);
  }
}

function damaged(encoding: string, what: string): Error {
  return new Error(`a ${encoding} page with ${what}`);
}
