import { type BlockRef, readBlock } from "./blocks.js";
import { toMapKey } from "./keys.js";

/** The values of a key that has more than one (a value may itself be an array, hence a class). */
class ManyValues {
  constructor(readonly values: unknown[]) {}
}

/**
 * A lookup table: the values of each key, read by every record of a task.
 *
 * A table is built once per thread and held for its whole stage; when the broadcast side is large
 * (200,000 songs at 10M Sparkify events) it is most of a worker's live heap, and every full
 * collection marks it again. A key with one value, the common case of a dimension table, therefore
 * holds that value itself, not an entry object and an array (a third of the table's heap).
 */
export class LookupTable {
  private readonly primitives = new Map<string | number | boolean | null, unknown>();
  private readonly composites = new Map<string, unknown>();

  add(key: unknown, value: unknown): void {
    const mapKey = toMapKey(key);
    if (mapKey !== null && typeof mapKey === "object") add(this.composites, mapKey.composite, value);
    else add(this.primitives, mapKey, value);
  }

  /** The values of `key` in arrival order, in a new array each time: a downstream function may change it. */
  valuesOf(key: unknown): unknown[] {
    const mapKey = toMapKey(key);
    const found =
      mapKey !== null && typeof mapKey === "object"
        ? this.composites.get(mapKey.composite)
        : this.primitives.get(mapKey);
    // Values arrive through blocks, as JSON would carry them: never undefined, so it means absent.
    if (found === undefined) return [];
    return found instanceof ManyValues ? [...found.values] : [found];
  }
}

function add<K>(map: Map<K, unknown>, key: K, value: unknown): void {
  const existing = map.get(key);
  if (existing === undefined) map.set(key, value);
  else if (existing instanceof ManyValues) existing.values.push(value);
  else map.set(key, new ManyValues([existing, value]));
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
  const table = new LookupTable();
  for (const block of blocks) {
    for (const [key, value] of (await readBlock(block)) as [unknown, unknown][]) table.add(key, value);
  }
  return table;
}
