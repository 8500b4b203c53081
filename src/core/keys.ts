/**
 * Keys: equality, stable hashing and a total order over JSON values.
 *
 * Records and keys cross threads as JSON, so a key is a JSON value: a string, a number, a boolean,
 * null, or an array/object of those. Two keys are equal when their canonical encodings are equal
 * (object members sorted by name), which makes `{a: 1, b: 2}` and `{b: 2, a: 1}` the same key.
 */

import { describeValue, SluiceError } from "./errors.js";

/**
 * A record of a keyed collection: exactly `[key, value]`, or an error saying `what` (named only
 * then: this runs for every record) must be pairs. Destructured blindly, a number fails with "not
 * iterable" and a longer tuple loses its third member without a word.
 */
export function keyValuePair(record: unknown, what: () => string): readonly [unknown, unknown] {
  if (Array.isArray(record) && record.length === 2) return record as [unknown, unknown];
  throw new SluiceError(
    `${what()} must be [key, value] pairs, and one is ${describeValue(record)}: key them first (keyBy, or map to [key, value])`,
  );
}

/** A value that survives a JSON round trip unchanged. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [k: string]: JsonValue };

/** Canonical text of a value: JSON with object members sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    // undefined has no JSON form; it crosses a shuffle as null, so it is keyed as null here too.
    return value === undefined ? "null" : JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(",")}]`;
  }
  const record = value as Record<string, unknown>;
  const names = Object.keys(record)
    .filter((name) => record[name] !== undefined)
    .sort();
  return `{${names.map((name) => `${JSON.stringify(name)}:${canonicalJson(record[name])}`).join(",")}}`;
}

/**
 * The key's identity inside a JavaScript Map. Strings and numbers are used as they are (a Map
 * already tells 1 from "1"); other values by their canonical text, wrapped so that the text can
 * never be mistaken for a string key.
 */
type MapKey = string | number | boolean | null | { readonly composite: string };

/** 32-bit FNV-1a over UTF-16 code units: cheap, and the same in every thread and every run. */
function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return avalanche(hash);
}

/** A final mix, so that keys differing only in their last characters spread over partitions. */
function avalanche(hash: number): number {
  let mixed = hash ^ (hash >>> 16);
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  mixed ^= mixed >>> 16;
  return mixed >>> 0;
}

const STRING_SEED = 0x811c9dc5;
const OTHER_SEED = 0x9747b28c;

/** A stable 32-bit hash of a key: equal keys hash equally in every thread and every run. */
export function stableHash(key: unknown): number {
  if (typeof key === "string") return fnv1a(key, STRING_SEED);
  if (typeof key === "number" && Number.isSafeInteger(key)) return integerHash(key);
  return fnv1a(canonicalJson(key), OTHER_SEED);
}

/** Decimal digits of an integer, least significant first: scratch for `integerHash`. */
const digits = new Uint8Array(16);

/**
 * `fnv1a(canonicalJson(key), OTHER_SEED)` for a safe integer, computed from its digits without
 * making its text: shuffles keyed by a number (a timestamp) hash a key per record.
 */
