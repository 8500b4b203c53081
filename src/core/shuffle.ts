import { join } from "node:path";
import { type BlockRef, checkCrossingKey, encodeCrossing, readBlock, spillBlocks } from "./blocks.js";
import type { Combiner } from "./combiners.js";
import { KeyMap, keyValuePair, partitionOf } from "./keys.js";
import type { ShufflePlan } from "./stages.js";

/**
 * A combiner's own function threw (create, add, merge or extract: a fold of the user's, or a
 * built-in refusing a value): the operators name the combine's transform and the key with it.
 */
export class CombinerError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly key: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** A block of one shuffle partition, written by one task. */
export interface ShuffleBlock {
  readonly shuffleId: number;
  readonly partition: number;
  readonly block: BlockRef;
}

export interface ShuffleWriterSettings {
  readonly batchSize: number;
  /** Past this many bytes of encoded blocks held in memory, the writer spills them to disk. */
  readonly memoryBudget: number;
  readonly spillDirectory: string;
  /** Unique per task: names spill files. */
  readonly taskId: string;
  /** Where round-robin repartitioning starts, so that tasks do not all fill partition 0 first. */
  readonly taskIndex: number;
}

/**
 * Past this many distinct keys the map-side combine flushes its partial results into the shuffle:
 * a bound on its memory (about 100 bytes a key) that still combines vocabularies of up to a million.
 */
const MAX_COMBINE_KEYS = 1_000_000;

/**
 * The map side of one shuffle within one task: routes records to partitions by a stable hash of
 * their key, folds them first where a combiner allows (combiner lifting), and encodes them in blocks.
 *
 * Wire formats: group `[key, slot, value]`, combine `[key, accumulator]`, repartition the record,
 * repartitionByKey the value (its key only chooses the partition).
 */
export class ShuffleWriter {
  private readonly pending: unknown[][];
  private readonly blocks: ShuffleBlock[] = [];
  private readonly combined: KeyMap<unknown> | undefined;
  private readonly combiner: Combiner<unknown, unknown, unknown> | undefined;
  private inMemoryBytes = 0;
  private spillCount = 0;
  private roundRobin: number;
  bytesWritten = 0;
  bytesSpilled = 0;
  /** Names the records in an error; made once, as the check runs for every record. */
  private readonly recordsName = (): string => `the records going into '${this.shuffle.name}'`;

  constructor(
    private readonly shuffle: ShufflePlan,
    private readonly settings: ShuffleWriterSettings,
  ) {
    this.pending = Array.from({ length: shuffle.partitionCount }, () => []);
    this.roundRobin = settings.taskIndex;
    if (shuffle.mode === "combine") {
      this.combiner = shuffle.combiner;
      this.combined = new KeyMap();
    }
  }

  /** Takes one record from input `slot`. May spill, hence the promise every so often. */
  write(slot: number, record: unknown): void {
    switch (this.shuffle.mode) {
      case "repartition": {
        const partition = this.roundRobin++ % this.shuffle.partitionCount;
        this.append(partition, record);
        return;
      }
      case "repartitionByKey": {
        const [key, value] = this.pairOf(record);
        checkCrossingKey(key, this.recordsName());
        this.append(partitionOf(key, this.shuffle.partitionCount), value);
        return;
      }
      case "group": {
        const [key, value] = this.pairOf(record);
        this.append(this.partitionOfKey(key), [key, slot, value]);
        return;
      }
      case "combine": {
        const [key, value] = this.pairOf(record);
        const combiner = this.combiner!;
        const entry = this.combinedEntry(key, combiner);
        try {
          entry.value = combiner.add(entry.value, value);
        } catch (error) {
          throw new CombinerError(error, key);
        }
        if (this.combined!.size >= MAX_COMBINE_KEYS) this.flushCombined();
        return;
      }
    }
  }

  /**
   * A key that cannot be hashed (a bigint, a function) fails saying why; one that can is checked
   * when its block is encoded.
   */
  private partitionOfKey(key: unknown): number {
    try {
      return partitionOf(key, this.shuffle.partitionCount);
    } catch (error) {
      checkCrossingKey(key, this.recordsName());
      throw error;
    }
  }

