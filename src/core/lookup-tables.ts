import { endianness } from "node:os";
import { type BlockRef, readBlock } from "./blocks.js";
import { GrowingBuffer } from "./growing-buffer.js";
import { toMapKey } from "./keys.js";

/** The values of a lookup table's keys: what a lookup gives each record. */
export interface LookupTable {
  /** The values of `key` in arrival order, in a new array each time: a downstream function may change it. */
  valuesOf(key: unknown): unknown[];
}

/** The values of a key that has more than one (a value may itself be an array, hence a class). */
class ManyValues {
  constructor(readonly values: unknown[]) {}
}

/**
 * A lookup table held in JavaScript maps: what a table is built as, and what a small one stays;
 * `pack()` moves a large one out of the heap. A key with one value holds that value itself, not
 * an entry object and an array.
 */
export class LookupTableBuilder implements LookupTable {
  private readonly primitives = new Map<string | number | boolean | null, unknown>();
  private readonly composites = new Map<string, unknown>();
  /** Values added, over all keys. */
  private values = 0;

  add(key: unknown, value: unknown): void {
    const mapKey = toMapKey(key);
    if (mapKey !== null && typeof mapKey === "object") add(this.composites, mapKey.composite, value);
    else add(this.primitives, mapKey, value);
    this.values++;
  }

  /** The values of `key` as the table holds them: the same objects each time, not copies. */
  valuesOf(key: unknown): unknown[] {
    const found = this.found(key);
    // Values arrive through blocks, as JSON would carry them: never undefined, so it means absent.
    return found === undefined ? [] : [...valuesIn(found)];
  }

  /** What the table holds for `key`: a value, the values of a key that has several, or undefined. */
  found(key: unknown): unknown {
    const mapKey = toMapKey(key);
    return mapKey !== null && typeof mapKey === "object"
      ? this.composites.get(mapKey.composite)
      : this.primitives.get(mapKey);
  }

  /**
   * The table to look up in: kept in the heap while it holds at most `MAX_FLAT_VALUES_KEPT`
   * values, packed beyond. A packed table keeps that many parsed values for its hits anyway, so a
   * smaller table would end up in the heap after paying to be packed and parsed back.
   */
  build(): LookupTable {
    return this.values <= MAX_FLAT_VALUES_KEPT ? new HeapLookupTable(this) : this.pack();
  }

  /** The same table in typed arrays and a buffer, outside the JavaScript heap. */
  pack(): PackedLookupTable {
    return new PackedLookupTable(this.primitives, this.composites);
  }
}

/**
 * A table kept as it was built. Each hit gets values of its own, as from a packed table: a flat
 * value copied, any other through its JSON text (values arrive through blocks, so JSON holds them
 * whole).
 */
class HeapLookupTable implements LookupTable {
  /** The JSON text of each nested value hit so far: written once, parsed for every hit. */
  private readonly texts = new Map<unknown, string>();

  constructor(private readonly builder: LookupTableBuilder) {}

  valuesOf(key: unknown): unknown[] {
    const found = this.builder.found(key);
    if (found === undefined) return [];
    if (!(found instanceof ManyValues)) return [this.copyOf(found)];
    return found.values.map((value) => this.copyOf(value));
  }

  private copyOf(value: unknown): unknown {
    if (isFlat(value)) return copyOfFlat(value);
    let text = this.texts.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      this.texts.set(value, text);
    }
    return JSON.parse(text);
  }
}

function add<K>(map: Map<K, unknown>, key: K, value: unknown): void {
  const existing = map.get(key);
  if (existing === undefined) map.set(key, value);
  else if (existing instanceof ManyValues) existing.values.push(value);
  else map.set(key, new ManyValues([existing, value]));
}

function valuesIn(found: unknown): unknown[] {
  return found instanceof ManyValues ? found.values : [found];
}

// A key is its type's tag and a text: keys of different types never share one.
const TAG_STRING = 1;
const TAG_NUMBER = 2;
const TAG_BOOLEAN = 3;
const TAG_NULL = 4;
const TAG_COMPOSITE = 5;

function tagged(mapKey: string | number | boolean | null): [tag: number, text: string] {
  if (typeof mapKey === "string") return [TAG_STRING, mapKey];
  if (typeof mapKey === "number") return [TAG_NUMBER, String(mapKey)];
  if (typeof mapKey === "boolean") return [TAG_BOOLEAN, mapKey ? "1" : "0"];
  return [TAG_NULL, ""];
}

