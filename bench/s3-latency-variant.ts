// One variant of the S3 latency benchmark in its own process:
//   node s3-latency-variant.js DIST REQUESTS INPUT OUTPUT
// The Sparkify ETL of INPUT (local files) into OUTPUT (s3://bucket/prefix, a run-wide prefix: each
// run writes below it), with the build in DIST (a checkout's dist/ folder) and REQUESTS requests
// in flight at once per thread, through BENCH_S3_ENDPOINT.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { sparkify as Sparkify } from "../src/pipelines/sparkify-load.js";
import { report } from "./harness.js";

const [dist, requests, input, outputBase] = process.argv.slice(2) as [string, string, string, string];
if (!dist || !Number.isInteger(Number(requests)) || !input || !outputBase?.startsWith("s3://")) {
  console.error("usage: node s3-latency-variant.js DIST REQUESTS INPUT s3://BUCKET/PREFIX");
  process.exit(2);
}
const { sparkify } = (await import(pathToFileURL(join(dist, "pipelines/sparkify-load.js")).href)) as {
  sparkify: typeof Sparkify;
};
const s3 = {
  endpoint: process.env.BENCH_S3_ENDPOINT!,
  forcePathStyle: true,
  region: "us-east-1",
  maxConcurrency: Number(requests),
};
const started = performance.now();
const result = await sparkify({ input, output: `${outputBase}/run-${process.pid}`, s3 }, { threads: 2 });
const rows = [...result.tables].map(([table, { rows }]) => `${table}:${rows}`).sort();
report(started, rows.join(" "));
