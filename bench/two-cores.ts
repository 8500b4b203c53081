// npm run bench:two-cores -- [--runs 5] [--songs 20000] [--events 1000000]
// What a second core gives on this machine, and what it costs the first: the ceiling that the
// ETL's "2 threads against 1" is measured under. Three workloads, each variant in its own process,
// alternating:
// - the logs parsed by hand (JSON.parse, each user's latest play) on 1 and 2 worker threads: the
//   gain of a second thread for work that touches little memory per record;
// - 1 and 2 threads each walking an array of their own (8, 16 and 128 MiB), the same bytes each:
//   at 1.00x the two share nothing, below it they wait on the cache and the memory they share;
// - the Sparkify ETL on one thread alone, beside a process that only computes (it takes the core
//   V8's helper threads would use), and beside one that walks 128 MiB (it also takes the cache and
//   memory a second worker would share).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles } from "../src/io/index.js";
import {
  benchCounts,
  formatTable,
  machine,
  measure,
  type Row,
  sparkifyBenchInput,
  writeResults,
} from "./harness.js";

const USAGE = "usage: npm run bench:two-cores -- [--runs R] [--songs N] [--events M]";
const { runs, songs, events } = benchCounts(USAGE, { runs: 5, songs: 20_000, events: 1_000_000 });

/** Bytes each walker reads: 50 GiB, about a second while its array stays in the cache. */
const WALKED_BYTES = 50 * 2 ** 30;
const WALK_SIZES_MIB = [8, 16, 128];

const script = fileURLToPath(new URL("./two-cores-variant.js", import.meta.url));
const input = await sparkifyBenchInput(songs, events);
const sizeOf = async (pattern: string) =>
  (await listFiles(pattern)).reduce((total, file) => total + file.size, 0);
const logBytes = await sizeOf(join(input, "log_data/**/*.json"));
const inputBytes = logBytes + (await sizeOf(join(input, "song_data/**/*.json")));
const work = await mkdtemp(join(tmpdir(), "sluice-bench-two-cores-"));
console.error(`${machine()}; ${runs} runs of each variant, alternating`);

const rows: Row[] = [];
try {
  rows.push(
    ...(await measure(
      "logs parsed by hand",
      ["parse-1", "parse-2"].map((name) => ({ name, args: [script, name, input] })),
      runs,
      events,
      logBytes,
      "parse-1",
    )),
  );
  for (const mib of WALK_SIZES_MIB) {
    rows.push(
      ...(await measure(
        `${mib} MiB walked per thread`,
        ["walk-1", "walk-2"].map((name) => ({
          name,
          args: [script, name, String(mib), String(WALKED_BYTES)],
        })),
        runs,
        WALKED_BYTES / 64,
        WALKED_BYTES,
        "walk-1",
      )),
    );
  }
  rows.push(
    ...(await measure(
      "Sparkify ETL, 1 thread",
      ["etl-1", "etl-1+integer-loop", "etl-1+memory-walk"].map((name) => ({
        name,
        args: [script, name, input, work],
      })),
      runs,
      songs + events,
      inputBytes,
      "etl-1",
    )),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}

console.log(formatTable(rows));
const ratio = (workload: string, variant: string) =>
  rows.find((row) => row.workload === workload && row.variant === variant)?.speedupVsBaseline ?? Number.NaN;
const slowdown = (variant: string) =>
  `${((1 / ratio("Sparkify ETL, 1 thread", variant) - 1) * 100).toFixed(0)}%`;
console.log(
  [
    "",
    `a second thread parsing: ${ratio("logs parsed by hand", "parse-2").toFixed(2)}x the first's speed`,
    `two walkers at once, each against one alone: ${WALK_SIZES_MIB.map((mib) => `${mib} MiB ${ratio(`${mib} MiB walked per thread`, "walk-2").toFixed(2)}x`).join(", ")}`,
    `the 1-thread ETL beside a computing neighbour: ${slowdown("etl-1+integer-loop")} slower; beside a memory-walking one: ${slowdown("etl-1+memory-walk")} slower`,
  ].join("\n"),
);
console.log(`\nwritten to ${await writeResults("two-cores", rows, { songs, events })}`);
