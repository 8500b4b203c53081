/**
 * The days a daily load's new plays fall on: what the load reads of the plays it loaded before
 * (kept by day, `_sluice/plays/day=YYYY-MM-DD/`), instead of every play of the lake's history.
 * Read from the new logs by the same source the load reads them with (the same files, gzip and
 * archives alike), each line only parsed: a line whose `ts` is a number gives its day whether or
 * not it turns out to be a play. Taking a day too many only reads a little more; a play whose day
 * were missed could be numbered again, so every line that could be one counts.
 */
import type { RejectedRecord } from "../core/index.js";
import { jsonLines, type ListedFile, type S3Settings } from "../io/index.js";
import { joinUri, LOG_FILES } from "./sparkify-input.js";

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

/** The day folders of the events in the given log files, sorted. */
export async function playDays(options: {
  readonly input: string;
  /** The new log files, as listed. */
  readonly logFiles: readonly ListedFile[];
  readonly s3?: S3Settings;
}): Promise<string[]> {
  const source = jsonLines<{ ts?: unknown }>(joinUri(options.input, LOG_FILES), {
    ...(options.s3 ? { s3: options.s3 } : {}),
    files: options.logFiles,
    bookkeeping: true,
  });
  const days = new Set<string>();
  const context = {
    batchSize: 10_000,
    // Lines that are not JSON are no plays: the load itself rejects and counts them.
    reject: (_record: RejectedRecord) => undefined,
    addBytesRead: () => undefined,
    addRecordsSeen: () => undefined,
  };
  for (const split of await source.splits()) {
    for await (const batch of source.read(split, context)) {
      for (const event of batch.records) {
        const ts = event !== null && typeof event === "object" ? event.ts : undefined;
        if (typeof ts === "number" && Number.isFinite(ts) && Math.abs(ts) < LAST_DAY_TS)
          days.add(dayPartition(ts));
      }
    }
  }
  return [...days].sort();
}
