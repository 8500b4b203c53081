// One variant of one core workload, in its own process: node core-variant.js WORKLOAD RECORDS VARIANT
import { createHash } from "node:crypto";
import { canonicalJson } from "../src/index.js";
import { report } from "./harness.js";
import { smallJob, smallJobLoop } from "./small-job.js";
import { handWritten, type WorkloadName, workloads } from "./workloads.js";

// The small job reads files written beforehand: its fifth argument is their folder.
const [workload, recordsText, variant, inputDir] = process.argv.slice(2) as [
  WorkloadName | "small-job",
  string,
  string,
  string | undefined,
];
const records = Number(recordsText);
const digest = (pairs: readonly unknown[]) =>
  createHash("sha256").update(pairs.map(canonicalJson).sort().join("\n")).digest("hex").slice(0, 16);

const started = performance.now();
let result: readonly unknown[];
if (workload === "small-job") {
  const dir = inputDir!;
  if (variant === "loop") result = smallJobLoop(dir);
  else {
    const threads = variant === "direct" ? 1 : Number(variant.replace("pool-", ""));
    // As a user runs it: no tuning, only the runner and its threads.
    const { outputs } = await smallJob.run(
      { dir },
      variant === "direct" ? { runner: "direct" } : { threads },
    );
    result = outputs.out;
  }
} else if (variant === "loop") {
  result = handWritten(workload, records);
} else {
  const threads = variant === "direct" ? 1 : Number(variant.replace("pool-", ""));
  const { outputs } = await workloads.run(
    { workload, records, splits: Number(process.env.SPLITS ?? 4) },
    { runner: variant === "direct" ? "direct" : "pool", threads, partitions: 8 },
  );
  result = outputs.out;
}
report(started, digest(result));
