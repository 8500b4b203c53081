import { type BlockRef, readBlock } from "./blocks.js";
import { KeyMap } from "./keys.js";

/** A lookup table: the values of each key, ready to be read by every record of a task. */
export type LookupTable = KeyMap<unknown[]>;

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
  const table: LookupTable = new KeyMap();
  for (const block of blocks) {
    for (const [key, value] of (await readBlock(block)) as [unknown, unknown][]) {
      table.upsert(key, () => []).value.push(value);
    }
  }
  return table;
}
