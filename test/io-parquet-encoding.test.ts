/**
 * sluice's Parquet writer, read back by independent readers: DuckDB and @dsnp/parquetjs give back
 * every value written, in order, whatever the row group size, codec and mix of dictionary and
 * PLAIN columns; the statistics are the true minimum, maximum and null count of each row group;
 * dictionaries are written where they pay and nowhere else.
 */
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import parquet from "@dsnp/parquetjs";
import fc from "fast-check";
import type { Codec, ColumnSpec } from "../src/io/parquet-writer/column.js";
import { compareUtf8 } from "../src/io/parquet-writer/encodings.js";
import { ParquetFileWriter } from "../src/io/parquet-writer/file.js";
import { type Item, itemArbitrary, itemSchema } from "./fixtures/lake-pipelines.js";
import { literal, query } from "./support/duckdb.js";
import { withTempDir } from "./support/temp.js";

const columns: ColumnSpec[] = Object.entries(itemSchema.columns).map(([name, column]) => ({
  name,
  type: column.type,
  optional: column.isOptional,
}));

/** Items with ids over every safe integer, names of any valid Unicode, and -0 among the scores. */
const widerItem: fc.Arbitrary<Item> = fc
  .tuple(
    itemArbitrary,
    fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
    fc.option(fc.string({ unit: "binary", maxLength: 8 }), { nil: undefined }),
    fc.boolean(),
  )
  .map(([item, id, name, negativeZero]) => ({
    ...item,
    ...(id !== undefined ? { id } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(negativeZero && item.score !== null ? { score: -0 } : {}),
  }));

async function writeFile(
  path: string,
  rows: readonly Item[],
  codec: Codec,
  rowGroupSize: number,
): Promise<void> {
  const stream = createWriteStream(path);
  const finished = new Promise<void>((resolve, reject) =>
    stream.on("finish", () => resolve()).on("error", reject),
  );
  const writer = new ParquetFileWriter(stream, columns, { codec, rowGroupSize });
  // In pieces of any size, as a task hands rows over.
  for (let start = 0; start < rows.length; start += 37)
    await writer.appendRows(rows.slice(start, start + 37));
  await writer.close();
  await finished;
}

/** The rows as a reader gives them back: absent is null, times as epoch milliseconds. */
function normalize(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name } of columns) {
    let value = row[name] ?? null;
    if (typeof value === "bigint") value = Number(value);
    if (value instanceof Date) value = value.getTime();
    out[name] = value;
  }
  return out;
}

async function readWithParquetjs(path: string): Promise<Record<string, unknown>[]> {
  const reader = await parquet.ParquetReader.openFile(path);
  try {
    const cursor = reader.getCursor();
    const rows: Record<string, unknown>[] = [];
    for (let row = await cursor.next(); row; row = await cursor.next())
      rows.push(normalize(row as Record<string, unknown>));
    return rows;
  } finally {
    await reader.close();
  }
}

async function readWithDuckdb(path: string): Promise<Record<string, unknown>[]> {
  const rows = await query(
    `SELECT id, name, score, epoch_ms("at") AS "at", flag, small, "group" FROM read_parquet(${literal(path)})`,
  );
  return rows.map(normalize);
}

function extremes<T>(values: readonly T[], less: (a: T, b: T) => boolean): [T, T] | undefined {
  if (values.length === 0) return undefined;
  let min = values[0] as T;
  let max = values[0] as T;
  for (const value of values) {
    if (less(value, min)) min = value;
    if (less(max, value)) max = value;
  }
  return [min, max];
}

