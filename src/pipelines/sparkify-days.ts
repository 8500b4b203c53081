/**
 * The days a daily load's new plays fall on: what the load reads of the plays it loaded before
 * (kept by day, `_sluice/plays/day=YYYY-MM-DD/`), instead of every play of the lake's history. A
 * pipeline of its own, reading the new logs as the load does (same schema, same files), so that
 * the days it finds are exactly those of the plays the load numbers; it keeps no record, rejects
 * nothing for good (the load itself rejects and counts).
 */
import { definePipeline, type RunOptions } from "../core/index.js";
import { jsonLines, type ListedFile, type S3Settings } from "../io/index.js";
import { joinUri, LOG_FILES } from "./sparkify-input.js";
import { isPlay } from "./sparkify-rules.js";
import { eventInputSchema } from "./sparkify-schemas.js";

/** The folder of a day's loaded plays, from a ts: `day=2018-11-05` (UTC). */
export function dayPartition(ts: number): string {
  return `day=${new Date(Math.floor(ts / 86_400_000) * 86_400_000).toISOString().slice(0, 10)}`;
}

interface DaysOptions {
  readonly input: string;
  /** The new log files, as listed. */
  readonly logFiles: readonly ListedFile[];
  readonly s3?: S3Settings;
}

export const playDaysPipeline = definePipeline(
  { module: import.meta.url, name: "sparkify-play-days" },
  (p, options: DaysOptions) => {
    p.rejectInto({ limit: { percent: 100 } });
    const s3 = options.s3 ?? {};
    return {
      days: p
        .read(
          jsonLines(joinUri(options.input, LOG_FILES), {
            schema: eventInputSchema,
            s3,
            files: options.logFiles,
          }),
        )
        .filter(isPlay, "NextSong plays")
        .map((event) => dayPartition(event.ts), "day of play")
        .distinct({ name: "distinct days" })
        .collect(),
    };
  },
);

/** The day folders of the plays in the given log files, sorted. */
export async function playDays(options: DaysOptions, runOptions: RunOptions): Promise<string[]> {
  const result = await playDaysPipeline.run(options, runOptions);
  return [...result.outputs.days].sort();
}
