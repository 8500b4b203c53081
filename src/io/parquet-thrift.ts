/**
 * A faster Thrift serializer for @dsnp/parquetjs's page headers and file footers.
 *
 * parquetjs serializes each page header and footer through Thrift's TCompactProtocol over a
 * TBufferedTransport, which allocates a Buffer for every byte and varint it writes (with the
 * deprecated `new Buffer`), then copies them all into one. For a table of many small files, such
 * as the Sparkify songs table with one file per artist, that was a sixth of the ETL's CPU time.
 *
 * This protocol is Thrift's own TCompactProtocol with the few methods that touch the transport
 * replaced by writes into one reused, growing buffer. Everything that decides what is written
 * (field headers, deltas, collection headers, booleans) is Thrift's code, so the bytes are the same;
 * a test checks that files written with either serializer are identical.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The part of a generated Thrift struct that serialization uses. */
type ThriftStruct = object;
type Serialize = (struct: ThriftStruct) => Buffer;

interface ParquetUtil {
  serializeThrift: Serialize;
}

/** What parquetjs passes for i64 fields: a number, a decimal string or a node-int64 value. */
type Int64Like = number | string | { readonly buffer: Buffer };

const parquetUtil = require("@dsnp/parquetjs/dist/lib/util.js") as ParquetUtil;
/** The part of Thrift's compact protocol that this file overrides and calls. */
interface CompactProtocol {
  writeFieldBegin(name: string, type: number, id: number): void;
}

const TCompactProtocol = require("thrift").TCompactProtocol as new (transport: unknown) => CompactProtocol;
const WRITE = Symbol.for("write");

/** The serializer parquetjs ships with, kept for comparison and to switch back. */
export const parquetjsSerializeThrift: Serialize = parquetUtil.serializeThrift;

/** One growing buffer, reused: serialization is synchronous and each thread has its own module. */
class ByteSink {
  bytes = Buffer.allocUnsafe(64 * 1024);
  length = 0;

  reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + count));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value & 0xff;
  }

  /** An unsigned varint of a non-negative integer up to 2^53. */
  varint(value: number): void {
    this.reserve(10);
    while (value > 0x7f) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  /** An unsigned varint of a 64-bit value. */
  bigVarint(value: bigint): void {
    this.reserve(10);
    while (value > 0x7fn) {
      this.bytes[this.length++] = Number(value & 0x7fn) | 0x80;
      value >>= 7n;
    }
    this.bytes[this.length++] = Number(value);
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.bytes.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  appendString(text: string): void {
    const size = Buffer.byteLength(text, "utf8");
    this.varint(size);
    this.reserve(size);
    this.length += this.bytes.write(text, this.length, "utf8");
  }

  take(): Buffer {
    const result = Buffer.from(this.bytes.subarray(0, this.length));
    this.length = 0;
    return result;
  }
}

const sink = new ByteSink();

function toBigInt(value: Int64Like): bigint {
  if (typeof value === "number") return BigInt(Math.trunc(value));
  if (typeof value === "string") return BigInt(Number.parseInt(value, 10));
  return value.buffer.readBigInt64BE(0);
}

/**
 * Whether column statistics carry `distinct_count`, as parquetjs writes them. Off by default: see
 * parquet-value-range.ts for why sluice's files have minimum, maximum and null count only.
 */
let writeDistinctCounts = false;

/** Thrift's compact protocol writing into the shared sink, leaving out distinct counts unless asked. */
class SinkCompactProtocol extends TCompactProtocol {
  /** Inside a field being left out: its value is not written either. */
  private skipping = false;

  override writeFieldBegin(name: string, type: number, id: number): void {
    // `distinct_count` is a field of Statistics alone, in page headers and column chunk metadata.
    if (name === "distinct_count" && !writeDistinctCounts) {
      this.skipping = true;
      return;
    }
    super.writeFieldBegin(name, type, id);
  }

  // Thrift's own does nothing.
  writeFieldEnd(): void {
    this.skipping = false;
  }

  writeByte(value: number): void {
    sink.byte(value);
  }

  writeVarint32(value: number): void {
    sink.varint(value >>> 0);
  }

  writeVarint64(value: Int64Like): void {
    if (this.skipping) return;
    sink.bigVarint(BigInt.asUintN(64, toBigInt(value)));
  }

  writeI64(value: Int64Like): void {
    if (this.skipping) return;
    if (typeof value === "number" && Number.isSafeInteger(value) && Math.abs(value) < 2 ** 52) {
      sink.varint(value >= 0 ? value * 2 : -value * 2 - 1); // zigzag, exact below 2^52
      return;
    }
    const signed = BigInt.asIntN(64, toBigInt(value));
    sink.bigVarint(BigInt.asUintN(64, (signed << 1n) ^ (signed >> 63n)));
  }

  writeDouble(value: number): void {
    // As Thrift's own: little-endian IEEE 754, negative zero written as zero, one quiet NaN.
    sink.reserve(8);
    if (Number.isNaN(value)) sink.bytes.set([0, 0, 0, 0, 0, 0, 0xf8, 0x7f], sink.length);
    else sink.bytes.writeDoubleLE(value === 0 ? 0 : value, sink.length);
    sink.length += 8;
  }

  writeStringOrBinary(name: string, encoding: string, value: unknown): void {
    if (typeof value === "string") {
      if (encoding === "utf8") sink.appendString(value);
      else this.writeStringOrBinary(name, encoding, Buffer.from(value, encoding as BufferEncoding));
      return;
    }
    if (value instanceof Uint8Array) {
      sink.varint(value.byteLength);
      sink.append(value);
      return;
    }
    throw new Error(`${name} called without a string or Buffer argument: ${String(value)}`);
  }
}

/** Serializes a generated Thrift struct with the compact protocol, as parquetjs does. */
export function serializeThrift(struct: ThriftStruct): Buffer {
  sink.length = 0;
  const protocol = new SinkCompactProtocol(undefined);
  (struct as Record<symbol, (protocol: object) => void>)[WRITE]!(protocol);
  return sink.take();
}

/** Makes parquetjs use this serializer (`true`, the default once sluice's Parquet I/O loads) or its own. */
export function useFastThrift(enabled: boolean): void {
  parquetUtil.serializeThrift = enabled ? serializeThrift : parquetjsSerializeThrift;
}

/** Makes statistics carry `distinct_count` (`true`, parquetjs's files) or not (`false`, the default). */
export function useDistinctCounts(enabled: boolean): void {
  writeDistinctCounts = enabled;
}

/**
 * True when no statistics will carry a distinct count (this serializer is installed and leaves
 * them out), so that column buffers need not collect distinct values to count them.
 */
export function distinctCountsOmitted(): boolean {
  return parquetUtil.serializeThrift === serializeThrift && !writeDistinctCounts;
}

useFastThrift(true);
