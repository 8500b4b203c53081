/**
 * The lake as analysts read it: every table the Sparkify ETL writes, read file by file with three
 * readers besides sluice (DuckDB, polars, and Arrow's Rust reader compiled to WebAssembly), gives
 * the same rows and the same types: start_time an instant in UTC, ids INT64, date parts INT32.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tableFromIPC } from "apache-arrow";
import pl from "nodejs-polars";
import { readParquet } from "parquet-wasm";
import { listFiles } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { literal, query } from "./support/duckdb.js";
import { withTempDir } from "./support/temp.js";

/** The type each reader must report for a column, by table. */
const EXPECTED_TYPES: Record<string, Record<string, { polars: string; arrow: string }>> = {
  songplays: {
    songplay_id: { polars: "Int64", arrow: "Int64" },
    start_time: { polars: "Datetime(ms,UTC)", arrow: "Timestamp<MILLISECOND, UTC>" },
    session_id: { polars: "Int64", arrow: "Int64" },
    user_id: { polars: "String", arrow: "Utf8" },
  },
  time: {
    start_time: { polars: "Datetime(ms,UTC)", arrow: "Timestamp<MILLISECOND, UTC>" },
    hour: { polars: "Int32", arrow: "Int32" },
    weekday: { polars: "Int32", arrow: "Int32" },
  },
  songs: { song_id: { polars: "String", arrow: "Utf8" }, duration: { polars: "Float64", arrow: "Float64" } },
  users: { user_id: { polars: "String", arrow: "Utf8" }, level: { polars: "String", arrow: "Utf8" } },
  artists: { latitude: { polars: "Float64", arrow: "Float64" } },
};

/** A row as text, with times as epoch milliseconds and integers as numbers, whatever the reader. */
function canonical(row: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(row).sort()) {
    const value = row[name];
    out[name] =
      value instanceof Date ? value.getTime() : typeof value === "bigint" ? Number(value) : (value ?? null);
  }
  return JSON.stringify(out);
}

describe("the lake read by DuckDB, polars and Arrow's Rust reader", () => {
  it("gives every reader the same rows and types, timestamps as UTC instants", async () => {
    await withTempDir(async (folder) => {
      await generateSparkifyInput({
        songs: 150,
        events: 4000,
        output: join(folder, "input"),
        seed: 5,
        matchShare: 0.5,
      });
      const output = join(folder, "lake");
      // Small row groups, so that files hold several, each with its own dictionaries.
      await sparkify({ input: join(folder, "input"), output, rowGroupSize: 700 }, { threads: 2 });
      for (const [table, types] of Object.entries(EXPECTED_TYPES)) {
        const files = (await listFiles(join(output, table))).filter((file) => file.uri.endsWith(".parquet"));
        assert.ok(files.length > 0, table);
        const duckdb: string[] = [];
        const polars: string[] = [];
        const arrow: string[] = [];
        for (const { uri } of files) {
          if (table === "songplays") {
            // Sorted by time within each file, row groups included (their statistics do not overlap).
            const [order] = await query(
              `SELECT count(*) AS out_of_order FROM (SELECT start_time < lag(start_time) OVER (ORDER BY file_row_number) AS back FROM read_parquet(${literal(uri)}, file_row_number = true)) WHERE back`,
            );
            assert.equal(Number(order!.out_of_order), 0, `${uri}: songplays sorted by start_time`);
          }
          for (const row of await query(
            `SELECT * FROM read_parquet(${literal(uri)}, hive_partitioning = false)`,
          ))
            duckdb.push(canonical(row));
          const frame = pl.readParquet(uri);
          const polarsTypes = Object.fromEntries(
            frame.columns.map((name, index) => [
              name,
              String(frame.dtypes[index]).replace(/^DataType\((.*)\)$/, "$1"),
            ]),
          );
          for (const row of frame.toRecords()) polars.push(canonical(row));
          const arrowTable = tableFromIPC(readParquet(new Uint8Array(readFileSync(uri))).intoIPCStream());
          const arrowTypes = Object.fromEntries(
            arrowTable.schema.fields.map((field) => [field.name, String(field.type)]),
          );
          for (const row of arrowTable.toArray())
            arrow.push(canonical(row.toJSON() as Record<string, unknown>));
          for (const [column, expected] of Object.entries(types)) {
            assert.equal(polarsTypes[column], expected.polars, `${table}.${column} in polars`);
            assert.equal(arrowTypes[column], expected.arrow, `${table}.${column} in Arrow`);
          }
        }
        const [described] = await query(
          `SELECT count(*) AS n FROM (DESCRIBE SELECT * FROM read_parquet(${literal(join(output, table, "**/*.parquet"))})) WHERE column_type = 'TIMESTAMP WITH TIME ZONE'`,
        );
        assert.equal(
          Number(described!.n),
          "start_time" in types ? 1 : 0,
          `${table}: start_time is an instant for DuckDB`,
        );
        duckdb.sort();
        assert.ok(duckdb.length > 0, table);
        assert.deepEqual(polars.sort(), duckdb, `${table}: polars`);
        assert.deepEqual(arrow.sort(), duckdb, `${table}: Arrow`);
      }
    });
  });
});
