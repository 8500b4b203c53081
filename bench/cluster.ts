// npm run bench:cluster -- [--songs 20000] [--events 1000000] [--runs 3]
// The Sparkify ETL on the cluster runner beside the pool runner (2 threads, the baseline), on the
// same generated input, each run in its own process, alternating; the outputs must agree. The
// cluster runs on a Redis and an S3 server (s3rver, for the shuffle) started here on 127.0.0.1,
// with one `sluice worker` of 2 threads (cluster-1x2) or two of 1 thread each (cluster-2x1), all on
// this machine: what the queue and the object-store shuffle cost, not what more machines gain.
// The peak RSS of a cluster row is the driver's; each worker's own peak is printed after the table.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { listFiles, s3Client } from "../src/io/index.js";
import { benchCounts, formatTable, machine, measure, sparkifyBenchInput, writeResults } from "./harness.js";

// The AWS SDK's notice about the Node versions of its future releases, once per process, is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = "usage: npm run bench:cluster -- [--songs N] [--events M] [--runs R]";
const { songs, events, runs } = benchCounts(USAGE, { songs: 20_000, events: 1_000_000, runs: 3 });

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("./etl-variant.js", import.meta.url));
const input = await sparkifyBenchInput(songs, events);
const files = await listFiles(input);
const inputBytes = files.reduce((total, file) => total + file.size, 0);
const work = await mkdtemp(join(tmpdir(), "sluice-bench-cluster-"));
const children: ChildProcess[] = [];

/** Starts a process and resolves once it prints `ready` on the stream it writes to. */
function started(
  program: string,
  args: string[],
  ready: string,
  stream: "stdout" | "stderr",
): Promise<ChildProcess> {
  const child = spawn(program, args, {
    stdio: ["ignore", stream === "stdout" ? "pipe" : "ignore", stream === "stderr" ? "pipe" : "ignore"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let printed = "";
    child[stream]!.on("data", (chunk) => {
      printed += String(chunk);
      if (printed.includes(ready)) resolve(child);
    });
    child.on("exit", () => reject(new Error(`${program} exited: ${printed}`)));
  });
}

/** The peak resident set of a live process, in MiB (VmHWM). */
function peakOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
  return line ? Number(line[1]) / 1024 : Number.NaN;
}

try {
  const redisPort = 31000 + Math.floor(Math.random() * 9000);
  await started(
    "redis-server",
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    "Ready to accept connections",
    "stdout",
  );
  const s3Port = 22000 + Math.floor(Math.random() * 9000);
  await started(
    process.execPath,
    ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(s3Port), join(work, "s3")],
    "listening",
    "stdout",
  );
  process.env.BENCH_S3_ENDPOINT = `http://127.0.0.1:${s3Port}`;
  process.env.AWS_ACCESS_KEY_ID ??= "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY ??= "S3RVER";
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  process.env.BENCH_REDIS_URL = redisUrl;
  process.env.BENCH_SHUFFLE = "s3://shuffle/runs";
  const client = await s3Client({
    endpoint: process.env.BENCH_S3_ENDPOINT,
    forcePathStyle: true,
    region: "us-east-1",
  });
  await client.send(new CreateBucketCommand({ Bucket: "shuffle" }));
  const worker = (queue: string, concurrency: number) =>
    started(
      process.execPath,
      [
        join(root, "dist/cluster/sluice.js"),
        "worker",
        "--redis",
        redisUrl,
        "--queue",
        queue,
        "--concurrency",
        String(concurrency),
      ],
      "taking tasks",
      "stderr",
    );
  const fleets = {
    "cluster-1x2": [await worker("one", 2)],
    "cluster-2x1": [await worker("two", 1), await worker("two", 1)],
  };
  console.error(
    `bench:cluster on ${machine()}: ${(inputBytes / 1e6).toFixed(0)} MB, ${runs} run(s) per variant`,
  );
  const rows = await measure(
    `${songs} songs, ${events} events`,
    [
      { name: "pool-2", args: [script, "sluice-2", input, join(work, "pool")] },
      { name: "cluster-1x2", args: [script, "sluice-cluster:one", input, join(work, "one")] },
      { name: "cluster-2x1", args: [script, "sluice-cluster:two", input, join(work, "two")] },
    ],
    runs,
    events + songs,
    inputBytes,
    "pool-2",
  );
  console.log(formatTable(rows));
  const workerPeaks = Object.fromEntries(
    Object.entries(fleets).map(([name, fleet]) => [
      name,
      fleet.map((child) => Math.round(peakOf(child.pid!))),
    ]),
  );
  console.log(`workers' peak RSS (MiB): ${JSON.stringify(workerPeaks)}`);
  const file = await writeResults(`cluster-${events}`, rows, {
    songs,
    events,
    runs,
    workerPeakRssMiB: workerPeaks,
  });
  console.error(`written to ${file}`);
} finally {
  for (const child of children) child.kill("SIGKILL");
  await rm(work, { recursive: true, force: true });
}
