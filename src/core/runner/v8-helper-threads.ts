import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";

/**
 * What V8 may run on its helper threads while a pool runs: `auto` (the default) keeps each
 * worker's scavenges and optimizing compiles on the worker's own thread while the pool has a
 * worker for every core; `on` leaves V8's defaults.
 */
export type V8HelperThreads = "auto" | "on";

/**
 * V8 gives every isolate, so every worker, helper threads: they scavenge the young generation
 * beside the worker and compile its hot functions with TurboFan. With a core to spare that is free
 * speed, but when every core runs a worker the helpers take their turns on the workers' cores, and
 * a worker stalls while its scavenge waits for helpers that cannot run (bench/README.md, "Where
 * the threads' time goes", measures the helpers' share with and without these two flags).
 *
 * Both flags are read where changing them between runs is safe: parallel scavenging at every
 * scavenge (one task instead of several), concurrent recompilation when an isolate starts (so it
 * applies to the workers a pool starts after it). Flags that steer marking are left alone: changed
 * while a marking cycle runs they can make V8 abort (`--single-threaded-gc` set at run time did),
 * and turning them off as well gained nothing measurable beside these two.
 */
const SATURATED_POOL_FLAGS = ["--no-parallel-scavenge", "--no-concurrent-recompilation"] as const;
const DEFAULT_FLAGS = ["--parallel-scavenge", "--concurrent-recompilation"] as const;

/** Command-line flags that already decide the same; when one is given, sluice leaves V8 alone. */
const USER_CHOICE =
  /(^|\s)--(no[-_])?(parallel[-_]scavenge|concurrent[-_]recompilation|single[-_]threaded(?:[-_]gc)?)(?=[\s=]|$)/;

/** The flags a pool of `threads` workers sets, given the cores and how node was started. */
export function helperThreadFlags(
  setting: V8HelperThreads,
  threads: number,
  cores: number,
  nodeArguments: string,
): readonly string[] {
  if (setting === "on" || threads < cores || USER_CHOICE.test(nodeArguments)) return [];
  return SATURATED_POOL_FLAGS;
}

/** The flags node was started with, on its command line and in NODE_OPTIONS, as one string. */
export function nodeStartArguments(): string {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
}

let poolsHoldingFlags = 0;

/**
 * Sets the flags for a pool about to start its workers; returns what puts V8's defaults back once
 * the pool has stopped (and no other pool of this process still needs them). Flags are process-wide,
 * hence the count. `setFlags` is V8's, or a recorder in tests.
 */
export function applyHelperThreadFlags(
  setting: V8HelperThreads,
  threads: number,
  setFlags: (flag: string) => void = setFlagsFromString,
): () => void {
  const flags = helperThreadFlags(setting, threads, availableParallelism(), nodeStartArguments());
  if (flags.length === 0) return () => {};
  if (poolsHoldingFlags++ === 0) for (const flag of flags) setFlags(flag);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--poolsHoldingFlags === 0) for (const flag of DEFAULT_FLAGS) setFlags(flag);
  };
}
