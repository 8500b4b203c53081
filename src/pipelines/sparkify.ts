#!/usr/bin/env node
/**
 * The Sparkify ETL command: `sparkify --input URI --output URI [options]` (the package's bin; from a
 * checkout, `node dist/pipelines/sparkify.js`).
 * Without --input it runs on a built-in sample that it generates (no AWS, server or data needed).
 */
import { rmSync } from "node:fs";
import { access, constants, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  defaultHeapGrowthLine,
  MAX_PARTITIONS,
  MAX_THREADS_PER_CORE,
  maxThreads,
  messageOf,
  type RejectLimit,
  type RunOptions,
  type V8HelperThreads,
} from "../core/index.js";
import { type Compression, contains, formatLocation, parseLocation, type S3Settings } from "../io/index.js";
import {
  formatBytes,
  formatCount,
  formatTable,
  heapMegabytes,
  parseSize,
  attachNegativeValues,
  positiveInteger,
  UsageError,
  parseCommandLine,
} from "../cli/support.js";
import type { ClusterOptions } from "../cluster/index.js";
import { ProgressDisplay } from "./progress-display.js";
import { generateSparkifyInput } from "./sparkify-generator.js";
import { type SparkifyOptions, sparkify, sparkifyPipeline } from "./sparkify-load.js";
import { playMatches } from "./sparkify-pipeline.js";

// The AWS SDK prints a notice on every run that its releases after January 2027 will need Node 22.
// The version this project pins runs on Node 20, and the notice would break the promise of
// one-line errors; the README says which Node versions are supported.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = `Usage: sparkify [options]
       (from a checkout: node dist/pipelines/sparkify.js [options])

Builds the Sparkify star schema (songs, artists, users, time, songplays) as
Hive-partitioned Parquet from song documents (song_data/) and event logs
(log_data/).

Input and output
  --input URI              folder or s3://bucket/prefix holding song_data/ and
                           log_data/ (JSON, .json.gz, or .zip archives of them;
                           default: a built-in sample, generated on the fly;
                           s3a:// works too)
  --output URI             folder or s3://bucket/prefix for the tables (default:
                           ./output)
  --mode MODE              error-if-exists (default), overwrite, or update: load
                           only the input files not loaded before, merged into
                           the tables (a daily load; on an empty output, a full
                           one)
  --compact                with --mode update: also rewrite each partition of
                           songs, artists, time and songplays that holds several
                           files into one, in the same commit (even when nothing
                           is new)
  --reload-changed         with --mode update: reload input files that changed
                           since they were loaded, by rebuilding the lake from
                           the input (by default a changed file stops the run,
                           named)
  --region REGION          the S3 region (default: the AWS SDK's chain:
                           AWS_REGION, then the profile's region; buckets
                           elsewhere are followed)
  --profile NAME           the AWS profile for credentials and region
                           (AWS_PROFILE too)
  --s3-endpoint URL        an S3-compatible endpoint (AWS_ENDPOINT_URL_S3 works
                           too)
  --s3-path-style          path-style S3 addressing, which S3-compatible servers
                           need
  --s3-requests N          S3 requests each thread keeps in flight, and uploads
                           the commit completes at once (default 16; at most
                           1,000)
  --max-rejected N|P%      records that may be rejected, a count or a share of
                           the records read (default 1%)
  --allow-empty            run even when the input holds no songs or no events
                           (by default such a run fails and commits nothing)

