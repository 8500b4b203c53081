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

const NEWLINE = 0x0a;
const TS_KEY = Buffer.from('"ts"');

/** JSON's whitespace (a line ends at a newline, so that one is not met here). */
function isBlank(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

/** Bytes a JSON number is written with. */
function isNumberByte(byte: number | undefined): boolean {
  return (
    byte !== undefined &&
    ((byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x2b ||
      byte === 0x2e ||
      (byte | 0x20) === 0x65)
  );
}

/**
 * The number of the `"ts": N` member at `at`, or undefined when what follows the key is no
 * number. Inside a JSON string quotes are escaped, so a name holding `"ts":1` reads `\\"ts\\":1`
 * there and holds no `"ts"`; a nested object's `ts` adds a day too many at worst.
 */
function tsAt(bytes: Buffer, at: number, end: number): number | undefined {
  let cursor = at + TS_KEY.length;
  while (cursor < end && isBlank(bytes[cursor])) cursor++;
  if (bytes[cursor] !== 0x3a) return undefined;
  cursor++;
  while (cursor < end && isBlank(bytes[cursor])) cursor++;
  const numberStart = cursor;
  // Whole numbers (every ts the logs write) are read digit by digit; others through Number.
  let whole = 0;
  for (let byte = bytes[cursor]; byte !== undefined && byte >= 0x30 && byte <= 0x39; byte = bytes[++cursor])
    whole = whole * 10 + byte - 0x30;
  if (cursor > numberStart && !isNumberByte(bytes[cursor])) return whole;
  while (cursor < end && isNumberByte(bytes[cursor])) cursor++;
  if (cursor === numberStart) return undefined;
  const value = Number(bytes.toString("latin1", numberStart, cursor));
  return Number.isNaN(value) ? undefined : value;
}

/**
 * Calls `found` with the `ts` of each line of `bytes`. The members are found among the bytes, in
 * one pass over the file (decoding a day of logs to text costs more than finding them); a line
 * where none is found is parsed, so that a `ts` written in a way the search does not know (an
 * escaped name) still counts.
 */
function scanTs(bytes: Buffer, found: (ts: unknown) => void): void {
  let key = bytes.indexOf(TS_KEY);
  for (let start = 0; start < bytes.length; ) {
    const newline = bytes.indexOf(NEWLINE, start);
    const end = newline === -1 ? bytes.length : newline;
    let any = false;
    for (; key !== -1 && key < end; key = bytes.indexOf(TS_KEY, key + 1)) {
      const ts = tsAt(bytes, key, end);
      if (ts === undefined) continue;
      any = true;
      found(ts);
    }
    if (!any && end > start) {
      try {
        const event = JSON.parse(bytes.toString("utf8", start, end)) as unknown;
        // Lines that are not JSON are no plays: the load itself rejects and counts them.
        if (event !== null && typeof event === "object") found((event as { ts?: unknown }).ts);
      } catch {}
    }
    start = end + 1;
  }
}

/** Log files read at once (from S3, each a round trip of its own). */
const FILES_AT_ONCE = 8;

/** The day folders of the events in the given log files, sorted. */
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
  const files = [...options.logFiles];
  const next = async (): Promise<void> => {
    for (let file = files.shift(); file; file = files.shift()) {
      scanTs(await readAll(file.uri, options.s3 ?? {}), add);
    }
  };
  await Promise.all(Array.from({ length: FILES_AT_ONCE }, next));
  return [...days].sort();
}
