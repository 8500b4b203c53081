/**
 * Faster PLAIN encodings of strings and 64-bit integers for @dsnp/parquetjs's data pages.
 *
 * parquetjs turns every string value into a Buffer when a row is shredded, copies that Buffer
 * into a second one when the page is encoded, and copies it a third time into the page; every
 * 64-bit integer becomes a BigInt on its way into the page. For the Sparkify songplays table
 * (790,000 rows, six string columns at 1M events) that is millions of short-lived objects.
 *
 * With this encoder installed, string columns may hold the strings themselves (sluice's
 * column-wise appends leave them as they are) and each one is written straight into the page;
 * integers that are safe JavaScript numbers are written as two 32-bit halves. Buffers and BigInts
 * are still taken as parquetjs gives them, and anything else goes to parquetjs's own encoder, so
 * that its errors stay its own. The bytes are the same; a test checks that files written either
 * way are identical.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** What parquetjs passes with the values: the column, or its options, either of which may be DECIMAL. */
interface EncodeOptions {
  readonly originalType?: string;
  readonly column?: { readonly originalType?: string };
}

type EncodeValues = (type: string, values: unknown[], options?: EncodeOptions) => Buffer;

const plainCodec = require("@dsnp/parquetjs/dist/lib/codec/plain.js") as { encodeValues: EncodeValues };

/** The encoder parquetjs ships with, kept for comparison and to switch back. */
export const parquetjsEncodeValues: EncodeValues = plainCodec.encodeValues;

const TWO_TO_32 = 2 ** 32;

/** Length-prefixed values, as PLAIN writes BYTE_ARRAY; undefined when a value is neither string nor bytes. */
function encodeByteArrays(values: readonly unknown[]): Buffer | undefined {
  let total = 0;
  const lengths = new Array<number>(values.length);
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    let length: number;
    if (typeof value === "string") length = Buffer.byteLength(value, "utf8");
    else if (value instanceof Uint8Array) length = value.byteLength;
    else return undefined;
    lengths[index] = length;
    total += 4 + length;
  }
  const page = Buffer.allocUnsafe(total);
  let position = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    const length = lengths[index]!;
    page.writeUInt32LE(length, position);
    position += 4;
    if (typeof value === "string") page.write(value, position, length, "utf8");
    else page.set(value as Uint8Array, position);
    position += length;
  }
  return page;
}

/** Little-endian 64-bit integers; undefined when a value is neither a safe integer nor a BigInt. */
function encodeInt64s(values: readonly unknown[]): Buffer | undefined {
  const page = Buffer.allocUnsafe(8 * values.length);
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    const position = 8 * index;
    if (typeof value === "number" && Number.isSafeInteger(value)) {
      const high = Math.floor(value / TWO_TO_32);
      page.writeUInt32LE(value - high * TWO_TO_32, position);
      page.writeInt32LE(high, position + 4);
    } else if (typeof value === "bigint") {
      page.writeBigInt64LE(value, position);
    } else {
      return undefined;
    }
  }
  return page;
}

/** parquetjs's PLAIN `encodeValues`, with the two fast paths above. */
export function encodeValues(type: string, values: unknown[], options?: EncodeOptions): Buffer {
  // DECIMAL values are scaled by parquetjs's encoder; they keep its path.
  const decimal = options?.originalType === "DECIMAL" || options?.column?.originalType === "DECIMAL";
  if (!decimal) {
    const fast =
      type === "BYTE_ARRAY" ? encodeByteArrays(values) : type === "INT64" ? encodeInt64s(values) : undefined;
    if (fast) return fast;
  }
  return parquetjsEncodeValues(type, values, options);
}

/** Makes parquetjs use this encoder (`true`, the default once sluice's Parquet I/O loads) or its own. */
export function useFastPlainEncoding(enabled: boolean): void {
  plainCodec.encodeValues = enabled ? encodeValues : parquetjsEncodeValues;
}

useFastPlainEncoding(true);
