// One variant of one core workload, in its own process: node core-variant.js WORKLOAD RECORDS VARIANT
import { createHash } from "node:crypto";
import { canonicalJson } from "../src/index.js";
import { report } from "./harness.js";
import { handWritten, type WorkloadName, workloads } from "./workloads.js";

const [workload, recordsText, variant] = process.argv.slice(2) as [WorkloadName, string, string];
const records = Number(recordsText);
const digest = (pairs: readonly unknown[]) =>
  createHash("sha256").update(pairs.map(canonicalJson).sort().join("\n")).digest("hex").slice(0, 16);

const started = performance.now();
let result: readonly unknown[];
if (variant === "loop") {
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
