// npm run bench:etl -- --songs 20000 --events 1000000 [--runs 3] [--shapes default,...] [--s3]
//   [--variants sluice-1,sluice-2]
// The Sparkify ETL with 1 and 2 threads beside DuckDB (2 threads) computing the same tables, on
// the same generated input; each variant in its own process, alternating; the outputs must agree.
// Run on each of the generator's input shapes (INPUT_SHAPES: few large files or many small ones,
// peaks at month ends, match share, shared timestamps, long and unicode text, artists per song),
// each beside its CPU floor (cpu-floor.ts); a summary gives each shape's ratio to DuckDB and the
// median across shapes.
// --incremental: a daily load instead. The generated days (30 by default) are loaded once into a
// lake (untimed); then one new day of events/30 is added to the input, and a full reload of the
// whole input with 2 threads (the baseline) runs beside a daily load of the new day into a copy of
// that lake (sluice-update). Both end with the same tables, which are checked.
import { spawn } from "node:child_process";
import { copyFile, cp, link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { listFiles, readBytes, s3Client } from "../src/io/index.js";
import { generateSparkifyInput, INPUT_SHAPES } from "../src/pipelines/sparkify-generator.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { chart, type Point } from "./chart.js";
import {
  benchOptions,
  formatTable,
  machine,
  measure,
  median,
  runChild,
  sparkifyBenchInput,
  type Row,
  writeResults,
} from "./harness.js";

/**
 * The 2-thread ETL with `v8HelperThreads: "on"`, V8's own defaults: what the default (`auto`, each
 * worker scavenging and compiling on its own thread while every core has a worker) gains, measured
 * in the same run.
 */
const HELPERS_ON = "sluice-2+v8-helpers-on";

/**
 * The 2-thread ETL with heaps grown by V8's own factor throughout: what growing them 4-fold below
 * the command's line (`heapGrowthBelow`) gains, and costs in memory, measured in the same run.
 */
const V8_GROWTH = "sluice-2+v8-growth";

/**
 * DuckDB on one thread: what a second core gives an engine with no collector and no compiler
 * threads, on this machine, beside what it gives sluice (its "2 threads / 1").
 */
const DUCKDB_1 = "duckdb-1";

const VARIANTS = ["sluice-1", "sluice-2", HELPERS_ON, V8_GROWTH, DUCKDB_1, "duckdb-2"];
const DEFAULT_VARIANTS = ["sluice-1", "sluice-2", DUCKDB_1, "duckdb-2"];
const USAGE = `usage: npm run bench:etl -- [--songs N] [--events M] [--runs R] [--shapes S,...] [--s3]
    [--variants V,...] [--incremental]
  shapes: ${Object.keys(INPUT_SHAPES).join(", ")} (default: all; --s3 and --incremental: default)
  variants: ${VARIANTS.join(", ")} (default: ${DEFAULT_VARIANTS.join(", ")}; duckdb-2, the baseline, always runs)`;
const values = benchOptions(USAGE, {
  songs: { type: "string", default: "20000" },
  events: { type: "string", default: "1000000" },
  runs: { type: "string", default: "3" },
  s3: { type: "boolean", default: false },
  variants: { type: "string", default: DEFAULT_VARIANTS.join(",") },
  shapes: { type: "string" },
  incremental: { type: "boolean", default: false },
});
const chosen = values.variants.split(",");
const shapes = (
  values.shapes ?? (values.s3 || values.incremental ? "default" : Object.keys(INPUT_SHAPES).join(","))
).split(",");
const songs = Number(values.songs);
const events = Number(values.events);
const runs = Number(values.runs);
if (
  ![songs, events, runs].every((value) => Number.isInteger(value) && value > 0) ||
  !chosen.every((name) => VARIANTS.includes(name)) ||
  !shapes.every((name) => name in INPUT_SHAPES) ||
  ((values.s3 || values.incremental) && shapes.join() !== "default")
) {
  console.error(USAGE);
  process.exit(2);
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("./etl-variant.js", import.meta.url));
const floorScript = fileURLToPath(new URL("./cpu-floor.js", import.meta.url));
const work = await mkdtemp(join(tmpdir(), "sluice-bench-etl-"));

/** A shape's input, its size in bytes, and its records (events and song documents). */
async function inputOf(shape: string) {
  const input = await sparkifyBenchInput(songs, events, shape);
  const files = await listFiles(input);
  const inputBytes = files.reduce((total, file) => total + file.size, 0);
  const records = events + (await listFiles(join(input, "song_data/**/*.json"))).length;
  return { input, files, inputBytes, records };
}

if (values.incremental) {
  try {
    await incremental();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

/** A hard link where the temporary folder shares the input's file system (TMPDIR may not), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    await copyFile(from, to);
  }
}

/** The daily-load scenario (see the top of this file). */
async function incremental(): Promise<void> {
  const { files } = await inputOf("default");
  const base = await mkdtemp(join(tmpdir(), "sluice-bench-base-"));
  try {
    // The input of the runs: the generated days (hard links, the same files, or copies) and a new day.
    const grown = join(base, "input");
    for (const file of files) {
      await mkdir(dirname(join(grown, file.relativePath)), { recursive: true });
      await linkOrCopy(file.uri, join(grown, file.relativePath));
    }
    // The lake is loaded from the same files the runs list, so that it knows them as they are there.
    console.error("loading the generated days into a lake (untimed)");
    await sparkify({ input: grown, output: join(base, "lake"), mode: "update" });
    const day = join(base, "day");
    const dayEvents = Math.round(events / 30);
    // The same seed and song count draw the same song catalogue, so that the new day's plays
    // match the lake's songs as often as the other days' do (its song files are left unused).
    await generateSparkifyInput({
      songs,
      events: dayEvents,
      days: 1,
      startDate: "2018-12-01",
      seed: 42,
      output: day,
    });
    await cp(join(day, "log_data"), join(grown, "log_data"), { recursive: true });
    const grownFiles = await listFiles(grown);
    const grownBytes = grownFiles.reduce((total, file) => total + file.size, 0);
    const variants = [
      { name: "sluice-2", args: [script, "sluice-2", grown, join(work, "full")] },
      {
        name: "sluice-update",
        args: [script, "sluice-update", grown, join(work, "update"), join(base, "lake")],
      },
    ];
    console.error(
      `bench:etl --incremental on ${machine()}: ${events} events + a day of ${dayEvents}, ${runs} run(s)`,
    );
    const rows = await measure(
      `${events} events, then a day of ${dayEvents}`,
      variants,
      runs,
      events + dayEvents + songs,
      grownBytes,
      "sluice-2",
    );
    console.log(formatTable(rows));
    const file = await writeResults(`etl-incremental-${events}`, rows, { songs, events, dayEvents, runs });
    console.error(`written to ${file}`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/** What cpu-floor.js measures of an input, on one thread. */
interface Floor {
  readonly parseMs: number;
  readonly encodeMs: number;
  readonly filesMs: number;
  readonly folders: number;
  readonly files: number;
}

/**
 * The floor, or undefined where it cannot be measured: its Parquet encoding is DuckDB's, which
 * runs out of memory where DuckDB's ETL does (10M events, where the kernel killed it after it took
 * 13 GB); the times measured are kept all the same.
 */
async function floorOf(input: string, duckdbFailed: boolean): Promise<Floor | undefined> {
  if (duckdbFailed) {
    console.error(
      "the CPU floor was not measured: its Parquet encoding is DuckDB's, which failed on this input",
    );
    return undefined;
  }
  try {
    return await runChild<Floor>([floorScript, input, join(work, "floor")]);
  } catch (error) {
    console.error(`the CPU floor was not measured: ${(error as Error).message}`);
    return undefined;
  }
}

/** One shape's figures for the summary: 2 threads against DuckDB, 1 thread, and the floor. */
interface ShapeSummary {
  readonly shape: string;
  readonly inputMB: number;
  readonly logFiles: number;
  readonly sluice1Ms: number;
  readonly sluice2Ms: number;
  readonly duckdb2Ms: number;
  /** DuckDB on one thread (NaN unless --variants has duckdb-1). */
  readonly duckdb1Ms: number;
  /** sluice-2's median wall time over DuckDB's: below 1, sluice is faster. */
  readonly ratioToDuckdb: number;
  /** sluice-1's median over sluice-2's: what the second thread gives. */
  readonly twoThreadSpeedup: number;
  readonly floor: Floor | undefined;
  /** The floor on 2 threads: the parts' sum over two (NaN where it was not measured). */
  readonly floorMs: number;
}

let server: ReturnType<typeof spawn> | undefined;
try {
  const allRows: Row[] = [];
  const summaries: ShapeSummary[] = [];
  for (const shape of shapes) {
    const { input, files, inputBytes, records } = await inputOf(shape);
    const variants = VARIANTS.filter((name) => chosen.includes(name) || name === "duckdb-2").map((name) => ({
      name,
      args: [script, name, input, join(work, shape, name)],
    }));
    if (values.s3) variants.push(await s3Variant(files));
    console.error(
      `bench:etl on ${machine()}: ${shape} shape, ${(inputBytes / 1e6).toFixed(0)} MB, ${runs} run(s) per variant`,
    );
    const rows: Row[] = await measure(
      `${shape}: ${songs} songs, ${events} events`,
      variants,
      runs,
      records,
      inputBytes,
      "duckdb-2",
    );
    allRows.push(...rows);
    console.log(formatTable(rows));
    if (shape === "default") {
      const file = await writeResults(`etl-${events}`, rows, { songs, events, runs });
      console.error(`written to ${file}`);
    }
    const wall = (name: string) => rows.find((row) => row.variant === name)?.wallMsMedian ?? Number.NaN;
    const floor = await floorOf(input, !Number.isFinite(wall("duckdb-2")));
    summaries.push({
      shape,
      inputMB: inputBytes / 1e6,
      logFiles: files.filter((file) => file.relativePath.startsWith("log_data/")).length,
      sluice1Ms: wall("sluice-1"),
      sluice2Ms: wall("sluice-2"),
      duckdb2Ms: wall("duckdb-2"),
      duckdb1Ms: wall(DUCKDB_1),
      ratioToDuckdb: wall("sluice-2") / wall("duckdb-2"),
      twoThreadSpeedup: wall("sluice-1") / wall("sluice-2"),
      floor,
      floorMs: floor ? (floor.parseMs + floor.encodeMs + floor.filesMs) / 2 : Number.NaN,
    });
  }
  if (summaries.length > 1) {
    console.log(`\n${formatShapes(summaries)}`);
    const file = await writeResults(`etl-shapes-${events}`, allRows, {
      songs,
      events,
      runs,
      shapes: summaries,
      medianRatioToDuckdb: median(summaries.map((summary) => summary.ratioToDuckdb)),
    });
    console.error(`written to ${file}`);
  }
  await writeChart();
} finally {
  server?.kill();
  await rm(work, { recursive: true, force: true });
}

/** The summary across shapes, with the median ratio to DuckDB. */
function formatShapes(summaries: readonly ShapeSummary[]): string {
  const seconds = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : "-");
  // A variant left out of the run (--variants) has no time: its ratios are "-", not NaN.
  const times = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : "-");
  const lines = [
    "| shape | input MB | log files | sluice-2 s | duckdb-2 s | sluice-2 / duckdb-2 | duckdb-1 s | sluice-2 / faster duckdb | sluice-1 / sluice-2 | duckdb-1 / duckdb-2 | floor (2 threads) s: parse + encode + files | sluice-2 / floor | duckdb-2 / floor |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...summaries
      .map((summary) =>
        [
          summary.shape,
          summary.inputMB.toFixed(1),
          String(summary.logFiles),
          seconds(summary.sluice2Ms),
          seconds(summary.duckdb2Ms),
          times(summary.ratioToDuckdb),
          seconds(summary.duckdb1Ms),
          times(summary.sluice2Ms / Math.min(summary.duckdb1Ms, summary.duckdb2Ms)),
          times(summary.twoThreadSpeedup),
          times(summary.duckdb1Ms / summary.duckdb2Ms),
          summary.floor
            ? `${seconds(summary.floorMs)}: ${seconds(summary.floor.parseMs)} + ${seconds(summary.floor.encodeMs)} + ${seconds(summary.floor.filesMs)} (${summary.floor.files} files)`
            : "-",
          times(summary.sluice2Ms / summary.floorMs),
          times(summary.duckdb2Ms / summary.floorMs),
        ].join(" | "),
      )
      .map((line) => `| ${line} |`),
  ];
  const ratios = summaries.map((summary) => summary.ratioToDuckdb);
  lines.push(
    "",
    `median sluice-2 / duckdb-2 across shapes: ${median(ratios).toFixed(2)}x (worst ${Math.max(...ratios).toFixed(2)}x)`,
  );
  const toFaster = summaries.map(
    (summary) => summary.sluice2Ms / Math.min(summary.duckdb1Ms, summary.duckdb2Ms),
  );
  if (toFaster.every(Number.isFinite))
    lines.push(
      `median sluice-2 / the faster of duckdb-1 and duckdb-2: ${median(toFaster).toFixed(2)}x (worst ${Math.max(...toFaster).toFixed(2)}x)`,
    );
  return lines.join("\n");
}

/** The same ETL reading from and writing to a local S3 server (scripts/s3-server.mjs). */
async function s3Variant(files: Awaited<ReturnType<typeof listFiles>>) {
  const port = 22000 + Math.floor(Math.random() * 10000);
  server = spawn(
    process.execPath,
    ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(port), join(work, "s3")],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve) =>
    server!.stdout!.on("data", (chunk) => String(chunk).includes("listening") && resolve()),
  );
  process.env.BENCH_S3_ENDPOINT = `http://127.0.0.1:${port}`;
  process.env.AWS_ACCESS_KEY_ID ??= "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY ??= "S3RVER";
  const settings = { endpoint: process.env.BENCH_S3_ENDPOINT, forcePathStyle: true, region: "us-east-1" };
  const client = await s3Client(settings);
  await client.send(new CreateBucketCommand({ Bucket: "bench" }));
  console.error(`uploading ${files.length} input files to the local S3 server`);
  for (let start = 0; start < files.length; start += 50) {
    await Promise.all(
      files.slice(start, start + 50).map(async (file) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of readBytes(file.uri)) chunks.push(chunk);
        await client.send(
          new PutObjectCommand({
            Bucket: "bench",
            Key: `raw/${file.relativePath}`,
            Body: Buffer.concat(chunks),
          }),
        );
      }),
    );
  }
  return { name: "sluice-2-s3", args: [script, "sluice-2", "s3://bench/raw", "s3://bench/lake"] };
}

/** The chart covers every size measured so far (the default shape). */
async function writeChart(): Promise<void> {
  const resultsFolder = join(root, "bench/results");
  const points: Point[] = [];
  for (const name of (await readdir(resultsFolder)).filter((entry) => /^etl-\d+\.json$/.test(entry))) {
    const document = JSON.parse(await readFile(join(resultsFolder, name), "utf8")) as { rows: Row[] };
    for (const row of document.rows.filter((entry) => entry.failed === undefined)) {
      points.push({
        variant: row.variant,
        inputMB: row.inputBytes / 1e6,
        wallSeconds: row.wallMsMedian / 1000,
        peakRssMiB: row.peakRssMiB,
      });
    }
  }
  await writeFile(join(resultsFolder, "etl.svg"), chart(points, `Sparkify ETL, ${machine()}`));
  console.error(`chart: ${join(resultsFolder, "etl.svg")}`);
}
