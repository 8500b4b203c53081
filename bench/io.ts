// npm run bench:io [-- --runs N --events M]: JSON-lines parsing, Parquet writing (one large file, and
// a table of thousands of partitions) and S3 listing + GET, each against the same work done with
// the plain tools (the floor), in one run.
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { listFiles, s3Client } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { benchOptions, formatTable, machine, measure, type Row, writeResults } from "./harness.js";
import { SONG_PARTITIONS } from "./io-workloads.js";

const USAGE = "usage: npm run bench:io -- [--runs N] [--events M] [--rows R] [--song-rows S] [--objects K]";
const values = benchOptions(USAGE, {
  runs: { type: "string", default: "3" },
  events: { type: "string", default: "400000" },
  rows: { type: "string", default: "300000" },
  objects: { type: "string", default: "20000" },
  "song-rows": { type: "string", default: "20000" },
});
const runs = Number(values.runs);
const events = Number(values.events);
const rows = Number(values.rows);
const objects = Number(values.objects);
const songRows = Number(values["song-rows"]);
if (![runs, events, rows, objects, songRows].every((value) => Number.isInteger(value) && value > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("./io-variant.js", import.meta.url));
const folder = await mkdtemp(join(tmpdir(), "sluice-bench-io-"));
const port = 21000 + Math.floor(Math.random() * 10000);
const server = spawn(
  process.execPath,
  ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(port), join(folder, "s3")],
  { stdio: ["ignore", "pipe", "inherit"] },
);
try {
  await new Promise<void>((resolve) =>
    server.stdout.on("data", (chunk) => String(chunk).includes("listening") && resolve()),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  process.env.BENCH_S3_ENDPOINT = endpoint;
  process.env.AWS_ACCESS_KEY_ID ??= "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY ??= "S3RVER";
  console.error(`bench:io on ${machine()}, ${runs} run(s) per variant`);

  // One large JSON-lines file: the generator's logs of one long day.
  await generateSparkifyInput({ songs: 200, events, output: join(folder, "input"), days: 1 });
  const [logFile] = await listFiles(join(folder, "input/log_data/**/*.json"));
  const logBytes = (await stat(logFile!.uri)).size;

  // 20,000 small objects in the local S3 server.
  const s3 = { endpoint, forcePathStyle: true, region: "us-east-1" };
  const client = await s3Client(s3);
  await client.send(new CreateBucketCommand({ Bucket: "bench" }));
  const body = JSON.stringify({
    song_id: "SOMZWCG12A8C13C480",
    title: "I Didn't Mean To",
    duration: 218.93179,
    year: 0,
  });
  for (let start = 0; start < objects; start += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, objects - start) }, (_, offset) =>
        client.send(
          new PutObjectCommand({
            Bucket: "bench",
            Key: `songs/${(start + offset) % 26}/${start + offset}.json`,
            Body: body,
          }),
        ),
      ),
    );
  }

  const variants = (workload: string, uri: string, count: string) =>
    ["plain", "direct", "pool-1", "pool-2"].map((variant) => ({
      name: variant,
      args: [script, workload, variant, uri, count],
    }));
  const results: Row[] = [
    ...(await measure(
      "JSON-lines parse",
      variants("parse", logFile!.uri, "0"),
      runs,
      events,
      logBytes,
      "plain",
    )),
    ...(await measure("Parquet write", variants("parquet", "", String(rows)), runs, rows, 0, "plain")),
    ...(await measure(
      `Parquet write, ${SONG_PARTITIONS.toLocaleString("en-US")} partitions`,
      variants("parquet-partitioned", "", String(songRows)),
      runs,
      songRows,
      0,
      "plain",
    )),
    ...(await measure(
      "S3 list + GET",
      variants("s3-get", "s3://bench/songs/**/*.json", "0"),
      runs,
      objects,
      objects * body.length,
      "plain",
    )),
  ];
  console.log(formatTable(results));
  const file = await writeResults("io", results, { runs, events, logBytes, rows, songRows, objects });
  console.error(`written to ${file}`);
} finally {
  server.kill();
  await rm(folder, { recursive: true, force: true });
}
