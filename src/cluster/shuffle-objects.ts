import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type BlockRef,
  isObjectBlock,
  messageOf,
  type ObjectBlockRef,
  SluiceError,
  type TaskResult,
} from "../core/index.js";
import {
  childOf,
  deleteKeys,
  formatLocation,
  type Location,
  listObjects,
  parseLocation,
  putBytes,
  readObject,
  type S3Settings,
} from "../io/index.js";
import { makeFolders } from "../io/folders.js";

/**
 * The shuffle of runs past one machine, in shared storage: an S3 prefix, or a folder every
 * machine mounts at the same path. Each task attempt writes its output blocks as one object under
 * `<root>/<run>/`, laid out by shuffle and partition so that a read task fetches each partition of
 * each map task with one ranged GET; the object's index (which block lies where) is the task's
 * result, which reaches the driver through the queue. Objects are named by attempt and a random
 * suffix: two attempts of a task never write the same key, and the driver reads only the one it
 * accepted.
 */
export class ShuffleObjects {
  readonly root: Location;

  constructor(
    root: string,
    private readonly s3: S3Settings,
  ) {
    this.root = parseLocation(root.replace(/\/+$/, ""));
  }

  /** Where an attempt's object goes. */
  objectFor(runId: string, stageId: number, taskIndex: number, attempt: number): Location {
    const name = `s${stageId}-t${taskIndex}-a${attempt}-${randomBytes(4).toString("hex")}.blocks`;
    return childOf(this.root, `${runId}/${name}`);
  }

  /**
   * Writes a task's output blocks (in memory, or spilled to this machine's disk) as one object
   * and answers the result with every block replaced by its range in that object.
   */
  async store(result: TaskResult, object: Location): Promise<{ result: TaskResult; bytes: number }> {
    const uri = formatLocation(object);
    const parts: Uint8Array[] = [];
    let offset = 0;
    const place = (block: BlockRef): ObjectBlockRef => {
      parts.push(bytesOf(block));
      const placed = { records: block.records, byteLength: block.byteLength, object: uri, offset };
      offset += block.byteLength;
      return placed;
    };
    // By shuffle and partition (stably: a partition's blocks keep their order), so that each
    // partition of this task is one contiguous range.
    const order = result.shuffleBlocks
      .map((entry, index) => ({ entry, index }))
      .sort(
        (a, b) =>
          a.entry.shuffleId - b.entry.shuffleId || a.entry.partition - b.entry.partition || a.index - b.index,
      );
    const placedShuffle = new Array<TaskResult["shuffleBlocks"][number]>(order.length);
    for (const { entry, index } of order) placedShuffle[index] = { ...entry, block: place(entry.block) };
    const collected = result.collected.map((entry) => ({ ...entry, block: place(entry.block) }));
    if (offset > 0) await this.write(object, parts);
    return { result: { ...result, shuffleBlocks: placedShuffle, collected }, bytes: offset };
  }

  private async write(object: Location, parts: Uint8Array[]): Promise<void> {
    const uri = formatLocation(object);
    try {
      if (object.kind === "s3") {
        await putBytes(this.s3, object.bucket, object.key, parts);
        return;
      }
      await makeFolders(dirname(object.path));
      // Whole or not at all: a reader never sees a part of an object.
      const partial = `${object.path}.${randomBytes(4).toString("hex")}.partial`;
      await writeFile(partial, parts);
      await rename(partial, object.path);
    } catch (error) {
      throw new SluiceError(`could not write the shuffle object ${uri}: ${messageOf(error)}`);
    }
  }

