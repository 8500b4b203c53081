#!/usr/bin/env node
/** `npm run generate -- --songs N --events M --output URI [--seed S]`: Sparkify input of any size. */
import { messageOf } from "../core/index.js";
import { parseLocation } from "../io/index.js";
import { formatBytes, formatCount, parseCommandLine, positiveInteger, UsageError } from "../cli/support.js";
import { generateSparkifyInput, INPUT_SHAPES } from "./sparkify-generator.js";

// The AWS SDK prints a notice on every run that its releases after January 2027 will need Node 22.
// The version this project pins runs on Node 20, and the notice would break the promise of
// one-line errors; the README says which Node versions are supported.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = `Usage: npm run generate -- --songs N --events M --output URI [options]

Writes Sparkify input in the real layout: song_data/A/B/C/TR....json and
log_data/YYYY/MM/YYYY-MM-DD-events.json, to a folder or s3://bucket/prefix.

  --songs N            song documents (required)
  --events M           log events (required)
  --output URI         folder or s3://bucket/prefix (required)
  --seed S             the same seed gives the same data (default 42)
  --start-date DATE    first log day, YYYY-MM-DD (default 2018-11-01)
  --days D             days of logs (default 30)
  --match-share F      share of plays that match a song, 0 to 1 (default 0.25)
  --shape NAME         a named input shape (the knobs below set at once):
                       ${Object.keys(INPUT_SHAPES).join(", ")}
  --log-files N        log files in all (default: one per day)
  --peak-share F       share of events on the days around month ends (0)
  --shared-ts-share F  share of events in the ms of the one before (0.002)
  --unicode-share F    share of names with non-ASCII text (0.1)
  --title-words N      words in a title, at most (3)
  --songs-per-artist F songs per artist, on average (1.4)
  --awkward-id-share F share of artist ids a partition path escapes (0)
  --s3-endpoint URL    an S3-compatible endpoint
  --s3-path-style      path-style S3 addressing
  --help
`;

const OPTIONS = {
  songs: { type: "string" },
  events: { type: "string" },
  output: { type: "string" },
  seed: { type: "string" },
  "start-date": { type: "string" },
  days: { type: "string" },
  "match-share": { type: "string" },
  shape: { type: "string" },
  "log-files": { type: "string" },
  "peak-share": { type: "string" },
  "shared-ts-share": { type: "string" },
  "unicode-share": { type: "string" },
  "title-words": { type: "string" },
  "songs-per-artist": { type: "string" },
  "awkward-id-share": { type: "string" },
  "s3-endpoint": { type: "string" },
  "s3-path-style": { type: "boolean" },
  help: { type: "boolean" },
} as const;

function parseOptions() {
  return parseCommandLine({ options: OPTIONS, strict: true }).values;
}

async function main(): Promise<void> {
  const values = parseOptions();
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const songs = positiveInteger("songs", values.songs);
  const events = positiveInteger("events", values.events);
  if (songs === undefined || events === undefined || values.output === undefined) {
    throw new UsageError("--songs, --events and --output are required");
  }
  try {
    parseLocation(values.output);
  } catch (error) {
    throw new UsageError(`--output: ${messageOf(error)}`);
  }
  const matchShare = share("match-share", values["match-share"]);
  const shape = values.shape === undefined ? {} : INPUT_SHAPES[values.shape];
  if (shape === undefined) {
    throw new UsageError(
      `--shape must be one of ${Object.keys(INPUT_SHAPES).join(", ")}, got '${values.shape}'`,
    );
  }
  const songsPerArtist =
    values["songs-per-artist"] === undefined ? undefined : Number(values["songs-per-artist"]);
  if (songsPerArtist !== undefined && !(songsPerArtist >= 1)) {
    throw new UsageError(`--songs-per-artist must be 1 or more, got '${values["songs-per-artist"]}'`);
  }
  const knobs = {
    ...shape,
    ...defined("logFiles", positiveInteger("log-files", values["log-files"])),
    ...defined("peakShare", share("peak-share", values["peak-share"])),
    ...defined("sharedTsShare", share("shared-ts-share", values["shared-ts-share"])),
    ...defined("unicodeShare", share("unicode-share", values["unicode-share"])),
    ...defined("titleWords", positiveInteger("title-words", values["title-words"])),
    ...defined("songsPerArtist", songsPerArtist),
    ...defined("awkwardIdShare", share("awkward-id-share", values["awkward-id-share"])),
  };
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed))
    throw new UsageError(`--seed must be an integer, got '${values.seed}'`);
  const started = performance.now();
  const summary = await generateSparkifyInput({
    songs,
    events,
    output: values.output,
    // A shape's settings first: an option given on its own overrides the shape's.
    ...knobs,
    ...(seed !== undefined ? { seed } : {}),
    ...(values["start-date"] ? { startDate: values["start-date"] } : {}),
    ...(values.days ? { days: positiveInteger("days", values.days) } : {}),
    ...(matchShare !== undefined ? { matchShare } : {}),
    s3: {
      ...(values["s3-endpoint"] ? { endpoint: values["s3-endpoint"] } : {}),
      ...(values["s3-path-style"] ? { forcePathStyle: true } : {}),
    },
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `wrote ${formatCount(summary.songFiles)} song files and ${formatCount(summary.events)} events in ${summary.logFiles} log files (${formatBytes(summary.bytes)}) to ${values.output} in ${seconds.toFixed(1)} s (${(summary.bytes / 1e6 / seconds).toFixed(1)} MB/s)\n`,
  );
}

/** A share given on the command line: a number from 0 to 1, or undefined when not given. */
function share(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0 && value <= 1)) {
    throw new UsageError(`--${name} must be between 0 and 1, got '${text}'`);
  }
  return value;
}

/** `{ [key]: value }`, or nothing when the value was not given. */
function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`generate: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`generate: error: ${messageOf(error).split("\n")[0]}\n`);
  process.exitCode = 1;
});