Engine
  --runner R               pool (default: worker threads), direct (the
                           one-thread reference) or cluster (sluice worker
                           processes on any machines); an update with under
                           64MiB of new input runs on one thread unless
                           --runner or --threads is given
  --redis URL              cluster: the Redis the workers listen on
                           (redis://host:6379)
  --shuffle URI            cluster: where the shuffle goes, s3://bucket/prefix
                           or a folder every machine mounts at the same path
  --queue NAME             cluster: the workers' queue (default sluice)
  --slots N                cluster: tasks the workers run at once, in all
                           (default 8)
  --threads N              worker threads (default: one per core; at most 4 per
                           core)
  --partitions N           partitions of each shuffle, one task each up to 32
                           tasks per thread, grouped past that; at most 10,000
                           (default: 160 per thread, read by one task per 2 MiB,
                           4 to 32 per thread)
  --memory-budget SIZE     shuffle bytes held in memory before spilling (default
                           64MiB)
  --worker-heap SIZE       old-generation heap of each worker thread (default
                           1GiB)
  --heap-growth-below SIZE while the process holds less memory than this,
                           heaps grow 4-fold between full collections (fewer of
                           them); past it, by V8's own factor (default 1GiB, or
                           a quarter of the machine's memory if less; 0 turns it
                           off)
  --v8-helper-threads M    auto (default: while every core has a worker, each
                           worker scavenges and compiles on its own thread) or
                           on (V8's own)
  --temp-dir DIR           where spill files go (default: the system's temporary
                           folder)

Parquet
  --compression C          snappy (default), gzip or none
  --row-group-size N       rows per row group (default 65536)
  --max-rows-per-file N    start another file past this many rows

Reporting
  --explain                print the plan and exit
  --summary-json FILE      also write the summary as JSON, for a failed run too
                           (- writes it to stdout, and the table goes to stderr)
  --quiet                  no progress display
  -h, --help               this text
  --version                the version
`;

const OPTIONS = {
  input: { type: "string" },
  output: { type: "string" },
  mode: { type: "string" },
  runner: { type: "string" },
  redis: { type: "string" },
  shuffle: { type: "string" },
  queue: { type: "string" },
  slots: { type: "string" },
  threads: { type: "string" },
  partitions: { type: "string" },
  "memory-budget": { type: "string" },
  "worker-heap": { type: "string" },
  "heap-growth-below": { type: "string" },
  "v8-helper-threads": { type: "string" },
  "temp-dir": { type: "string" },
  compression: { type: "string" },
  "row-group-size": { type: "string" },
  "max-rows-per-file": { type: "string" },
  region: { type: "string" },
  profile: { type: "string" },
  "s3-endpoint": { type: "string" },
  "s3-path-style": { type: "boolean" },
  "s3-requests": { type: "string" },
  "max-rejected": { type: "string" },
  "allow-empty": { type: "boolean" },
  compact: { type: "boolean" },
  "reload-changed": { type: "boolean" },
  explain: { type: "boolean" },
  "summary-json": { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** The options that take a value, as written on the command line. */
const VALUED_OPTIONS: ReadonlySet<string> = new Set(
  Object.entries(OPTIONS)
    .filter(([, option]) => option.type === "string")
    .map(([name]) => `--${name}`),
);

/** A local path made absolute (what parseLocation makes of it); an S3 URI as it is. */
function resolveLocal(uri: string): string {
  return parseLocation(uri).kind === "local" ? resolve(uri) : uri;
}

function oneOf<T extends string>(
  name: string,
  text: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (text === undefined) return undefined;
  if (!allowed.includes(text as T))
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got '${text}'`);
  return text as T;
}

function parseRejectLimit(text: string | undefined): RejectLimit | undefined {
  if (text === undefined) return undefined;
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    if (Number(percent[1]) > 100)
      throw new UsageError(`--max-rejected must be a percentage of at most 100%, got '${text}'`);
    return { percent: Number(percent[1]) };
  }
  if (/^\d+$/.test(text)) return { count: Number(text) };
  throw new UsageError(`--max-rejected must be a count (100) or a percentage (2.5%), got '${text}'`);
}

interface Command {
  readonly options: Omit<SparkifyOptions, "input"> & { readonly input: string | undefined };
  readonly run: RunOptions;
  /** The cluster runner's settings, when `--runner cluster` is given. */
  readonly cluster: ClusterOptions | undefined;
  readonly explain: boolean;
  readonly summaryJson: string | undefined;
  readonly quiet: boolean;
}

/** The most S3 requests a thread may keep in flight: past it, sockets and memory, not S3, are the bound. */
const MAX_S3_REQUESTS = 1000;