/** FNV-1a over the tag and the text's UTF-16 code units. */
function hashOf(tag: number, text: string): number {
  let hash = Math.imul(0x811c9dc5 ^ tag, 0x01000193);
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  }
  return hash >>> 0;
}

/** Texts' UTF-16 code units, one after another, into an array sized for them all. */
class Utf16Writer {
  /** Code units written so far. */
  length = 0;
  /** The array's bytes, where the machine stores UTF-16 as UTF-16LE does: one copy per text. */
  private readonly bytes: Buffer | undefined;

  constructor(private readonly units: Uint16Array) {
    this.bytes = LITTLE_ENDIAN ? Buffer.from(units.buffer, units.byteOffset, units.byteLength) : undefined;
  }

  write(text: string): void {
    if (this.bytes) this.bytes.write(text, this.length * 2, "utf16le");
    else
      for (let index = 0; index < text.length; index++)
        this.units[this.length + index] = text.charCodeAt(index);
    this.length += text.length;
  }
}

const LITTLE_ENDIAN = endianness() === "LE";

/**
 * Parsed values a table keeps for copying, at most: about 10 MB of small records, a bound on
 * what the cache gives back of the heap the packing saves (a table's hot keys fit well within it).
 */
const MAX_FLAT_VALUES_KEPT = 65_536;

/** A value whose copy is a shallow one: a primitive, or an object or array of primitives only. */
function isFlat(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  for (const member of Object.values(value)) if (typeof member === "object" && member !== null) return false;
  return true;
}

/** A flat value of its own: what parsing its text again would give. */
function copyOfFlat(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  return Array.isArray(value) ? value.slice() : { ...value };
}

/**
 * A lookup table in typed arrays and one buffer: keys as UTF-16 code units, values as JSON text,
 * an open-addressing index over them. A broadcast table is held by every task of its stage; at
 * 10M Sparkify events the songs' table (200,000 keys) was most of each worker's live heap, and V8
 * grows a heap by a multiple of what is live, so the table cost several times its size in RSS and
 * was marked again by every full collection. Here it is a few ArrayBuffers the collector never
 * walks. Every record gets values of its own: parsed from their text, or copied from a flat
 * value parsed before.
 */
export class PackedLookupTable implements LookupTable {
  private readonly slots: Int32Array;
  private readonly hashes: Uint32Array;
  private readonly tags: Uint8Array;
  private readonly keyStarts: Uint32Array;
  private readonly keyChars: Uint16Array;
  private readonly valueStarts: Uint32Array;
  private readonly valueEnds: Uint32Array;
  private readonly valueText: Buffer;
  /** Flat values already parsed, by value index (a sparse array), and how many. */
  private readonly flatValues: unknown[];
  private flatKept = 0;

  constructor(
    primitives: ReadonlyMap<string | number | boolean | null, unknown>,
    composites: ReadonlyMap<string, unknown>,
  ) {
    const count = primitives.size + composites.size;
    this.hashes = new Uint32Array(count);
    this.tags = new Uint8Array(count);
    this.keyStarts = new Uint32Array(count + 1);
    // Entry i's values are valueStarts[i]..valueStarts[i + 1] - 1, each a JSON text in valueText.
    this.valueStarts = new Uint32Array(count + 1);
    // Sized first, then filled a key and a value at a time: texts of the whole table, joined, would
    // be held in the heap beside the table being built (twice, in UTF-16, with one non-Latin-1
    // character among them), as every worker builds it at once.
    let chars = 0;
    let valueCount = 0;
    for (const [key, found] of primitives) {
      chars += typeof key === "string" ? key.length : tagged(key)[1].length;
      valueCount += found instanceof ManyValues ? found.values.length : 1;
    }
    for (const [composite, found] of composites) {
      chars += composite.length;
      valueCount += found instanceof ManyValues ? found.values.length : 1;
    }
    this.keyChars = new Uint16Array(chars);
    const keyUnits = new Utf16Writer(this.keyChars);
    this.valueEnds = new Uint32Array(valueCount);
    // A first guess at the values' size, low on purpose (a table of millions of small values must
    // not start with a buffer many times their size): doubling makes up for it.
    const valueText = new GrowingBuffer(Math.max(4096, valueCount * 16));
    let entry = 0;
    let valueIndex = 0;
    const take = (tag: number, text: string, found: unknown): void => {
      this.tags[entry] = tag;
      this.hashes[entry] = hashOf(tag, text);
      this.keyStarts[entry] = keyUnits.length;
      keyUnits.write(text);
      this.valueStarts[entry] = valueIndex;
      if (found instanceof ManyValues) {
        for (const value of found.values) {
          valueText.utf8(JSON.stringify(value));
          this.valueEnds[valueIndex++] = valueText.length;
        }
      } else {
        valueText.utf8(JSON.stringify(found));
        this.valueEnds[valueIndex++] = valueText.length;
      }
      entry++;
    };
    for (const [key, found] of primitives) {
      if (typeof key === "string") take(TAG_STRING, key, found);
      else take(...tagged(key), found);
    }
    for (const [composite, found] of composites) take(TAG_COMPOSITE, composite, found);
    this.keyStarts[count] = chars;
    this.valueStarts[count] = valueCount;
    this.valueText = valueText.written();
    this.flatValues = new Array(valueCount);
    // At most half full, so that a miss (most plays find no song) ends after a probe or two.
    let size = 2;
    while (size < count * 2) size *= 2;
    this.slots = new Int32Array(size);
    const mask = size - 1;
    for (let entry = 0; entry < count; entry++) {
      let slot = this.hashes[entry]! & mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[slot] = entry + 1;
    }
  }

