import { join } from "node:path";
import { type BlockRef, spillBlocks } from "../blocks.js";
import type { TaskResult } from "../task.js";
import type { Plan } from "../stages.js";

/**
 * Where shuffle blocks wait between the tasks that write them and the tasks that read them. The
 * job runner knows only this: blocks held on this machine are one store; others (object storage,
 * for runs past one machine) can stand behind the same three calls.
 */
export interface ShuffleStore {
  /** Stores a task's blocks; returns the bytes it had to spill to stay within its budget. */
  add(stageId: number, taskIndex: number, result: TaskResult): Promise<number>;
  /** Bytes written to a shuffle so far. */
  bytesOf(shuffleId: number): number;
  /** The blocks of one partition in a fixed order (writer stage, task, sequence), handed over once. */
  take(shuffleId: number, partition: number): BlockRef[];
}

interface StoredBlock {
  readonly order: [number, number, number];
  block: BlockRef;
}

/**
 * Holds shuffle blocks between the map and reduce stages, on the main thread: bytes only, never
 * objects. Past the memory budget it writes blocks to the run's spill folder.
 */
export class LocalShuffleStore implements ShuffleStore {
  private readonly partitions = new Map<number, StoredBlock[][]>();
  /** Bytes written to each shuffle, in memory or spilled. */
  private readonly shuffleBytes = new Map<number, number>();
  private inMemoryBytes = 0;
  private spillFiles = 0;

  constructor(
    plan: Plan,
    private readonly memoryBudget: number,
    private readonly spillDirectory: string,
  ) {
    for (const shuffle of plan.shuffles.values()) {
      this.partitions.set(
        shuffle.id,
        Array.from({ length: shuffle.partitionCount }, () => []),
      );
    }
  }

  /** Stores a task's blocks; returns the bytes it had to spill to stay within the budget. */
  async add(stageId: number, taskIndex: number, result: TaskResult): Promise<number> {
    const added: StoredBlock[] = [];
    result.shuffleBlocks.forEach((entry, sequence) => {
      const stored: StoredBlock = { order: [stageId, taskIndex, sequence], block: entry.block };
      this.partitions.get(entry.shuffleId)?.[entry.partition]?.push(stored);
      this.shuffleBytes.set(
        entry.shuffleId,
        (this.shuffleBytes.get(entry.shuffleId) ?? 0) + entry.block.byteLength,
      );
      if ("bytes" in entry.block) this.inMemoryBytes += entry.block.byteLength;
      added.push(stored);
    });
    return this.inMemoryBytes > this.memoryBudget ? await this.spill(added) : 0;
  }

  private async spill(entries: StoredBlock[]): Promise<number> {
    const inMemory = entries.filter((entry) => "bytes" in entry.block);
    if (inMemory.length === 0) return 0;
    const file = join(this.spillDirectory, `store-${this.spillFiles++}.blocks`);
    const spilled = await spillBlocks(
      file,
      inMemory.map((entry) => entry.block),
    );
    let bytes = 0;
    inMemory.forEach((entry, index) => {
      bytes += entry.block.byteLength;
      entry.block = spilled[index]!;
    });
    this.inMemoryBytes -= bytes;
    return bytes;
  }

  /** Bytes written to a shuffle so far. */
  bytesOf(shuffleId: number): number {
    return this.shuffleBytes.get(shuffleId) ?? 0;
  }

  /** The blocks of one partition in a fixed order (writer stage, task, sequence), handed over once. */
  take(shuffleId: number, partition: number): BlockRef[] {
    const stored = this.partitions.get(shuffleId)?.[partition] ?? [];
    stored.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1] || a.order[2] - b.order[2]);
    const blocks = stored.map((entry) => entry.block);
    for (const block of blocks) if ("bytes" in block) this.inMemoryBytes -= block.byteLength;
    stored.length = 0;
    return blocks;
  }
}