function parseCommand(argv: string[]): Command | "help" | "version" {
  const { values } = parseCommandLine({
    args: attachNegativeValues(argv, VALUED_OPTIONS),
    options: OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  if (values.version) return "version";
  const s3: S3Settings = {
    ...(values["s3-endpoint"] ? { endpoint: values["s3-endpoint"] } : {}),
    ...(values["s3-path-style"] ? { forcePathStyle: true } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values.profile ? { profile: values.profile } : {}),
    ...(values["s3-requests"]
      ? { maxConcurrency: positiveInteger("s3-requests", values["s3-requests"], MAX_S3_REQUESTS) }
      : {}),
  };
  // Workers of the cluster runner run elsewhere, in another working folder: local paths cross as absolute ones.
  const absolute = (uri: string) => (values.runner === "cluster" ? resolveLocal(uri) : uri);
  const output = absolute(values.output ?? "./output");
  const input = values.input === undefined ? undefined : absolute(values.input);
  for (const [name, uri] of [
    ["input", input],
    ["output", output],
  ] as const) {
    if (uri === undefined) continue;
    try {
      parseLocation(uri);
    } catch (error) {
      throw new UsageError(`--${name}: ${messageOf(error)}`);
    }
  }
  if (input !== undefined) {
    const inputLocation = parseLocation(input);
    const outputLocation = parseLocation(output);
    if (contains(inputLocation, outputLocation) || contains(outputLocation, inputLocation)) {
      throw new UsageError(
        `--output (${formatLocation(outputLocation)}) must not be the same as, inside or above --input (${formatLocation(inputLocation)})`,
      );
    }
  }
  const runner = oneOf("runner", values.runner, ["pool", "direct", "cluster"] as const);
  const clusterFlags = (["redis", "shuffle", "queue", "slots"] as const).filter(
    (name) => values[name] !== undefined,
  );
  if (runner !== "cluster" && clusterFlags.length > 0) {
    throw new UsageError(`--${clusterFlags[0]} applies to --runner cluster only`);
  }
  if (runner === "cluster") {
    if (!values.redis) throw new UsageError("--runner cluster needs --redis URL (redis://host:6379)");
    if (!/^rediss?:\/\//.test(values.redis))
      throw new UsageError(`--redis must look like redis://host:6379, got '${values.redis}'`);
    if (!values.shuffle)
      throw new UsageError("--runner cluster needs --shuffle s3://bucket/prefix (or a shared folder)");
    if (values.threads !== undefined) throw new UsageError("--threads applies to the pool runner only");
  }
  const threads = positiveInteger("threads", values.threads);
  if (threads !== undefined && threads > maxThreads()) {
    throw new UsageError(
      `--threads must be at most ${maxThreads()} (${MAX_THREADS_PER_CORE} per core on this machine's ${availableParallelism()}): more workers only add memory, each holding a heap of its own; got '${values.threads}'`,
    );
  }
  const mode =
    oneOf("mode", values.mode, ["overwrite", "error-if-exists", "update"] as const) ?? "error-if-exists";
  if (values.compact && mode !== "update") throw new UsageError("--compact applies to --mode update only");
  if (values["reload-changed"] && mode !== "update")
    throw new UsageError("--reload-changed applies to --mode update only");
  if (runner === "direct" && threads !== undefined)
    throw new UsageError("--threads applies to the pool runner only");
  const v8HelperThreads = oneOf<V8HelperThreads>("v8-helper-threads", values["v8-helper-threads"], [
    "auto",
    "on",
  ]);
  return {
    options: {
      input,
      output,
      mode,
      s3,
      maxRejected: parseRejectLimit(values["max-rejected"]) ?? { percent: 1 },
      ...(values["allow-empty"] ? { allowEmpty: true } : {}),
      ...(values.compact ? { compact: true } : {}),
      ...(values["reload-changed"] ? { reloadChanged: true } : {}),
      compression:
        oneOf<Compression>("compression", values.compression, ["snappy", "gzip", "none"]) ?? "snappy",
      ...(values["row-group-size"]
        ? { rowGroupSize: positiveInteger("row-group-size", values["row-group-size"]) }
        : {}),
      ...(values["max-rows-per-file"]
        ? { maxRowsPerFile: positiveInteger("max-rows-per-file", values["max-rows-per-file"]) }
        : {}),
    },
    run: {
      ...(runner === "pool" || runner === "direct" ? { runner } : {}),
      ...(threads ? { threads } : {}),
      ...(values.partitions
        ? { partitions: positiveInteger("partitions", values.partitions, MAX_PARTITIONS) }
        : {}),
      ...(values["memory-budget"]
        ? { memoryBudget: parseSize("memory-budget", values["memory-budget"]) }
        : {}),
      ...(values["worker-heap"]
        ? {
            workerResourceLimits: {
              maxOldGenerationSizeMb: heapMegabytes("worker-heap", values["worker-heap"]),
            },
          }
        : {}),
      heapGrowthBelow: parseSize("heap-growth-below", values["heap-growth-below"]) ?? defaultHeapGrowthLine(),
      // The command owns its process: it takes the flags that suit a long job on every core.
      v8HelperThreads: v8HelperThreads ?? "auto",
      ...(values["temp-dir"] ? { tempDir: values["temp-dir"] } : {}),
    },
    cluster:
      runner === "cluster"
        ? {
            redis: values.redis!,
            shuffle: resolveLocal(values.shuffle!),
            s3,
            ...(values.queue ? { queue: values.queue } : {}),
            ...(values.slots ? { slots: positiveInteger("slots", values.slots, 10_000) } : {}),
          }
        : undefined,
    explain: values.explain ?? false,
    summaryJson: values["summary-json"],
    quiet: values.quiet ?? false,
  };
}

/** How the summary names the files a run did not read: all of them when few, else the first. */
function describeSkipped(skipped: readonly string[]): string {
  if (skipped.length === 0) return "0 files";
  const shown = skipped.slice(0, 5).join(", ");
  const more = skipped.length > 5 ? ` and ${formatCount(skipped.length - 5)} more` : "";
  return `${formatCount(skipped.length)} file(s) not read: ${shown}${more}`;
}

/**
 * What can be checked before a run starts, so that it does not fail after the work (or, for the
 * summary file, after the commit): a local --input or --output that is a file, a --temp-dir that is not a
 * writable folder, a --summary-json that cannot be written.
 */
async function checkPaths(command: Command): Promise<void> {
  const input = command.options.input;
  if (input !== undefined && parseLocation(input).kind === "local") {
    const found = await stat(input).catch(() => undefined);
    if (found?.isFile() && !/\.zip$/i.test(input)) {
      throw new UsageError(
        `--input must be a folder, zip archive or s3://bucket/prefix holding song_data/ and log_data/, and ${input} is a file`,
      );
    }
  }
  const output = command.options.output;
  if (output !== undefined && parseLocation(output).kind === "local") {
    const found = await stat(output).catch(() => undefined);
    if (found !== undefined && !found.isDirectory()) {
      throw new UsageError(
        `--output must be a folder or s3://bucket/prefix for the tables, and ${output} is a file`,
      );
    }
  }
  const tempDir = command.run.tempDir;
  if (tempDir !== undefined) {
    const found = await stat(tempDir).catch(() => undefined);
    if (!found?.isDirectory()) throw new UsageError(`--temp-dir ${tempDir} is not a folder`);
    await access(tempDir, constants.W_OK).catch(() => {
      throw new UsageError(`--temp-dir ${tempDir} cannot be written`);
    });
  }
  const summary = command.summaryJson;
  if (summary !== undefined && summary !== "-") {
    const existing = await stat(summary).catch(() => undefined);
    if (existing?.isDirectory()) throw new UsageError(`--summary-json ${summary} is a folder`);
    const target = existing ? summary : dirname(resolve(summary));
    await access(target, constants.W_OK).catch(() => {
      throw new UsageError(
        `--summary-json ${summary} cannot be written (${existing ? "the file" : "its folder"} is not writable or does not exist)`,
      );
    });
  }
}

/** The signal that stopped the run, for the exit status (128 + its number, as shells report it). */
let stoppedBy: NodeJS.Signals | undefined;

async function main(argv: string[]): Promise<number> {
  const command = parseCommand(argv);
  if (command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === "version") {
    const manifest = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    process.stdout.write(`sluice sparkify ${manifest.version}\n`);
    return 0;
  }
  // The cluster runner brings BullMQ and a Redis client, whose loading is a good part of a short
  // run's start: they are loaded only when the command is asked to use them.
  const run: RunOptions = command.cluster
    ? { ...command.run, runner: (await import("../cluster/index.js")).cluster(command.cluster) }
    : command.run;
  if (command.explain) {
    process.stdout.write(
      `${sparkifyPipeline.explain({ ...command.options, input: command.options.input ?? "(built-in sample)" }, run)}\n`,
    );
    return 0;
  }

  await checkPaths(command);
  let sampleFolder: string | undefined;
  // The run's spill files go in a folder of the command's own, which a second signal can remove.
  const runTemp = await mkdtemp(join(command.run.tempDir ?? tmpdir(), "sluice-sparkify-"));
  const progress = new ProgressDisplay(process.stderr, command.quiet, [process.stdout]);
  // With the JSON summary on stdout, the table goes to stderr, so that stdout parses as JSON.
  const report = command.summaryJson === "-" ? process.stderr : process.stdout;
  // Restarted once the built-in sample is written: the time reported is the load's, run or failed.
  let started = performance.now();
  // SIGINT and SIGTERM stop the run cleanly: workers stopped, staged files removed, nothing
  // committed. A second signal stops at once: what the run keeps in temporary folders is removed,
  // and what it staged in the output is left for the next run there to remove.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy === undefined) {
      stoppedBy = signal;
      stop.abort(new Error(`${signal} received`));
      return;
    }
    process.stderr.write(`sparkify: ${signal} received again: stopping now\n`);
    for (const folder of [runTemp, sampleFolder])
      if (folder) rmSync(folder, { recursive: true, force: true });
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    let input = command.options.input;
    if (input === undefined) {
      sampleFolder = await mkdtemp(join(tmpdir(), "sluice-sparkify-sample-"));
      const sample = await generateSparkifyInput({
        songs: 400,
        events: 8000,
        output: sampleFolder,
        seed: 2018,
      });
      if (!command.quiet) {
        process.stderr.write(
          `no --input: running on the built-in sample (${sample.songFiles} song files, ${formatCount(sample.events)} events)\n`,
        );
      }
      input = sampleFolder;
    }
    started = performance.now();
    const result = await sparkify(
      { ...command.options, input },
      {
        ...run,
        tempDir: runTemp,
        signal: stop.signal,
        onProgress: (metrics) => progress.update(metrics),
      },
    );
    progress.stop();

    const metrics = result.metrics;
    if (!metrics) {
      report.write(
        `nothing new to load (${formatCount(result.alreadyLoaded)} file(s) loaded before): the lake is as it was\n`,
      );
      await writeSummary(command.summaryJson, {
        status: "succeeded",
        runId: result.runId,
        input: command.options.input ?? "built-in sample",
        output: command.options.output,
        nothingNew: true,
        alreadyLoaded: result.alreadyLoaded,
      });
      return 0;
    }
    // The whole load, as its user waits for it: listing the input and reading what the lake
    // loaded before count too (a daily load's listing is a fifth of it), not only the job's stages.
    const seconds = (performance.now() - started) / 1000;
    const tables = ["songs", "artists", "users", "time", "songplays"].map((name) => {
      const table = result.tables.get(name);
      return [
        name,
        formatCount(table?.rows ?? 0),
        formatCount(table?.partitions ?? 0),
        formatCount(table?.files ?? 0),
        formatBytes(table?.bytes ?? 0),
      ];
    });
    const rejectedWhere = `${formatLocation(parseLocation(command.options.output))}/_rejected/`;
    const matches = playMatches(metrics);
    const lines = [
      formatTable(["table", "rows", "partitions", "files", "size"], tables),
      "",
      `records read   ${formatCount(metrics.recordsSeen)} (${formatBytes(metrics.bytesRead)})`,
      `rejected       ${formatCount(metrics.rejected)}${metrics.rejected > 0 ? `, in ${rejectedWhere}` : ""}`,
      `skipped        ${describeSkipped(result.skipped)}`,
      `matched        ${formatCount(matches.matched)} of ${formatCount(matches.plays)} plays to a song`,
      ...(result.reloaded
        ? [
            `reloaded       ${formatCount(result.reloaded.length)} changed file(s), e.g. ${result.reloaded[0]}: the lake was rebuilt from its input`,
          ]
        : command.options.mode === "update"
          ? [
              `loaded         ${formatCount(result.loadedFiles)} new file(s), ${formatCount(result.alreadyLoaded)} loaded before (rows: this run's)`,
            ]
          : []),
      `wall time      ${seconds.toFixed(2)} s (${formatCount(metrics.recordsSeen / Math.max(seconds, 1e-9))} records/s)`,
      `output         ${formatLocation(parseLocation(command.options.output))}`,
    ];
    report.write(`${lines.join("\n")}\n`);
    await writeSummary(command.summaryJson, {
      status: "succeeded",
      runId: result.runId,
      input: command.options.input ?? "built-in sample",
      output: command.options.output,
      tables: Object.fromEntries(
        ["songs", "artists", "users", "time", "songplays"].map((name) => [name, result.tables.get(name)]),
      ),
      rejected: { records: metrics.rejected, location: rejectedWhere },
      skipped: { files: result.skipped.length, paths: result.skipped },
      matchedPlays: matches,
      recordsRead: metrics.recordsSeen,
      bytesRead: metrics.bytesRead,
      wallSeconds: seconds,
      recordsPerSecond: metrics.recordsSeen / Math.max(seconds, 1e-9),
      stages: metrics.stages,
    });
    return 0;
  } catch (error) {
    progress.stop();
    // A scheduler reads the outcome from the same file either way.
    const metrics = progress.lastMetrics;
    await writeSummary(command.summaryJson, {
      status: "failed",
      error: inFlags(messageOf(error).split("\n")[0]!),
      exitCode: exitCodeOf(error),
      runId: metrics?.runId ?? null,
      input: command.options.input ?? "built-in sample",
      output: command.options.output,
      recordsRead: metrics?.recordsSeen ?? 0,
      bytesRead: metrics?.bytesRead ?? 0,
      rejected: { records: metrics?.rejected ?? 0 },
      wallSeconds: (performance.now() - started) / 1000,
      stages: metrics?.stages ?? [],
    }).catch((summaryError: unknown) =>
      process.stderr.write(`sparkify: the summary could not be written: ${messageOf(summaryError)}\n`),
    );
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    progress.stop();
    await rm(runTemp, { recursive: true, force: true });
    if (sampleFolder) await rm(sampleFolder, { recursive: true, force: true });
  }
}

/** A library message in the command's words: the options it names, as the flags that set them. */
function inFlags(message: string): string {
  return message
    .replace('run with mode: "overwrite"', "use --mode overwrite")
    .replace("raise workerResourceLimits.maxOldGenerationSizeMb", "raise --worker-heap");
}

/** Writes the JSON summary to the file `--summary-json` names, or to stdout for `-`. */
async function writeSummary(target: string | undefined, summary: Record<string, unknown>): Promise<void> {
  if (target === undefined) return;
  const text = `${JSON.stringify(summary, null, 2)}\n`;
  if (target === "-") process.stdout.write(text);
  else await writeFile(target, text);
}

/** The exit status of a failed run: 130 or 143 when a signal stopped it, 2 for a usage error, else 1. */
function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2;
  return stoppedBy === "SIGINT" ? 130 : stoppedBy === "SIGTERM" ? 143 : 1;
}

/**
 * Ends the process once stdout and stderr are flushed. The job is over by then (committed or
 * rolled back); exiting explicitly means that no handle left behind (a worker still stopping)
 * can keep the command from returning.
 */
function exitWith(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2)).then(exitWith, (error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`sparkify: ${error.message}\n\n${USAGE}`);
    exitWith(2);
    return;
  }
  // Bad input, unreachable storage, refused output: one line that says what and where, in the
  // command's words (the library names its options, the command its flags).
  process.stderr.write(`sparkify: error: ${inFlags(messageOf(error).split("\n")[0]!)}\n`);
  // A run stopped by a signal ends as shells expect of it: 130 for SIGINT, 143 for SIGTERM.
  exitWith(exitCodeOf(error));
});