  /** The map-side accumulator of a key, likewise. */
  private combinedEntry(key: unknown, combiner: Combiner<unknown, unknown, unknown>): { value: unknown } {
    try {
      return this.combined!.upsert(key, () => {
        try {
          return combiner.create();
        } catch (error) {
          throw new CombinerError(error, key);
        }
      });
    } catch (error) {
      checkCrossingKey(key, this.recordsName());
      throw error;
    }
  }

  private pairOf(record: unknown): readonly [unknown, unknown] {
    return keyValuePair(record, this.recordsName);
  }

  private flushCombined(): void {
    if (!this.combined) return;
    for (const [key, accumulator] of this.combined.entries()) {
      this.append(this.partitionOfKey(key), [key, accumulator]);
    }
    this.combined.clear();
  }

  private append(partition: number, wireRecord: unknown): void {
    const pending = this.pending[partition]!;
    pending.push(wireRecord);
    if (pending.length >= this.settings.batchSize) this.seal(partition);
  }

  private seal(partition: number): void {
    const pending = this.pending[partition]!;
    if (pending.length === 0) return;
    const block = encodeCrossing(pending, `the records going into '${this.shuffle.name}'`, (problem) =>
      problem.replace(/ at \[\d+\](\[(\d)\])?/, (_match, _slot, index: string | undefined) => {
        if (this.shuffle.mode === "repartition" || this.shuffle.mode === "repartitionByKey")
          return ` in a record at ${_slot ?? ""}`;
        if (index === "0") return " in a key at ";
        return this.shuffle.mode === "group" ? " in a value at " : " in an accumulator at ";
      }),
    );
    this.pending[partition] = [];
    this.blocks.push({ shuffleId: this.shuffle.id, partition, block });
    this.inMemoryBytes += block.byteLength;
    this.bytesWritten += block.byteLength;
  }

  /** True when the blocks held in memory passed the budget; the task then awaits `spill()`. */
  get overBudget(): boolean {
    return this.inMemoryBytes > this.settings.memoryBudget;
  }

  async spill(): Promise<void> {
    const inMemory = this.blocks.filter((entry) => "bytes" in entry.block);
    if (inMemory.length === 0) return;
    const file = join(
      this.settings.spillDirectory,
      `map-${this.shuffle.id}-${this.settings.taskId}-${this.spillCount++}.blocks`,
    );
    const spilled = await spillBlocks(
      file,
      inMemory.map((entry) => entry.block),
    );
    let index = 0;
    for (let position = 0; position < this.blocks.length; position++) {
      const entry = this.blocks[position]!;
      if ("bytes" in entry.block) {
        this.bytesSpilled += entry.block.byteLength;
        this.blocks[position] = { ...entry, block: spilled[index++]! };
      }
    }
    this.inMemoryBytes = 0;
  }

  /** Flushes everything and returns the blocks, in the order they were written. */
  finish(): ShuffleBlock[] {
    this.flushCombined();
    for (let partition = 0; partition < this.shuffle.partitionCount; partition++) this.seal(partition);
    return this.blocks;
  }
}

/**
 * The reduce side of one shuffle partition: reads its blocks (from memory or spill files) in the
 * order given and yields the grouped, combined or passed-through records.
 */
