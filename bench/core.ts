// npm run bench:core [-- --runs N --scale F --only WORKLOAD]: the core workloads on the direct runner, the pool with
// 1 and 2 threads, and a hand-written single-threaded loop; a table on stdout, JSON in bench/results.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchOptions, formatTable, machine, measure, type Row, writeResults } from "./harness.js";
import { writeSmallJobInput } from "./small-job.js";

const USAGE = "usage: npm run bench:core -- [--runs N] [--scale F] [--only WORKLOAD]";
const values = benchOptions(USAGE, {
  runs: { type: "string", default: "3" },
  scale: { type: "string", default: "1" },
  only: { type: "string" },
});
const runs = Number(values.runs);
const scale = Number(values.scale);
if (!(runs >= 1) || !(scale > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const script = fileURLToPath(new URL("./core-variant.js", import.meta.url));
const workloads: { name: string; records: number; bytesPerRecord: number; baseline: string }[] = [
  { name: "small-job", records: 200_000 * scale, bytesPerRecord: 70, baseline: "loop" },
  { name: "cpu-map", records: 2_000_000 * scale, bytesPerRecord: 8, baseline: "direct" },
  { name: "combine-sum", records: 10_000_000 * scale, bytesPerRecord: 14, baseline: "loop" },
  { name: "group-by-key", records: 1_000_000 * scale, bytesPerRecord: 16, baseline: "loop" },
  { name: "join", records: 1_000_000 * scale, bytesPerRecord: 16, baseline: "loop" },
];
const variants = ["direct", "pool-1", "pool-2", "loop"];

console.error(`bench:core on ${machine()}, ${runs} run(s) per variant`);
const rows: Row[] = [];
const smallJobDir = mkdtempSync(join(tmpdir(), "sluice-bench-small-job-"));
writeSmallJobInput(smallJobDir, Math.round(200_000 * scale));
for (const workload of workloads.filter((entry) => values.only === undefined || entry.name === values.only)) {
  rows.push(
    ...(await measure(
      workload.name,
      variants.map((variant) => ({
        name: variant,
        args: [script, workload.name, String(Math.round(workload.records)), variant, smallJobDir],
      })),
      runs,
      Math.round(workload.records),
      Math.round(workload.records * workload.bytesPerRecord),
      workload.baseline,
    )),
  );
}
rmSync(smallJobDir, { recursive: true, force: true });
console.log(formatTable(rows));
const file = await writeResults(values.only === undefined ? "core" : `core-${values.only}`, rows, {
  runs,
  scale,
});
console.error(`written to ${file}`);
