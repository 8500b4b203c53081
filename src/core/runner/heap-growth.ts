import { totalmem } from "node:os";
import { setFlagsFromString } from "node:v8";
import { nodeStartArguments } from "./v8-helper-threads.js";

/**
 * How far V8 lets a heap grow before its next full collection. V8 picks a factor from the heap's
 * limit: a worker limited to 1 GiB grows by about 1.6 times what it keeps, so a task that keeps
 * 200 MB of a partition is collected again and again as it works through it. Heaps of 2 GiB and
 * more grow by 4 times: fewer full collections, and as much more memory. For the Sparkify ETL,
 * 4 times for 1 GiB workers made 1M events faster and took the peak of 10M events past what the
 * machine can spare (bench/README.md, "Heaps that grow 4-fold below a line", has the figures).
 *
 * So a pool may let heaps grow by 4 times while the process's resident memory is below a line,
 * and give the choice back to V8 above it: jobs that fit run with few collections; a job that
 * outgrows the line collects as often as V8 would. A heap keeps the limit its last full collection
 * set until its next one, so on the way back every worker is asked to collect at once
 * (heap-collections.ts); without that, a 10M-event run still peaked as high as with 4-fold growth.
 * The factor is V8's `--heap-growing-percent`, read at every full collection and process-wide:
 * it changes the host's own isolate too, so a command may choose it (the Sparkify command does)
 * and a library leaves it to its host.
 */
const FAST_GROWTH = "--heap-growing-percent=300";
/** 0 is V8's own setting: the factor it picks from the heap's limit and its collector's speed. */
const V8_GROWTH = "--heap-growing-percent=0";

/** Node was started with the flag: the user chose, and sluice leaves V8 alone. */
const USER_CHOICE = /(^|\s)--heap[-_]growing[-_]percent(?=[\s=]|$)/;

/**
 * Back to fast growth only below this share of the line: memory sampled near the line would
 * otherwise flip the factor at every sample, and each flip only counts from a heap's next
 * collection on.
 */
const HYSTERESIS = 0.9;

/** How often the resident memory is read (a read of /proc on Linux: microseconds). */
const SAMPLE_MS = 100;

export type Growth = "fast" | "v8";

/** The growth for the next interval, given the present one, the resident memory and the line. */
export function nextGrowth(present: Growth, residentBytes: number, line: number): Growth {
  if (residentBytes >= line) return "v8";
  if (residentBytes < line * HYSTERESIS) return "fast";
  return present;
}

/** What a governor reads and sets; V8's and the process's, or stand-ins in tests. */
export interface GrowthHooks {
  readonly setFlags: (flag: string) => void;
  readonly residentBytes: () => number;
}

const PROCESS_HOOKS: GrowthHooks = {
  setFlags: setFlagsFromString,
  residentBytes: () => process.memoryUsage.rss(),
};

/**
 * Full collections asked of the workers, counted: each time the growth goes back to V8's, the
 * heaps must collect to take its factor up at once (heap-collections.ts). Pools hand it to their
 * workers with every task.
 */
export const collectionRequests = new Int32Array(new SharedArrayBuffer(4));

/** The lines of the pools holding fast growth now; the lowest one rules. */
const held = new Map<symbol, number>();
let growth: Growth = "v8";
let timer: NodeJS.Timeout | undefined;
let hooks: GrowthHooks = PROCESS_HOOKS;

function lowestLine(): number {
  return Math.min(...held.values());
}

/** Reads the memory and sets the factor when it changes; answers the growth in force. */
export function sampleHeapGrowth(): Growth {
  if (held.size === 0) return growth;
  const next = nextGrowth(growth, hooks.residentBytes(), lowestLine());
  if (next !== growth) {
    growth = next;
    hooks.setFlags(next === "fast" ? FAST_GROWTH : V8_GROWTH);
    if (next === "v8") Atomics.add(collectionRequests, 0, 1);
  }
  return growth;
}

/**
 * Lets heaps grow by 4 times while the process's resident memory stays below `line` bytes, until
 * the returned function is called (once the pool has stopped). Pools of one process share the
 * flag: the lowest line of those running rules, and V8 has its own factor back when the last one
 * stops. Nothing is set when `line` is not a positive number of bytes or when node was started
 * with `--heap-growing-percent`. `testHooks` replaces V8 and the process in tests.
 */
export function holdHeapGrowth(line: number, testHooks?: GrowthHooks): () => void {
  if (!(line > 0) || USER_CHOICE.test(nodeStartArguments())) return () => {};
  if (held.size === 0) hooks = testHooks ?? PROCESS_HOOKS;
  const token = Symbol("heap growth");
  held.set(token, line);
  sampleHeapGrowth();
  if (!timer && !testHooks) {
    timer = setInterval(sampleHeapGrowth, SAMPLE_MS);
    // The pool's tasks keep the process alive, not this.
    timer.unref();
  }
  return () => {
    if (!held.delete(token) || held.size > 0) return;
    clearInterval(timer);
    timer = undefined;
    if (growth === "fast") hooks.setFlags(V8_GROWTH);
    growth = "v8";
  };
}

/**
 * The line a command that owns its process draws (the Sparkify command's default): 1 GiB, which
 * keeps the 1M-event ETL below it and hands a 10M-event run back to V8's factor before its largest
 * stage; a quarter of the memory of a machine (or a container) with less than 4 GiB.
 */
export function defaultHeapGrowthLine(): number {
  const memory = process.constrainedMemory?.() || totalmem();
  return Math.min(1024 ** 3, Math.floor(memory / 4));
}