export async function* readShufflePartition(
  shuffle: ShufflePlan,
  blocks: readonly BlockRef[],
): AsyncGenerator<unknown[]> {
  if (shuffle.mode === "repartition" || shuffle.mode === "repartitionByKey") {
    for (const block of blocks) yield await readBlock(block);
    return;
  }
  if (shuffle.mode === "combine") {
    const combiner = shuffle.combiner!;
    const accumulators = new KeyMap<unknown>();
    for (const block of blocks) {
      for (const [key, accumulator] of (await readBlock(block)) as [unknown, unknown][]) {
        const entry = accumulators.upsert(key, () => undefined);
        try {
          entry.value = entry.value === undefined ? accumulator : combiner.merge(entry.value, accumulator);
        } catch (error) {
          throw new CombinerError(error, key);
        }
      }
    }
    yield* batched(accumulators.entries(), ([key, accumulator]) => {
      try {
        return [key, combiner.extract(accumulator)];
      } catch (error) {
        throw new CombinerError(error, key);
      }
    });
    return;
  }
  const inputCount = shuffle.inputCount;
  const decoded: [unknown, number, unknown][][] = [];
  let numericKeys = true;
  for (const block of blocks) {
    const records = (await readBlock(block)) as [unknown, number, unknown][];
    decoded.push(records);
    for (const record of records) if (typeof record[0] !== "number") numericKeys = false;
  }
  if (numericKeys) {
    yield* batched(groupedBySorting(decoded, inputCount), (group) => group);
    return;
  }
  const groups = new KeyMap<unknown[][]>();
  for (const records of decoded) {
    for (const [key, slot, value] of records) {
      const group = groups.upsert(key, () => emptyGroup(inputCount));
      addToGroup(group.value, slot, value);
    }
  }
  yield* batched(groups.entries(), ([key, values]) => [key, finishedGroup(values)]);
}

/**
 * Groups of a partition whose keys are all numbers (timestamps, ids), found by sorting the
 * records by key instead of through a map: no entry object, map slot and array per key, which a
 * partition of mostly distinct keys (a play per millisecond) held until its last record. The sort
 * is stable, so each group's values keep their order of arrival; groups come out in key order.
 */
function* groupedBySorting(
  decoded: readonly (readonly [unknown, number, unknown])[][],
  inputCount: number,
): Generator<[unknown, unknown[][]]> {
  const records = decoded.length === 1 ? decoded[0]! : decoded.flat();
  const keys = new Float64Array(records.length);
  const order: number[] = [];
  for (let index = 0; index < records.length; index++) {
    keys[index] = records[index]![0] as number;
    order.push(index);
  }
  // An array's sort (TimSort) takes the blocks' runs of ordered keys as they are (each writer
  // task's records are mostly in key order); ties broken by position, stable whatever the sort.
  order.sort((left, right) => keys[left]! - keys[right]! || left - right);
  let index = 0;
  while (index < order.length) {
    const first = records[order[index]!]!;
    const group = emptyGroup(inputCount);
    do {
      const [, slot, value] = records[order[index]!]!;
      addToGroup(group, slot, value);
      index++;
    } while (index < order.length && keys[order[index]!] === keys[order[index - 1]!]);
    yield [first[0], finishedGroup(group)];
  }
}

/**
 * A group's values of each input, empty: a shared empty array per input until its first value,
 * which then gets an array of its own made to fit (`[value]`). Most groups of a partition hold one
 * value (a play per millisecond), and an array pushed into from empty reserves room for seventeen.
 */
function emptyGroup(inputCount: number): unknown[][] {
  // Literals for the usual counts: an array made by length has holes, slower to read downstream.
  if (inputCount === 1) return [NO_VALUES];
  if (inputCount === 2) return [NO_VALUES, NO_VALUES];
  return Array.from({ length: inputCount }, () => NO_VALUES);
}

/** The group as it is handed out: an input without values gets an empty array of its own. */
function finishedGroup(group: unknown[][]): unknown[][] {
  for (let slot = 0; slot < group.length; slot++) if (group[slot] === NO_VALUES) group[slot] = [];
  return group;
}

function addToGroup(group: unknown[][], slot: number, value: unknown): void {
  const values = group[slot]!;
  if (values === NO_VALUES) group[slot] = [value];
  else values.push(value);
}

/** Stands for "no value yet" in a group being filled; replaced before the group is handed out. */
const NO_VALUES: unknown[] = [];

const REDUCE_BATCH = 4096;

function* batched<E>(entries: Iterable<E>, toRecord: (entry: E) => unknown): Generator<unknown[]> {
  let batch: unknown[] = [];
  for (const entry of entries) {
    batch.push(toRecord(entry));
    if (batch.length >= REDUCE_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
