// The CPU floor of the Sparkify ETL on one input, in its own process: node cpu-floor.js INPUT WORK
// What any engine must spend on this machine, whatever it does in between, each part measured on
// one thread:
//   parse: reading every input file and parsing its JSON (each log line, each song document) with
//     V8's JSON.parse, the fastest parser a Node program has;
//   encode: DuckDB (one thread) writing the five tables, computed beforehand, as Parquet, one
//     unpartitioned file per table: the encoding of the rows written, by a fast native encoder;
//   files: creating the folders and files of the partitioned tables (as many as DuckDB's
//     partitioned copy makes, with their sizes), with blocking calls.
// The floor on N threads is their sum over N: every part split perfectly, nothing else done.
// Prints one JSON line: { parseMs, encodeMs, filesMs, folders, files }.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { listFiles } from "../src/io/index.js";
import { literal, referenceStatements, TABLE_COLUMNS } from "./sparkify-duckdb.js";

const [input, work] = process.argv.slice(2) as [string, string];
if (!input || !work) {
  console.error("usage: node cpu-floor.js INPUT WORK");
  process.exit(2);
}

const songFiles = (await listFiles(join(input, "song_data/**/*.json"))).map((file) => file.uri);
const logFiles = (await listFiles(join(input, "log_data/**/*.json"))).map((file) => file.uri);

/** Reads and parses every input file; returns the milliseconds it took. */
function parseAll(): number {
  const started = performance.now();
  let parsed = 0;
  for (const file of songFiles) if (JSON.parse(readFileSync(file, "utf8")) !== null) parsed++;
  for (const file of logFiles) {
    for (const line of readFileSync(file, "utf8").split("\n"))
      if (line !== "" && JSON.parse(line) !== null) parsed++;
  }
  if (parsed === 0) throw new Error(`nothing parsed under ${input}`);
  return performance.now() - started;
}

/** The tables in DuckDB (not timed), then timed: one Parquet file per table, and the partitioned layout. */
async function encodeAll(): Promise<{ encodeMs: number; layout: string }> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  // Its spill files in the floor's own folder, which the benchmark removes, not in ./.tmp.
  const instance = await DuckDBInstance.create(":memory:", {
    threads: "1",
    temp_directory: join(work, "duckdb-temporary"),
  });
  const connection = await instance.connect();
  try {
    for (const statement of referenceStatements(songFiles, logFiles)) await connection.run(statement);
    const flat = join(work, "flat");
    await mkdir(flat, { recursive: true });
    const started = performance.now();
    for (const table of Object.keys(TABLE_COLUMNS)) {
      await connection.run(
        `COPY (SELECT ${TABLE_COLUMNS[table]} FROM ref_${table}) TO ${literal(join(flat, `${table}.parquet`))} (FORMAT parquet, COMPRESSION snappy)`,
      );
    }
    const encodeMs = performance.now() - started;
    // The partitioned layout, only to know its folders and files (not timed).
    const layout = join(work, "layout");
    await mkdir(layout, { recursive: true });
    const partitioned: Record<string, string> = {
      songs: "year, artist_id",
      time: "year, month",
      songplays: "year, month",
    };
    for (const [table, by] of Object.entries(partitioned)) {
      await connection.run(
        `COPY (SELECT ${TABLE_COLUMNS[table]} FROM ref_${table}) TO ${literal(join(layout, table))} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (${by}))`,
      );
    }
    return { encodeMs, layout };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The folders and files (with their sizes) under `root`, relative to it. */
function treeOf(root: string): { folders: string[]; files: [string, number][] } {
  const folders: string[] = [];
  const files: [string, number][] = [];
  const walk = (folder: string, relative: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      const name = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        folders.push(name);
        walk(path, name);
      } else files.push([name, statSync(path).size]);
    }
  };
  walk(root, "");
  return { folders, files };
}

/** Creates the tree's folders and files (zeros of each file's size) under a new folder, timed. */
function createTree(tree: { folders: string[]; files: [string, number][] }, root: string): number {
  const zeros = Buffer.alloc(Math.max(0, ...tree.files.map(([, size]) => size)));
  const started = performance.now();
  mkdirSync(root, { recursive: true });
  for (const folder of tree.folders) mkdirSync(join(root, folder));
  for (const [file, size] of tree.files) writeFileSync(join(root, file), zeros.subarray(0, size));
  return performance.now() - started;
}

try {
  const parseMs = parseAll();
  const { encodeMs, layout } = await encodeAll();
  const tree = treeOf(layout);
  const filesMs = createTree(tree, join(work, "created"));
  console.log(
    JSON.stringify({ parseMs, encodeMs, filesMs, folders: tree.folders.length, files: tree.files.length }),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
