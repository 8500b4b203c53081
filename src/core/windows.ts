/**
 * Event-time windows as Beam has them: a record's timestamp (milliseconds, from the record itself)
 * places it in windows; grouping and combining then happen per key and window. Plain functions
 * of numbers, with no knowledge of collections.
 */

/** A window of event time: `[start, end)` in milliseconds. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/**
 * How records are placed in windows. `fixed`: one window of `size` per record, aligned to 0.
 * `sliding`: windows of `size` starting every `period`, so a record lies in `size / period` of
 * them. `sessions`: a window of `gap` after each record, merged with every window it overlaps, per
 * key: a session ends after `gap` without a record.
 */
export type WindowFn =
  | { readonly kind: "fixed"; readonly size: number }
  | { readonly kind: "sliding"; readonly size: number; readonly period: number }
  | { readonly kind: "sessions"; readonly gap: number };

/** Whether `value` is a window function made by fixed, sliding or sessions. */
export function isWindowFn(value: unknown): value is WindowFn {
  if (typeof value !== "object" || value === null) return false;
  const { kind } = value as { kind?: unknown };
  return kind === "fixed" || kind === "sliding" || kind === "sessions";
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive whole number of milliseconds, got ${value}`);
  return value;
}

/** Windows of `size` ms, one after another from time 0 (Beam's `FixedWindows`). */
export function fixed(size: number): WindowFn {
  return { kind: "fixed", size: positive("fixed(size)", size) };
}

/** Windows of `size` ms starting every `period` ms (Beam's `SlidingWindows`). */
export function sliding(size: number, period: number): WindowFn {
  positive("sliding(size)", size);
  positive("sliding(period)", period);
  if (period > size)
    throw new RangeError(`sliding: the period (${period}) must not exceed the size (${size})`);
  return { kind: "sliding", size, period };
}

/** Per key, records closer than `gap` ms to the next share a window (Beam's `Sessions`). */
export function sessions(gap: number): WindowFn {
  return { kind: "sessions", gap: positive("sessions(gap)", gap) };
}

/** Math.floor division that also aligns negative timestamps (before 1970) to the grid. */
function alignDown(value: number, step: number): number {
  return value - (((value % step) + step) % step);
}

/** The windows a timestamp lies in, earliest first (a session's is its own `[ts, ts + gap)`). */
export function windowsOf(timestamp: number, windowFn: WindowFn): Window[] {
  switch (windowFn.kind) {
    case "fixed": {
      const start = alignDown(timestamp, windowFn.size);
      return [{ start, end: start + windowFn.size }];
    }
    case "sliding": {
      // Every start on the period's grid with start <= timestamp < start + size.
      const windows: Window[] = [];
      for (
        let start = alignDown(timestamp, windowFn.period);
        start > timestamp - windowFn.size;
        start -= windowFn.period
      ) {
        windows.push({ start, end: start + windowFn.size });
      }
      return windows.reverse();
    }
    case "sessions":
      return [{ start: timestamp, end: timestamp + windowFn.gap }];
  }
}

/**
 * One key's records cut into sessions: each record's window `[ts, ts + gap)`, overlapping windows
 * merged (Beam's merge of session windows). Records in each session in timestamp order.
 */
export function mergeSessions<V>(
  records: readonly V[],
  timestampOf: (record: V) => number,
  gap: number,
): { window: Window; records: V[] }[] {
  const stamped = records.map((record) => ({ record, timestamp: timestampOf(record) }));
  stamped.sort((a, b) => a.timestamp - b.timestamp);
  const merged: { window: { start: number; end: number }; records: V[] }[] = [];
  for (const { record, timestamp } of stamped) {
    const current = merged.at(-1);
    if (current && timestamp < current.window.end) {
      current.window.end = Math.max(current.window.end, timestamp + gap);
      current.records.push(record);
    } else {
      merged.push({ window: { start: timestamp, end: timestamp + gap }, records: [record] });
    }
  }
  return merged;
}

/** A record's event time, checked: windows need a finite whole number of milliseconds. */
export function checkedTimestamp(timestamp: unknown): number {
  if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp)) {
    throw new TypeError(
      `a window needs a timestamp in whole milliseconds, got ${describeTimestamp(timestamp)}${timestampAdvice(timestamp)}`,
    );
  }
  return timestamp;
}

function describeTimestamp(timestamp: unknown): string {
  if (typeof timestamp === "string") return `${JSON.stringify(timestamp.slice(0, 40))} (a string)`;
  if (timestamp instanceof Date) return "a Date";
  if (typeof timestamp === "bigint") return `${timestamp}n (a bigint)`;
  return String(timestamp);
}

/** What to return instead, for the timestamps a newcomer most often returns. */
function timestampAdvice(timestamp: unknown): string {
  if (typeof timestamp === "string") return ": return Date.parse(text) for ISO text";
  if (timestamp instanceof Date) return ": return date.getTime()";
  if (typeof timestamp === "bigint") return ": return Number(timestamp) (milliseconds)";
  if (timestamp === undefined)
    return ": timestampOf is given each pair's value, not the pair; does the value have the member it reads?";
  if (typeof timestamp === "number" && Number.isInteger(timestamp))
    return ": it lies past the safe integers (2^53 ms), where milliseconds are no longer exact; microseconds or nanoseconds? scale them to milliseconds";
  if (typeof timestamp === "number" && Number.isFinite(timestamp))
    return ": round it, or scale seconds to milliseconds with Math.round(seconds * 1000)";
  return "";
}
