// npm run bench:core [-- --runs N --scale F]: the core workloads on the direct runner, the pool with
// 1 and 2 threads, and a hand-written single-threaded loop; a table on stdout, JSON in bench/results.
import { fileURLToPath } from "node:url";
import { benchOptions, formatTable, machine, measure, type Row, writeResults } from "./harness.js";

const USAGE = "usage: npm run bench:core -- [--runs N] [--scale F]";
const values = benchOptions(USAGE, {
  runs: { type: "string", default: "3" },
  scale: { type: "string", default: "1" },
});
const runs = Number(values.runs);
const scale = Number(values.scale);
if (!(runs >= 1) || !(scale > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const script = fileURLToPath(new URL("./core-variant.js", import.meta.url));
const workloads: { name: string; records: number; bytesPerRecord: number; baseline: string }[] = [
  { name: "cpu-map", records: 2_000_000 * scale, bytesPerRecord: 8, baseline: "direct" },
  { name: "combine-sum", records: 10_000_000 * scale, bytesPerRecord: 14, baseline: "loop" },
  { name: "group-by-key", records: 1_000_000 * scale, bytesPerRecord: 16, baseline: "loop" },
  { name: "join", records: 1_000_000 * scale, bytesPerRecord: 16, baseline: "loop" },
];
const variants = ["direct", "pool-1", "pool-2", "loop"];

console.error(`bench:core on ${machine()}, ${runs} run(s) per variant`);
const rows: Row[] = [];
for (const workload of workloads) {
  rows.push(
    ...(await measure(
      workload.name,
      variants.map((variant) => ({
        name: variant,
        args: [script, workload.name, String(Math.round(workload.records)), variant],
      })),
      runs,
      Math.round(workload.records),
      Math.round(workload.records * workload.bytesPerRecord),
      workload.baseline,
    )),
  );
}
console.log(formatTable(rows));
const file = await writeResults("core", rows, { runs, scale });
console.error(`written to ${file}`);