  /**
   * Blocks this machine can read for blocks in objects: in a shared folder they are read where
   * they lie; from S3 each object's ranges are fetched (adjacent ones in one request) into
   * `localFile`. Other blocks pass unchanged.
   */
  async fetch(blocks: readonly BlockRef[], localFile: string): Promise<BlockRef[]> {
    if (this.root.kind === "local") {
      return blocks.map((block) =>
        isObjectBlock(block)
          ? { records: block.records, byteLength: block.byteLength, file: block.object, offset: block.offset }
          : block,
      );
    }
    const ranges = rangesOf(blocks.filter(isObjectBlock));
    if (ranges.length === 0) return [...blocks];
    const parts: Uint8Array[] = [];
    const placedAt = new Map<string, number>();
    let written = 0;
    for (const range of ranges) {
      const location = parseLocation(range.object);
      if (location.kind !== "s3")
        throw new SluiceError(`${range.object} is not in ${formatLocation(this.root)}`);
      let read = 0;
      for await (const chunk of readObject(this.s3, location.bucket, location.key, range.start, range.end)) {
        parts.push(chunk);
        read += chunk.byteLength;
      }
      if (read !== range.end - range.start) {
        throw new SluiceError(
          `the shuffle object ${range.object} ends before byte ${range.end}: it was cut short or replaced`,
        );
      }
      placedAt.set(`${range.object}@${range.start}`, written);
      written += read;
    }
    await makeFolders(dirname(localFile));
    await writeFile(localFile, parts);
    return blocks.map((block) => {
      if (!isObjectBlock(block)) return block;
      const range = ranges.find(
        (candidate) =>
          candidate.object === block.object &&
          candidate.start <= block.offset &&
          block.offset + block.byteLength <= candidate.end,
      )!;
      const base = placedAt.get(`${range.object}@${range.start}`)!;
      return {
        records: block.records,
        byteLength: block.byteLength,
        file: localFile,
        offset: base + block.offset - range.start,
      };
    });
  }

  /** Removes one object. */
  async remove(object: Location): Promise<void> {
    if (object.kind === "local") await rm(object.path, { force: true });
    else await deleteKeys(this.s3, object.bucket, [object.key]);
  }

  /** Removes every object of a run; answers what could not be removed. */
  async removeRun(runId: string): Promise<string[]> {
    const prefix = childOf(this.root, runId);
    if (prefix.kind === "local") {
      await rm(prefix.path, { recursive: true, force: true });
      return [];
    }
    const objects = await listObjects(this.s3, prefix.bucket, `${prefix.key}/`);
    return deleteKeys(
      this.s3,
      prefix.bucket,
      objects.map((object) => object.key),
    );
  }

  /** The runs that have objects here (names starting `_` or `.` are not runs: a probe's folder, say). */
  async runsStored(): Promise<string[]> {
    if (this.root.kind === "local") {
      try {
        return (await readdir(this.root.path, { withFileTypes: true }))
          .filter((entry) => entry.isDirectory() && !/^[_.]/.test(entry.name))
          .map((entry) => entry.name);
      } catch {
        return [];
      }
    }
    const prefix = this.root.key === "" ? "" : `${this.root.key}/`;
    const objects = await listObjects(this.s3, this.root.bucket, prefix);
    const names = objects.map((object) => object.key.slice(prefix.length).split("/")[0]!);
    return [...new Set(names)].filter((name) => !/^[_.]/.test(name));
  }
}

/** The bytes of a block held in memory or spilled to this machine's disk. */
function bytesOf(block: BlockRef): Uint8Array {
  if ("bytes" in block) return block.bytes;
  if (isObjectBlock(block)) throw new SluiceError(`a task answered a block of ${block.object}, not its own`);
  const buffer = Buffer.allocUnsafe(block.byteLength);
  const descriptor = openSync(block.file, "r");
  try {
    let filled = 0;
    while (filled < block.byteLength) {
      const read = readSync(descriptor, buffer, filled, block.byteLength - filled, block.offset + filled);
      if (read === 0) throw new SluiceError(`${block.file} ends before the block at ${block.offset} does`);
      filled += read;
    }
  } finally {
    closeSync(descriptor);
  }
  return buffer;
}

/** The byte ranges that cover the blocks, one per run of adjacent blocks of an object. */
function rangesOf(blocks: readonly ObjectBlockRef[]): { object: string; start: number; end: number }[] {
  const sorted = [...blocks].sort((a, b) =>
    a.object < b.object ? -1 : a.object > b.object ? 1 : a.offset - b.offset,
  );
  const ranges: { object: string; start: number; end: number }[] = [];
  for (const block of sorted) {
    const last = ranges.at(-1);
    const end = block.offset + block.byteLength;
    if (last && last.object === block.object && block.offset <= last.end) last.end = Math.max(last.end, end);
    else ranges.push({ object: block.object, start: block.offset, end });
  }
  return ranges;
}