function integerHash(key: number): number {
  let hash = OTHER_SEED;
  let rest = key;
  if (rest < 0) {
    hash = Math.imul(hash ^ 0x2d, 0x01000193); // "-"
    rest = -rest;
  }
  let count = 0;
  do {
    digits[count++] = rest % 10;
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  while (count > 0) hash = Math.imul(hash ^ (0x30 + digits[--count]!), 0x01000193);
  return avalanche(hash);
}

/** The partition, in [0, partitionCount), that a key belongs to. */
export function partitionOf(key: unknown, partitionCount: number): number {
  return stableHash(key) % partitionCount;
}

/**
 * A Map whose keys are compared by value (canonical JSON), keeping first-insertion order.
 * Primitive keys skip the canonical encoding: the common case stays a plain Map lookup.
 */
export class KeyMap<V> {
  private readonly primitives = new Map<string | number | boolean | null, { key: unknown; value: V }>();
  private readonly composites = new Map<string, { key: unknown; value: V }>();
  private readonly order: { key: unknown; value: V }[] = [];

  get size(): number {
    return this.primitives.size + this.composites.size;
  }

  private entry(key: unknown): { key: unknown; value: V } | undefined {
    const mapKey = toMapKey(key);
    if (mapKey !== null && typeof mapKey === "object") return this.composites.get(mapKey.composite);
    return this.primitives.get(mapKey);
  }

  get(key: unknown): V | undefined {
    return this.entry(key)?.value;
  }

  has(key: unknown): boolean {
    return this.entry(key) !== undefined;
  }

  /** The entry of `key`, created with `initial()` when absent: one lookup for read-modify-write. */
  upsert(key: unknown, initial: () => V): { key: unknown; value: V } {
    const mapKey = toMapKey(key);
    const composite = mapKey !== null && typeof mapKey === "object";
    let found = composite ? this.composites.get(mapKey.composite) : this.primitives.get(mapKey);
    if (!found) {
      found = { key, value: initial() };
      if (composite) this.composites.set(mapKey.composite, found);
      else this.primitives.set(mapKey, found);
      this.order.push(found);
    }
    return found;
  }

  set(key: unknown, value: V): void {
    const existing = this.entry(key);
    if (existing) {
      existing.value = value;
      return;
    }
    const created = { key, value };
    const mapKey = toMapKey(key);
    if (mapKey !== null && typeof mapKey === "object") this.composites.set(mapKey.composite, created);
    else this.primitives.set(mapKey, created);
    this.order.push(created);
  }

  clear(): void {
    this.primitives.clear();
    this.composites.clear();
    this.order.length = 0;
  }

  /** Entries in first-insertion order. */
  *entries(): IterableIterator<[unknown, V]> {
    for (const entry of this.order) yield [entry.key, entry.value];
  }
}

export function toMapKey(key: unknown): MapKey {
  if (typeof key === "string" || typeof key === "boolean") return key;
  if (typeof key === "number") {
    // JSON has no NaN, Infinity or -0: they come back from a shuffle as null, null and 0.
    return Number.isFinite(key) ? (Object.is(key, -0) ? 0 : key) : null;
  }
  if (key === null || key === undefined) return null;
  return { composite: canonicalJson(key) };
}

const TYPE_RANK: Record<string, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5 };

function typeName(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  // A bigint never crosses a thread, but a sink sorts by an INT64 column's values, which may be
  // bigints among numbers: < and > compare the two kinds exactly.
  if (typeof value === "bigint") return "number";
  return typeof value;
}

/**
 * A total order over JSON values: by type (null < boolean < number < string < array < object),
 * then numerically (NaN last, as in Spark), by code unit, element by element, or by canonical
 * text for objects.
 * Used wherever a choice between equal keys must not depend on arrival order.
 */
export function compareValues(left: unknown, right: unknown): number {
  const leftType = typeName(left);
  const rightType = typeName(right);
  if (leftType !== rightType) return (TYPE_RANK[leftType] ?? 9) - (TYPE_RANK[rightType] ?? 9);
  switch (leftType) {
    case "null":
      return 0;
    case "boolean":
    case "number":
      if ((left as number) < (right as number)) return -1;
      if ((left as number) > (right as number)) return 1;
      // Unordered by < and >: equal, or NaN on a side (a rank or sort key, never a shuffled value).
      // Spark's rule: NaN is larger than any other number and equal to itself; without it, NaN
      // would equal every number and a top or a sort would depend on the order records arrive.
      return (Number.isNaN(left) ? 1 : 0) - (Number.isNaN(right) ? 1 : 0);
    case "string":
      return (left as string) < (right as string) ? -1 : (left as string) > (right as string) ? 1 : 0;
    case "array": {
      const leftArray = left as unknown[];
      const rightArray = right as unknown[];
      const common = Math.min(leftArray.length, rightArray.length);
      for (let index = 0; index < common; index++) {
        const order = compareValues(leftArray[index], rightArray[index]);
        if (order !== 0) return order;
      }
      return leftArray.length - rightArray.length;
    }
    default: {
      const leftText = canonicalJson(left);
      const rightText = canonicalJson(right);
      return leftText < rightText ? -1 : leftText > rightText ? 1 : 0;
    }
  }
}
