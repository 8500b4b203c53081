// npm run bench:etl -- --songs 20000 --events 1000000 [--runs 3] [--s3] [--variants sluice-1,sluice-2]
// The Sparkify ETL with 1 and 2 threads (and 2 with V8's helper threads on) beside DuckDB
// (2 threads) computing the same tables, on the same generated input; each variant in its own
// process, alternating; the outputs must agree.
// --incremental: a daily load instead. The generated days (30 by default) are loaded once into a
// lake (untimed); then one new day of events/30 is added to the input, and a full reload of the
// whole input with 2 threads (the baseline) runs beside a daily load of the new day into a copy of
// that lake (sluice-update). Both end with the same tables, which are checked.
import { spawn } from "node:child_process";
import { cp, link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { listFiles, readBytes, s3Client } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { sparkify } from "../src/pipelines/sparkify-pipeline.js";
import { chart, type Point } from "./chart.js";
import {
  benchOptions,
  formatTable,
  machine,
  measure,
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

const VARIANTS = ["sluice-1", "sluice-2", HELPERS_ON, "duckdb-2"];
const USAGE = `usage: npm run bench:etl -- [--songs N] [--events M] [--runs R] [--s3] [--variants V,...] [--incremental]
  variants: ${VARIANTS.join(", ")} (duckdb-2, the baseline, always runs)`;
const values = benchOptions(USAGE, {
  songs: { type: "string", default: "20000" },
  events: { type: "string", default: "1000000" },
  runs: { type: "string", default: "3" },
  s3: { type: "boolean", default: false },
  variants: { type: "string", default: VARIANTS.join(",") },
  incremental: { type: "boolean", default: false },
});
const chosen = values.variants.split(",");
const songs = Number(values.songs);
const events = Number(values.events);
const runs = Number(values.runs);
if (
  ![songs, events, runs].every((value) => Number.isInteger(value) && value > 0) ||
  !chosen.every((name) => VARIANTS.includes(name))
) {
  console.error(USAGE);
  process.exit(2);
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("./etl-variant.js", import.meta.url));
const input = await sparkifyBenchInput(songs, events);
const files = await listFiles(input);
const inputBytes = files.reduce((total, file) => total + file.size, 0);
const records = events + (await listFiles(join(input, "song_data/**/*.json"))).length;
const work = await mkdtemp(join(tmpdir(), "sluice-bench-etl-"));

if (values.incremental) {
  try {
    await incremental();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.exit(0);
}

/** The daily-load scenario (see the top of this file). */
async function incremental(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), "sluice-bench-base-"));
  try {
    console.error("loading the generated days into a lake (untimed)");
    await sparkify({ input, output: join(base, "lake"), mode: "update" });
    // The input of the runs: the generated days (hard links, the same files) and a new day.
    const grown = join(base, "input");
    for (const file of files) {
      await mkdir(dirname(join(grown, file.relativePath)), { recursive: true });
      await link(file.uri, join(grown, file.relativePath));
    }
    const day = join(base, "day");
    const dayEvents = Math.round(events / 30);
    await generateSparkifyInput({
      songs: 1,
      events: dayEvents,
      days: 1,
      startDate: "2018-12-01",
      seed: 43,
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

let server: ReturnType<typeof spawn> | undefined;
try {
  const variants = VARIANTS.filter((name) => chosen.includes(name) || name === "duckdb-2").map((name) => ({
    name,
    args: [script, name, input, join(work, name)],
  }));
  if (values.s3) {
    const port = 22000 + Math.floor(Math.random() * 10000);
    server = spawn(
      process.execPath,
      ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(port), join(work, "s3")],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
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
    variants.push({ name: "sluice-2-s3", args: [script, "sluice-2", "s3://bench/raw", "s3://bench/lake"] });
  }
  console.error(`bench:etl on ${machine()}: ${(inputBytes / 1e6).toFixed(0)} MB, ${runs} run(s) per variant`);
  const rows: Row[] = await measure(
    `${songs} songs, ${events} events`,
    variants,
    runs,
    records,
    inputBytes,
    "duckdb-2",
  );
  console.log(formatTable(rows));
  const file = await writeResults(`etl-${events}`, rows, { songs, events, runs });
  console.error(`written to ${file}`);

  // The chart covers every size measured so far.
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
} finally {
  server?.kill();
  await rm(work, { recursive: true, force: true });
}
