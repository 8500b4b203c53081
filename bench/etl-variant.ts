// One variant of the ETL benchmark in its own process: node etl-variant.js VARIANT INPUT OUTPUT [LAKE]
//   sluice-N: the Sparkify ETL with N threads, as the command runs it (sluice-N+v8-helpers-on: with
//   V8's helper threads on; sluice-N+v8-growth: heaps grown by V8's own factor throughout);
//   duckdb-N: the same tables in DuckDB SQL with N threads;
//   sluice-update: a daily load (--mode update, the command's default runner choice) of INPUT into
//   a copy of LAKE, a lake that holds all of INPUT but its newest files (the copy is not timed).
import { spawnSync } from "node:child_process";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { cluster } from "../src/cluster/index.js";
import { defaultHeapGrowthLine, definePipeline, sum } from "../src/index.js";
import { parquetDataset } from "../src/io/index.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { peakRss, report } from "./harness.js";
import { runDuckdbEtl } from "./sparkify-duckdb.js";

const [variant, input, outputBase, baseLake] = process.argv.slice(2) as [string, string, string, string?];
/**
 * Each local run writes a folder of its own, removed with the others when the benchmark ends.
 * Removing the previous run's 40,000 files just before a run slowed the run's own file creation:
 * ext4 without a journal, as on this machine, skips inodes freed in the last seconds when it
 * allocates (sys time 2.1 s against 3.3 to 4.5 s at 1M events, for the same build), and both
 * sluice and DuckDB create every folder and file of the songs table.
 */
const output = outputBase.startsWith("s3://") ? outputBase : join(outputBase, `run-${process.pid}`);
/**
 * DuckDB is loaded only where it is used (its library alone is about 37 MiB of RSS): the sluice
 * variants load it after their peak RSS is taken, to check their output.
 */
const duckdb = () => import("@duckdb/node-api");
const parsed = /^(sluice|duckdb)-(\d+|update|cluster:[\w-]+)(\+v8-helpers-on|\+v8-growth)?$/.exec(
  variant ?? "",
);
if (!parsed || (parsed[2] === "update") !== (baseLake !== undefined)) {
  console.error(
    "usage: node etl-variant.js sluice-N[+v8-helpers-on|+v8-growth]|duckdb-N|sluice-update|sluice-cluster:QUEUE INPUT OUTPUT [LAKE]",
  );
  process.exit(2);
}
const [, engine, threadsText, v8Choice] = parsed;
/** sluice-cluster:QUEUE: the cluster runner, on the workers of that queue (BENCH_REDIS_URL, BENCH_SHUFFLE). */
const clusterQueue = threadsText!.startsWith("cluster:") ? threadsText!.slice("cluster:".length) : undefined;
if (baseLake) await cp(baseLake, output, { recursive: true, preserveTimestamps: true });
// The writes of what ran before (the previous variant's 20,000 files, the copy above) are flushed
// before the clock starts: the page cache's writeback would otherwise land on whichever run follows.
spawnSync("sync");
const threads = Number(threadsText);
// The command's choices, or V8's own for one of them (+v8-helpers-on, +v8-growth).
const v8HelperThreads = v8Choice === "+v8-helpers-on" ? "on" : "auto";
const heapGrowthBelow = v8Choice === "+v8-growth" ? 0 : defaultHeapGrowthLine();
const s3 = process.env.BENCH_S3_ENDPOINT
  ? { endpoint: process.env.BENCH_S3_ENDPOINT, forcePathStyle: true, region: "us-east-1" }
  : {};

/** Rows of each table and songplays with a song: what every variant must agree on. */
const countRows = definePipeline(
  { module: import.meta.url, name: "count-rows" },
  (p, options: { output: string }) => {
    const tables = ["songs", "artists", "users", "time", "songplays"].map((table) =>
      p
        .read(parquetDataset(`${options.output}/${table}`, { s3 }))
        .map(() => [table, 1] as const)
        .combinePerKey(sum()),
    );
    const matched = p
      .read(parquetDataset(`${options.output}/songplays`, { s3 }))
      .filter((row) => row.song_id !== null)
      .map(() => ["matched songplays", null] as const)
      .countPerKey();
    return { counts: p.flatten([...tables, matched]).collect() };
  },
);

const started = performance.now();
if (engine === "duckdb") {
  await runDuckdbEtl(input, output, threads);
} else if (baseLake) {
  await sparkify({ input, output, mode: "update", s3 });
} else if (clusterQueue) {
  const result = await sparkify(
    { input, output, mode: "overwrite", s3 },
    {
      runner: cluster({
        redis: process.env.BENCH_REDIS_URL!,
        shuffle: process.env.BENCH_SHUFFLE!,
        queue: clusterQueue,
        s3,
        slots: 2,
      }),
    },
  );
  // What the queue and the object-store shuffle carried: tasks, and bytes through the shuffle.
  const stages = result.metrics?.stages ?? [];
  const tasks = stages.reduce((total, stage) => total + stage.tasks, 0);
  const shuffled = stages.reduce((total, stage) => total + stage.bytesShuffled, 0);
  console.error(
    `${variant}: ${tasks} tasks (${((tasks * 1000) / (performance.now() - started)).toFixed(1)} tasks/s), ${(shuffled / 2 ** 20).toFixed(1)} MiB shuffled`,
  );
} else {
  await sparkify({ input, output, mode: "overwrite", s3 }, { threads, v8HelperThreads, heapGrowthBelow });
}
const wallMs = performance.now() - started;
// Taken before the check: counting the rows (DuckDB reading every file) is not the ETL's memory.
const peakRssBytes = peakRss();

/** Counts with DuckDB where it can read the output (local folders), with sluice where not (S3). */
async function counts(): Promise<[string, number][]> {
  if (output.startsWith("s3://"))
    return (await countRows.run({ output }, { runner: "direct" })).outputs.counts;
  const { DuckDBInstance } = await duckdb();
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  const result: [string, number][] = [];
  for (const table of ["songs", "artists", "users", "time", "songplays"]) {
    const reader = await connection.runAndReadAll(
      `SELECT count(*) FROM read_parquet('${output}/${table}/**/*.parquet')`,
    );
    result.push([table, Number(reader.getRowsJS()[0]![0])]);
  }
  const matched = await connection.runAndReadAll(
    `SELECT count(song_id) FROM read_parquet('${output}/songplays/**/*.parquet')`,
  );
  result.push(["matched songplays", Number(matched.getRowsJS()[0]![0])]);
  connection.closeSync();
  instance.closeSync();
  return result;
}
const check = JSON.stringify(Object.fromEntries((await counts()).sort()));
report(started, check, wallMs, peakRssBytes);
