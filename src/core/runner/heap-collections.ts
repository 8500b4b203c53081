import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * A worker's side of the heap-growth line (heap-growth.ts). When the process's memory crosses the
 * line, the main thread hands the growth factor back to V8, but each heap keeps the limit its last
 * full collection set, up to 4 times what it kept, until its next one: a worker that collected just
 * before can still grow to that limit, and a 10M-event run then peaked as high as with 4-fold growth
 * throughout. So the main thread also counts a request in memory the workers share, and each worker
 * that sees the count change collects its heap at once, which sets its limit by V8's factor.
 */

/** How often a worker looks at the count: the event loop turns between a task's awaits. */
const LOOK_MS = 100;

/**
 * The count as the latest task brought it: each message brings another view of the same shared
 * memory (and another SharedArrayBuffer object), so one timer per thread reads whichever came last.
 */
let requests: Int32Array | undefined;
let seen = 0;
let timer: NodeJS.Timeout | undefined;

/**
 * From the first task that carries the count on, collects this thread's heap whenever the count
 * changes. `collect` is V8's full collection, or a stand-in in tests.
 */
export function collectOnRequest(latest: Int32Array, collect: () => void = fullCollection): void {
  if (!requests) seen = Atomics.load(latest, 0);
  requests = latest;
  if (timer) return;
  timer = setInterval(() => {
    const count = Atomics.load(requests!, 0);
    if (count === seen) return;
    seen = count;
    collect();
  }, LOOK_MS);
  // Tasks keep the worker alive, not this.
  timer.unref();
}

/** Stops watching (tests). */
export function stopCollectingOnRequest(): void {
  clearInterval(timer);
  timer = undefined;
  requests = undefined;
}

let gc: (() => void) | undefined;

/**
 * A full collection of this thread's heap, now. V8 gives a context the `gc` function only under
 * `--expose-gc`; the flag is set for the moment a fresh context is made to take the function from,
 * and set back (the function collects the whole isolate, whichever context it came from).
 */
export function fullCollection(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    try {
      gc = runInNewContext("gc") as () => void;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  gc();
}
