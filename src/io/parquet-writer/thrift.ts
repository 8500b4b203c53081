/**
 * The Thrift compact protocol, write side only, for the few structs a Parquet file's page headers
 * and footer are made of (parquet.thrift). A struct is written as a list of fields; absent fields
 * are left out, as Thrift's own writers leave out unset optional fields.
 *
 * Written here rather than taken from the `thrift` package: its writer allocates per value and
 * is reached through generated classes, and these few dozen lines are all a writer needs.
 */

import { GrowingBuffer } from "../../core/growing-buffer.js";

/** Compact-protocol type ids. */
enum CompactType {
  True = 1,
  False = 2,
  I32 = 5,
  I64 = 6,
  Binary = 8,
  List = 9,
  Struct = 12,
}

/** A field value: the type decides how it is written. */
export type ThriftValue =
  | { readonly i32: number }
  | { readonly i64: number | bigint }
  | { readonly bool: boolean }
  | { readonly binary: Uint8Array | string }
  | { readonly struct: ThriftStruct }
  | { readonly list: ThriftList };

export type ThriftList =
  | { readonly i32: readonly number[] }
  | { readonly binary: readonly string[] }
  | { readonly struct: readonly ThriftStruct[] };

/** Fields by id; undefined ones are not written. */
export type ThriftStruct = readonly (readonly [id: number, value: ThriftValue | undefined])[];

export const i32 = (value: number): ThriftValue => ({ i32: value });
export const i64 = (value: number | bigint): ThriftValue => ({ i64: value });
export const bool = (value: boolean): ThriftValue => ({ bool: value });
export const binary = (value: Uint8Array | string): ThriftValue => ({ binary: value });
export const struct = (fields: ThriftStruct): ThriftValue => ({ struct: fields });

/** The buffer structs are written into, reused across writes (serialization is synchronous). */
class Bytes extends GrowingBuffer {
  bigVarint(value: bigint): void {
    this.reserve(10);
    while (value > 0x7fn) {
      this.buffer[this.length++] = Number(value & 0x7fn) | 0x80;
      value >>= 7n;
    }
    this.buffer[this.length++] = Number(value);
  }

  zigzag32(value: number): void {
    this.varint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  zigzag64(value: number | bigint): void {
    if (typeof value === "number" && Number.isSafeInteger(value) && Math.abs(value) < 2 ** 52) {
      this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
      return;
    }
    const signed = BigInt.asIntN(64, BigInt(value));
    this.bigVarint(BigInt.asUintN(64, (signed << 1n) ^ (signed >> 63n)));
  }

  binary(value: Uint8Array | string): void {
    if (typeof value === "string") {
      const size = Buffer.byteLength(value, "utf8");
      this.varint(size);
      this.reserve(size);
      this.length += this.buffer.write(value, this.length, "utf8");
      return;
    }
    this.varint(value.byteLength);
    this.reserve(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
  }
}

const out = new Bytes();

function typeOf(value: ThriftValue): CompactType {
  if ("i32" in value) return CompactType.I32;
  if ("i64" in value) return CompactType.I64;
  if ("bool" in value) return value.bool ? CompactType.True : CompactType.False;
  if ("binary" in value) return CompactType.Binary;
  if ("struct" in value) return CompactType.Struct;
  return CompactType.List;
}

function writeStruct(fields: ThriftStruct): void {
  let lastId = 0;
  for (const [id, value] of fields) {
    if (value === undefined) continue;
    const type = typeOf(value);
    const delta = id - lastId;
    if (delta > 0 && delta <= 15) out.byte((delta << 4) | type);
    else {
      out.byte(type);
      out.zigzag32(id);
    }
    lastId = id;
    writeValue(value);
  }
  out.byte(0); // stop
}

function writeValue(value: ThriftValue): void {
  if ("i32" in value) out.zigzag32(value.i32);
  else if ("i64" in value) out.zigzag64(value.i64);
  else if ("bool" in value)
    return; // in the field header
  else if ("binary" in value) out.binary(value.binary);
  else if ("struct" in value) writeStruct(value.struct);
  else writeList(value.list);
}

function writeList(list: ThriftList): void {
  const [type, items] =
    "i32" in list
      ? [CompactType.I32, list.i32]
      : "binary" in list
        ? [CompactType.Binary, list.binary]
        : [CompactType.Struct, list.struct];
  if (items.length < 15) out.byte((items.length << 4) | type);
  else {
    out.byte(0xf0 | type);
    out.varint(items.length);
  }
  for (const item of items) {
    if (type === CompactType.I32) out.zigzag32(item as number);
    else if (type === CompactType.Binary) out.binary(item as string);
    else writeStruct(item as ThriftStruct);
  }
}

/** A struct's bytes in the compact protocol. */
export function serialize(fields: ThriftStruct): Buffer {
  out.length = 0;
  writeStruct(fields);
  return out.copy();
}
