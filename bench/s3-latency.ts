// npm run bench:s3-latency -- [--songs N] [--events M] [--runs R] [--latency-ms L] [--against DIR]
//
// The Sparkify ETL from local files to S3 across a slow link: the local S3 server
// (scripts/s3-server.mjs) behind a proxy that holds every request `--latency-ms` before passing it
// on, as the round trip to a distant region takes. What it measures is how many of a run's
// requests wait on one another: a step that takes its objects one at a time costs a round trip
// per object. Variants: this build with 16 requests in flight per thread (the default), and the
// same with 1, or with `--against DIR` the build in DIR/dist (another checkout, built) with 16,
// alternating in the same run. The tables' row counts must agree.
import { spawn } from "node:child_process";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles, s3Client } from "../src/io/index.js";
import { startFaultProxy } from "../test/support/fault-proxy.js";
import {
  benchOptions,
  formatTable,
  machine,
  measure,
  sparkifyBenchInput,
  type Variant,
  writeResults,
} from "./harness.js";

const USAGE =
  "usage: npm run bench:s3-latency -- [--songs N] [--events M] [--runs R] [--latency-ms L] [--against DIR]";
const values = benchOptions(USAGE, {
  songs: { type: "string", default: "2000" },
  events: { type: "string", default: "100000" },
  runs: { type: "string", default: "3" },
  "latency-ms": { type: "string", default: "40" },
  against: { type: "string" },
});
const [songs, events, runs, latencyMs] = [values.songs, values.events, values.runs, values["latency-ms"]].map(
  Number,
) as [number, number, number, number];
if (![songs, events, runs].every((count) => Number.isInteger(count) && count > 0) || !(latencyMs >= 0)) {
  console.error(USAGE);
  process.exit(2);
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = join(root, "build/bench/s3-latency-variant.js");
const work = await mkdtemp(join(tmpdir(), "sluice-bench-s3-latency-"));
const port = 22000 + Math.floor(Math.random() * 10000);
const server = spawn(process.execPath, [join(root, "scripts/s3-server.mjs"), String(port), work], {
  stdio: ["ignore", "pipe", "inherit"],
});
try {
  await new Promise<void>((resolve) =>
    server.stdout!.on("data", (chunk) => String(chunk).includes("listening") && resolve()),
  );
  process.env.AWS_ACCESS_KEY_ID ??= "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY ??= "S3RVER";
  const target = `http://127.0.0.1:${port}`;
  await (await s3Client({ endpoint: target, forcePathStyle: true, region: "us-east-1" })).send(
    new CreateBucketCommand({ Bucket: "bench" }),
  );
  const proxy = await startFaultProxy(target, () => "pass", { latencyMs });
  process.env.BENCH_S3_ENDPOINT = proxy.endpoint;
  try {
    const input = await sparkifyBenchInput(songs, events);
    const files = await listFiles(input);
    const bytes = files.reduce((total, file) => total + file.size, 0);
    const here = join(root, "dist");
    const variants: Variant[] = [
      { name: "16-at-once", args: [script, here, "16", input, "s3://bench/lake"] },
      values.against
        ? {
            name: "against-16-at-once",
            args: [script, join(values.against, "dist"), "16", input, "s3://bench/lake"],
          }
        : { name: "1-at-once", args: [script, here, "1", input, "s3://bench/lake"] },
    ];
    console.error(
      `bench:s3-latency on ${machine()}: ${songs} songs, ${events} events, ${latencyMs} ms a request, ${runs} run(s)`,
    );
    const workload = `${songs} songs, ${events} events, ${latencyMs} ms`;
    const baseline = values.against ? "against-16-at-once" : "1-at-once";
    const rows = await measure(workload, variants, runs, songs + events, bytes, baseline);
    console.log(formatTable(rows));
    const file = await writeResults(`s3-latency-${events}`, rows, { songs, events, runs, latencyMs });
    console.error(`written to ${file}`);
    console.error(`requests through the proxy: ${proxy.requests}`);
  } finally {
    await proxy.close();
  }
} finally {
  server.kill();
  await rm(work, { recursive: true, force: true });
}
