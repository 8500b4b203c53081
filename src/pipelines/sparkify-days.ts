/**
 * The days a daily load's new plays fall on: what the load reads of the plays it loaded before
 * (kept by day, `_sluice/plays/day=YYYY-MM-DD/`), instead of every play of the lake's history.
 * Read from the new log files as the load reads them (gzip and archives alike): a line whose `ts`
 * is a number gives its day whether or not it turns out to be a play. Taking a day too many only reads a little more; a play whose day
 * were missed could be numbered again, so every line that could be one counts.
 */
import { type ListedFile, readAll, type S3Settings } from "../io/index.js";

const DAY_MS = 86_400_000;

/** Day folders already named: every loaded play is filed by day, and a load spans few days. */
const dayFolders = new Map<number, string>();

/** The folder of a day's loaded plays, from a ts: `day=2018-11-05` (UTC). */
export function dayPartition(ts: number): string {
  const dayNumber = Math.floor(ts / DAY_MS);
  let folder = dayFolders.get(dayNumber);
  if (folder === undefined) {
    if (dayFolders.size >= 100_000) dayFolders.clear();
    folder = `day=${new Date(dayNumber * DAY_MS).toISOString().slice(0, 10)}`;
    dayFolders.set(dayNumber, folder);
  }
  return folder;
}

/** The latest ts a day folder can name (as the lake takes ts: before 2109-05-15). */
const LAST_DAY_TS = 8_640_000_000_000_000;

/**
 * A `ts` member with its number. Inside a JSON string quotes are escaped, so a name holding
 * `"ts":1` reads `\"ts\":1` there, which this does not match; a nested object's `ts` adds a day
 * too many at worst.
 */
const TS_MEMBER = /"ts"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/** Log files read at once (from S3, each a round trip of its own). */
const FILES_AT_ONCE = 8;

/**
 * The day folders of the events in the given log files, sorted. Each line's `ts` is found by a
 * pattern rather than by parsing the line (a tenth of the time): a line where it finds none is
 * parsed, so that a `ts` written in a way the pattern does not know (an escaped name) still counts.
 */
export async function playDays(options: {
  /** The new log files, as listed. */
  readonly logFiles: readonly ListedFile[];
  readonly s3?: S3Settings;
}): Promise<string[]> {
  const days = new Set<string>();
  const add = (ts: unknown) => {
    if (typeof ts === "number" && Number.isFinite(ts) && Math.abs(ts) < LAST_DAY_TS)
      days.add(dayPartition(ts));
  };
  const scan = (text: string) => {
    for (const line of text.split("\n")) {
      let found = false;
      for (const match of line.matchAll(TS_MEMBER)) {
        found = true;
        add(Number(match[1]));
      }
      if (found || line.trim() === "") continue;
      try {
        const event = JSON.parse(line) as unknown;
        // Lines that are not JSON are no plays: the load itself rejects and counts them.
        if (event !== null && typeof event === "object") add((event as { ts?: unknown }).ts);
      } catch {}
    }
  };
  const files = [...options.logFiles];
  const next = async (): Promise<void> => {
    for (let file = files.shift(); file; file = files.shift()) {
      scan((await readAll(file.uri, options.s3 ?? {})).toString("utf8"));
    }
  };
  await Promise.all(Array.from({ length: FILES_AT_ONCE }, next));
  return [...days].sort();
}