describe("sluice's Parquet writer", () => {
  it("gives back every value to DuckDB and parquetjs, with each row group's true statistics", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "items.parquet");
      await fc.assert(
        fc.asyncProperty(
          fc.array(widerItem, { maxLength: 300 }),
          fc.integer({ min: 1, max: 120 }),
          fc.constantFrom<Codec>("SNAPPY", "GZIP", "UNCOMPRESSED"),
          async (rows, rowGroupSize, codec) => {
            await writeFile(path, rows, codec, rowGroupSize);
            const expected = rows.map(normalize);
            assert.deepEqual(await readWithDuckdb(path), expected, "DuckDB");
            assert.deepEqual(await readWithParquetjs(path), expected, "parquetjs");

            const statistics = await query(
              `SELECT row_group_id, path_in_schema AS name, stats_min_value AS min, stats_max_value AS max, stats_null_count AS nulls
               FROM parquet_metadata(${literal(path)}) ORDER BY row_group_id, column_id`,
            );
            for (const stat of statistics) {
              const group = expected.slice(
                Number(stat.row_group_id) * rowGroupSize,
                (Number(stat.row_group_id) + 1) * rowGroupSize,
              );
              const name = String(stat.name);
              const present = group.map((row) => row[name]).filter((value) => value !== null);
              assert.equal(Number(stat.nulls), group.length - present.length, `${name} null count`);
              if (name === "name" || name === "group") {
                const range = extremes(present as string[], (a, b) => compareUtf8(a, b) < 0);
                assert.deepEqual([stat.min, stat.max], range ?? [null, null], `${name} range`);
              } else if (name === "id" || name === "small" || name === "score") {
                // Zeros compare equal whatever their sign (Parquet writes a zero minimum as -0).
                const zeroless = (value: number) => (value === 0 ? 0 : value);
                const range = extremes(present as number[], (a, b) => a < b);
                assert.deepEqual(
                  [stat.min, stat.max].map((value) => (value === null ? null : zeroless(Number(value)))),
                  range?.map(zeroless) ?? [null, null],
                  `${name} range`,
                );
              }
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  });

  it("dictionary-encodes columns of few distinct values, writes unique ones PLAIN, and names itself", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "items.parquet");
      const rows: Item[] = Array.from({ length: 5000 }, (_, index) => ({
        id: index * 7919,
        name: `name ${index}`,
        score: index / 3,
        at: 1541000000000 + index,
        flag: index % 2 === 0,
        small: index % 4,
        group: ["paid", "free", null][index % 3]!,
      }));
      await writeFile(path, rows, "SNAPPY", 65_536);
      const encodings = Object.fromEntries(
        (await query(`SELECT path_in_schema AS name, encodings FROM parquet_metadata(${literal(path)})`)).map(
          (row) => [row.name, String(row.encodings)],
        ),
      );
      for (const name of ["group", "small"]) assert.match(encodings[name]!, /RLE_DICTIONARY/, name);
      for (const name of ["id", "name", "at"]) assert.doesNotMatch(encodings[name]!, /DICTIONARY/, name);
      const [file] = await query(`SELECT created_by FROM parquet_file_metadata(${literal(path)})`);
      assert.match(String(file!.created_by), /^sluice version \d+\.\d+\.\d+( \(build [0-9a-f]{7,40}\))?$/);
      assert.deepEqual(await readWithDuckdb(path), rows.map(normalize));
    });
  });

  it("refuses a value its column cannot hold, naming both, and then refuses to go on", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "bad.parquet");
      const stream = createWriteStream(path);
      const writer = new ParquetFileWriter(stream, columns);
      const good: Item = { id: 1, name: "a", score: 1, at: 0, flag: true, small: 1, group: null };
      await writer.appendRows([good]);
      for (const [bad, message] of [
        [{ ...good, small: 2 ** 40 }, /column 'small' \(int32\) cannot hold 1099511627776/],
        [{ ...good, name: "\ud800" }, /column 'name' \(utf8\) cannot hold .*lone surrogate/],
        [{ ...good, id: 2 ** 60 }, /column 'id' \(int64\) cannot hold/],
        [{ ...good, at: null }, /column 'at' is required and the value is null/],
      ] as const) {
        const fresh = new ParquetFileWriter(createWriteStream(join(folder, "x.parquet")), columns);
        await assert.rejects(fresh.appendRows([good, bad as unknown as Item]), message);
        await assert.rejects(fresh.close(), /an earlier append failed/);
      }
      stream.destroy();
    });
  });
});
