/**
 * sluice's Parquet writer, read back by independent readers: DuckDB and @dsnp/parquetjs give back
 * every value written, in order, whatever the row group size, codec and mix of dictionary and
 * PLAIN columns; the statistics are the true minimum, maximum and null count of each row group;
 * dictionaries are written where they pay and nowhere else.
 */
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { writeFile as writeBytes } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import parquet from "@dsnp/parquetjs";
import fc from "fast-check";
import snappy from "snappyjs";
import { type Codec, type ColumnSpec, PAGE_ROWS } from "../src/io/parquet-writer/column.js";
import { compareUtf8, encodeHybrid } from "../src/io/parquet-writer/encodings.js";
import { ParquetFileWriter } from "../src/io/parquet-writer/file.js";
import { snappyCompress } from "../src/io/parquet-writer/snappy.js";
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

/** The part of the footer, as parquetjs parses it, that the page test reads. */
interface FooterOfTest {
  row_groups: {
    columns: { meta_data: { encoding_stats: { page_type: number; encoding: number; count: number }[] } }[];
  }[];
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

/** Each row group's statistics, as DuckDB reads them, are the true minimum, maximum and null count. */
async function assertTrueStatistics(
  path: string,
  expected: readonly Record<string, unknown>[],
  rowGroupSize: number,
): Promise<void> {
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
}

/**
 * The RLE/bit-packing hybrid read as the Parquet format describes it: a varint header whose low
 * bit tells a bit-packed run (groups of 8 values, least significant bit first) from an RLE run (a
 * count and one value in whole bytes).
 */
function decodeHybrid(bytes: Uint8Array, count: number, bitWidth: number): number[] {
  const values: number[] = [];
  let position = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[position++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (values.length < count) {
    const header = varint();
    if (header % 2 === 1) {
      const groups = (header - 1) / 2;
      for (let bit = 0; bit < groups * 8 * bitWidth; bit += bitWidth) {
        let value = 0;
        for (let offset = 0; offset < bitWidth; offset++) {
          const at = bit + offset;
          if ((bytes[position + (at >> 3)]! >> (at & 7)) & 1) value += 2 ** offset;
        }
        values.push(value);
      }
      position += groups * bitWidth;
    } else {
      let value = 0;
      for (let byte = 0; byte < Math.ceil(bitWidth / 8); byte++)
        value += bytes[position++]! * 2 ** (8 * byte);
      for (let run = 0; run < header / 2; run++) values.push(value);
    }
  }
  return values.slice(0, count);
}

describe("the RLE/bit-packing hybrid", () => {
  it("gives back every value, for every bit width from 1 to 32, in runs and literals", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 32 })
          .chain((bitWidth) =>
            fc.tuple(
              fc.constant(bitWidth),
              fc.array(
                fc.tuple(fc.integer({ min: 0, max: 2 ** bitWidth - 1 }), fc.integer({ min: 1, max: 20 })),
                { maxLength: 30 },
              ),
            ),
          ),
        ([bitWidth, runs]) => {
          const values = runs.flatMap(([value, length]) => Array<number>(length).fill(value));
          const encoded = encodeHybrid(Uint32Array.from(values), values.length, bitWidth);
          assert.deepEqual(decodeHybrid(encoded, values.length, bitWidth), values);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("snappy pages", () => {
  it("are what snappyjs's own compress gives, for pages of any size, each its own copy", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            // Repetitive, and larger than the scratch buffer a thread starts with (64 KiB).
            fc
              .tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6_000 }))
              .map(([unit, times]) => Buffer.concat(Array<Buffer>(times).fill(Buffer.from(unit)))),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        (pages) => {
          // Compressed one after the other, as a file's pages are: none may change an earlier one.
          const compressed = pages.map((page) => snappyCompress(page));
          compressed.forEach((bytes, index) => {
            const page = Buffer.from(pages[index]!);
            assert.deepEqual(bytes, snappy.compress(page));
            assert.deepEqual(snappy.uncompress(bytes), page);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

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

            await assertTrueStatistics(path, expected, rowGroupSize);
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

  it("finds repeated values in a dictionary and still keeps -0 apart from 0", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "items.parquet");
      // Few distinct values in every column, so that each is dictionary-encoded and most values
      // are found in it; zeros of both signs in the same double column, 0 first.
      const rows: Item[] = Array.from({ length: 3000 }, (_, index) => ({
        id: index % 5,
        name: ["a", "é", "b"][index % 3]!,
        score: [0, -0, 2.5, -0][index % 4]!,
        at: 1541000000000 + (index % 7),
        flag: index % 2 === 0,
        small: (index % 3) - 1,
        group: ["paid", null][index % 2]!,
      }));
      await writeFile(path, rows, "SNAPPY", 65_536);
      const expected = rows.map(normalize);
      for (const [reader, read] of [
        ["DuckDB", readWithDuckdb],
        ["parquetjs", readWithParquetjs],
      ] as const) {
        const back = await read(path);
        assert.deepEqual(back, expected, reader);
        assert.ok(
          back.every((row, index) => Object.is(row.score, rows[index]!.score)),
          `${reader}: a zero's sign`,
        );
      }
    });
  });

  it("writes a chunk of many pages whose dictionary fills up mid-way: dictionary pages, then PLAIN ones", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "items.parquet");
      // A first page of 1,000 names repeated (dictionary pays), then 40,000 distinct long names:
      // past 1 MiB of them the dictionary stops growing and the pages after it are PLAIN.
      const rows: Item[] = Array.from({ length: PAGE_ROWS + 40_000 }, (_, index) => ({
        id: index,
        name:
          index < PAGE_ROWS ? `repeated ${index % 1000}` : `distinct ${index} ${"x".repeat(50)} ${index % 7}`,
        score: index % 3 === 0 ? null : index,
        at: 1541000000000 + index,
        flag: null,
        small: index % 5,
        group: index % 11 === 0 ? null : `g${index % 4}`,
      }));
      await writeFile(path, rows, "SNAPPY", 65_536);
      const [name] = await query(
        `SELECT encodings FROM parquet_metadata(${literal(path)}) WHERE path_in_schema = 'name'`,
      );
      assert.match(String(name!.encodings), /RLE_DICTIONARY/);
      // The pages, as the footer counts them: the dictionary page, dictionary-encoded data pages
      // (the first page, and the next up to the full dictionary), then PLAIN ones.
      const reader = await parquet.ParquetReader.openFile(path);
      const chunk = (reader.metadata as unknown as FooterOfTest).row_groups[0]!.columns[1]!.meta_data;
      await reader.close();
      const pages = Object.fromEntries(
        chunk.encoding_stats.map((stats) => [`${stats.page_type}/${stats.encoding}`, stats.count]),
      );
      assert.equal(pages["2/0"], 1, "one dictionary page");
      assert.ok(pages["0/8"]! >= 2, "data pages encoded with the dictionary");
      assert.ok(pages["0/0"]! >= 1, "PLAIN data pages after the dictionary filled up");
      // Every page full but the one the full dictionary cut short and the last.
      assert.ok(pages["0/8"]! + pages["0/0"]! <= Math.ceil(rows.length / PAGE_ROWS) + 1);
      const expected = rows.map(normalize);
      assert.deepEqual(await readWithDuckdb(path), expected, "DuckDB");
      assert.deepEqual(await readWithParquetjs(path), expected, "parquetjs");
      // The smallest names come in dictionary pages after the first, the PLAIN pages after those.
      await assertTrueStatistics(path, expected, 65_536);
    });
  });

  it("hands its stream one write per row group, the last with the footer unless it was full", async () => {
    await withTempDir(async (folder) => {
      const rows = fc.sample(itemArbitrary, { numRuns: 100, seed: 7 });
      for (const [count, rowGroupSize, writes] of [
        [1, 65_536, 1],
        [100, 30, 4],
        // A row group is written once it is full: the footer then goes alone.
        [90, 30, 4],
      ] as const) {
        const chunks: Buffer[] = [];
        const stream = new Writable({
          write(chunk: Buffer, _encoding, done) {
            chunks.push(chunk);
            done();
          },
        });
        const writer = new ParquetFileWriter(stream, columns, { rowGroupSize });
        for (let start = 0; start < count; start += 7)
          await writer.appendRows(rows.slice(start, Math.min(start + 7, count)));
        await writer.close();
        assert.equal(chunks.length, writes, `${count} rows in groups of ${rowGroupSize}`);
        const path = join(folder, `${count}-${rowGroupSize}.parquet`);
        await writeBytes(path, Buffer.concat(chunks));
        assert.deepEqual(await readWithDuckdb(path), rows.slice(0, count).map(normalize));
      }
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
        // Equal, as a dictionary's key, to a value the column holds already, but of another type.
        [{ ...good, id: "1" }, /column 'id' \(int64\) cannot hold "1"/],
        [{ ...good, small: 1n }, /column 'small' \(int32\) cannot hold 1/],
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
