// The bytes of the lake sluice writes against DuckDB's for the same rows: the Sparkify ETL and
// DuckDB's SQL of the same tables (bench/sparkify-duckdb.ts), both snappy, on the same generated
// input; per table, files and bytes on disk and their ratio to DuckDB's. Sizes are deterministic
// for a given build and input: one run each.
//   npm run bench:size -- [--songs N] [--events M]
import { existsSync } from "node:fs";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listFiles } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { benchOptions, machine } from "./harness.js";
import { runDuckdbEtl } from "./sparkify-duckdb.js";

const TABLES = ["songs", "artists", "users", "time", "songplays"] as const;
const values = benchOptions("usage: npm run bench:size -- [--songs N] [--events M]", {
  songs: { type: "string", default: "20000" },
  events: { type: "string", default: "1000000" },
});
const songs = Number(values.songs);
const events = Number(values.events);
const root = new URL("../..", import.meta.url).pathname;
const input = join(root, "bench/data", `songs-${songs}-events-${events}-seed-42`);
if (!existsSync(join(input, "log_data"))) {
  console.error(`generating ${input}`);
  await generateSparkifyInput({ songs, events, output: `${input}.partial`, seed: 42 });
  await rename(`${input}.partial`, input);
}

async function tableSizes(output: string): Promise<Record<string, { files: number; bytes: number }>> {
  const sizes: Record<string, { files: number; bytes: number }> = {};
  for (const table of TABLES) {
    const files = (await listFiles(join(output, table))).filter((file) => file.uri.endsWith(".parquet"));
    sizes[table] = { files: files.length, bytes: files.reduce((sum, file) => sum + file.size, 0) };
  }
  return sizes;
}

const work = await mkdtemp(join(tmpdir(), "sluice-bench-size-"));
try {
  const sluiceOutput = join(work, "sluice");
  await sparkify({ input, output: sluiceOutput, mode: "overwrite" }, { threads: 2 });
  const duckdbOutput = join(work, "duckdb");
  await runDuckdbEtl(input, duckdbOutput, 2);

  const sluice = await tableSizes(sluiceOutput);
  const duckdb = await tableSizes(duckdbOutput);
  const rows = TABLES.map((table) => ({
    table,
    sluiceFiles: sluice[table]!.files,
    sluiceBytes: sluice[table]!.bytes,
    duckdbFiles: duckdb[table]!.files,
    duckdbBytes: duckdb[table]!.bytes,
    ratio: sluice[table]!.bytes / duckdb[table]!.bytes,
  }));
  const header = ["table", "sluice files", "sluice MB", "duckdb files", "duckdb MB", "bytes vs duckdb"];
  const lines = rows.map((row) => [
    row.table,
    String(row.sluiceFiles),
    (row.sluiceBytes / 1e6).toFixed(2),
    String(row.duckdbFiles),
    (row.duckdbBytes / 1e6).toFixed(2),
    `${row.ratio.toFixed(2)}x`,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column]!)).join("  ");
  console.error(`bench:size on ${machine()}: ${songs} songs, ${events} events`);
  console.log([format(header), ...lines.map(format)].join("\n"));
  const file = join(root, `bench/results/output-size-${events}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ machine: machine(), date: new Date().toISOString(), songs, events, rows }, null, 2)}\n`,
  );
  console.error(`written to ${file}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