  valuesOf(key: unknown): unknown[] {
    // String keys (the common case: one per record looked up) go straight to the index.
    const entry = typeof key === "string" ? this.find(TAG_STRING, key) : this.findKey(key);
    if (entry < 0) return [];
    const from = this.valueStarts[entry]!;
    const to = this.valueStarts[entry + 1]!;
    const values: unknown[] = [];
    for (let index = from; index < to; index++) {
      const flat = this.flatValues[index];
      values.push(flat === undefined ? this.decode(index) : copyOfFlat(flat));
    }
    return values;
  }

  /**
   * Value `index` parsed from its text; kept, when it is flat and the table has room, for the
   * next hits to copy rather than parse again (a copy of a small object costs a fraction of
   * parsing it: strings are shared, being immutable, and the copy is the caller's own).
   */
  private decode(index: number): unknown {
    const start = index === 0 ? 0 : this.valueEnds[index - 1]!;
    const value: unknown = JSON.parse(this.valueText.toString("utf8", start, this.valueEnds[index]!));
    if (this.flatKept < MAX_FLAT_VALUES_KEPT && isFlat(value)) {
      this.flatValues[index] = typeof value === "object" && value !== null ? copyOfFlat(value) : value;
      this.flatKept++;
    }
    return value;
  }

  private findKey(key: unknown): number {
    const mapKey = toMapKey(key);
    const [tag, text] =
      mapKey !== null && typeof mapKey === "object" ? [TAG_COMPOSITE, mapKey.composite] : tagged(mapKey);
    return this.find(tag, text);
  }

  private find(tag: number, text: string): number {
    const hash = hashOf(tag, text);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const occupant = this.slots[slot]!;
      if (occupant === 0) return -1;
      const entry = occupant - 1;
      if (this.hashes[entry] === hash && this.tags[entry] === tag && this.keyEquals(entry, text))
        return entry;
    }
  }

  private keyEquals(entry: number, text: string): boolean {
    const start = this.keyStarts[entry]!;
    if (this.keyStarts[entry + 1]! - start !== text.length) return false;
    for (let index = 0; index < text.length; index++) {
      if (this.keyChars[start + index] !== text.charCodeAt(index)) return false;
    }
    return true;
  }
}

/**
 * The tables this thread has built, for one run at a time: every task of a stage receives the same
 * table, and building it once per thread rather than once per task is the point of a broadcast.
 */
let cached: { runId: string; tables: Map<number, Promise<LookupTable>> } | undefined;

/** The table of lookup `nodeId` from its blocks (`[key, value]` records), built once per thread and run. */
export function lookupTable(
  runId: string,
  nodeId: number,
  blocks: readonly BlockRef[],
): Promise<LookupTable> {
  if (cached?.runId !== runId) cached = { runId, tables: new Map() };
  let table = cached.tables.get(nodeId);
  if (!table) {
    table = buildTable(blocks);
    cached.tables.set(nodeId, table);
  }
  return table;
}

async function buildTable(blocks: readonly BlockRef[]): Promise<LookupTable> {
  const builder = new LookupTableBuilder();
  for (const block of blocks) {
    for (const [key, value] of (await readBlock(block)) as [unknown, unknown][]) builder.add(key, value);
  }
  return builder.build();
}
