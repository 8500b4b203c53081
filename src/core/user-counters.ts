/**
 * Counters that a pipeline's functions increment as they run, Beam's `Metrics.counter` and Spark's
 * accumulators: how many records a filter dropped, how many dates needed repair. A run's metrics
 * give their totals (`metrics.counters`).
 *
 * Each task keeps its own counts, and the run adds them up only when it accepts the task's output:
 * a task run again after its worker died, or whose late result another run of it made stale on a
 * cluster, counts once, as its records do.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { describeValue, SluiceError } from "./errors.js";

/** One task's counts, by counter name. */
export type TaskCounts = Map<string, number>;

/**
 * Where increments go, kept on the global object rather than in this module: the sluice that runs
 * a task (a cluster worker's, say) and the one a pipeline's module imported its counters from can
 * be two copies of the package in one thread, and both must find the same task.
 */
interface CountingState {
  /** The counts of the task this thread runs, where a thread runs one task at a time (a pool worker). */
  threadTask: TaskCounts | undefined;
  /**
   * The counts of direct runs' tasks, found through the async context: direct runs share their
   * thread with the caller's code and with each other, and their tasks await between records.
   */
  sharedThreadTasks: AsyncLocalStorage<TaskCounts> | undefined;
}

const STATE_KEY = Symbol.for("sluice.counting");
const globals = globalThis as Record<symbol, unknown>;
globals[STATE_KEY] ??= { threadTask: undefined, sharedThreadTasks: undefined } satisfies CountingState;
const state = globals[STATE_KEY] as CountingState;

/** A named counter; `inc` adds to it from within a transform's function. */
export class Counter {
  constructor(readonly name: string) {}

  /** Adds `by` (a whole number, 1 unless given) to the counter, for the task running the call. */
  inc(by = 1): void {
    if (!Number.isSafeInteger(by)) {
      throw new SluiceError(`counter '${this.name}': inc takes a whole number, got ${describeValue(by)}`);
    }
    const counts = state.threadTask ?? state.sharedThreadTasks?.getStore();
    if (counts === undefined) {
      throw new SluiceError(
        `counter '${this.name}' was incremented outside a task: counters count what the functions given to transforms do as a run calls them (in a map, filter, flatMap, withOutputs or combiner function), not code that builds the pipeline or runs it`,
      );
    }
    counts.set(this.name, (counts.get(this.name) ?? 0) + by);
  }
}

/**
 * A counter named `name`. Counters of the same name count together, wherever they were made: make
 * one where the pipeline's functions are defined (each worker makes it again as it imports the
 * module) and increment it in them.
 */
export function counter(name: string): Counter {
  if (typeof name !== "string" || name === "") {
    throw new SluiceError(`counter takes a name, a string that is not empty; got ${describeValue(name)}`);
  }
  return new Counter(name);
}

/**
 * Runs a task's `body` with its counts kept in `counts`. `oneTaskPerThread`: nothing else runs in
 * this thread until the task ends (a pool worker), so a variable names the task; otherwise (the
 * direct runner) the async context does.
 */
export async function countingTask<T>(
  counts: TaskCounts,
  oneTaskPerThread: boolean,
  body: () => Promise<T>,
): Promise<T> {
  if (!oneTaskPerThread) {
    state.sharedThreadTasks ??= new AsyncLocalStorage();
    return state.sharedThreadTasks.run(counts, body);
  }
  if (state.threadTask !== undefined) throw new Error("a task started in a thread that was running another");
  state.threadTask = counts;
  try {
    return await body();
  } finally {
    state.threadTask = undefined;
  }
}
