/**
 * Reading Parquet against a declared schema: the files' columns are checked before a row is read,
 * and INT64 has one rule (a number where exact, an error naming the column where not, or bigint
 * on request).
 */
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import parquet from "@dsnp/parquetjs";
import { column, type SourceReadContext, type RejectedRecord, schema } from "../src/index.js";
import { parquetDataset } from "../src/io/index.js";
import { lz4BlockDecompress } from "../src/io/parquet-codecs.js";
import type { ColumnSpec } from "../src/io/parquet-writer/column.js";
import { ParquetFileWriter } from "../src/io/parquet-writer/file.js";
import { withTempDir } from "./support/temp.js";

async function writeParquet(
  path: string,
  columns: ColumnSpec[],
  rows: Record<string, unknown>[],
): Promise<void> {
  const stream = createWriteStream(path);
  const finished = new Promise<void>((resolve, reject) =>
    stream.on("finish", () => resolve()).on("error", reject),
  );
  const writer = new ParquetFileWriter(stream, columns);
  await writer.appendRows(rows);
  await writer.close();
  await finished;
}

async function readAll(source: ReturnType<typeof parquetDataset>) {
  const rejected: RejectedRecord[] = [];
  const context: SourceReadContext = {
    batchSize: 100,
    reject: (record) => rejected.push(record),
    addBytesRead: () => undefined,
    addRecordsSeen: () => undefined,
  };
  const records: unknown[] = [];
  for (const split of await source.splits())
    for await (const batch of source.read(split, context)) records.push(...batch.records);
  return { records, rejected };
}

const columns: ColumnSpec[] = [
  { name: "id", type: "int64", optional: false },
  { name: "name", type: "utf8", optional: true },
  { name: "at", type: "timestampMillis", optional: false },
];

describe("reading Parquet against a declared schema", () => {
  it("fails naming the file and column whose type is not the declared one, or a required column it lacks", async () => {
    await withTempDir(async (folder) => {
      await writeParquet(join(folder, "a.parquet"), columns, [{ id: 1, name: "x", at: 5 }]);
      const atAsText = schema({ id: column.int64(), at: column.utf8() });
      await assert.rejects(
        readAll(parquetDataset(folder, { schema: atAsText })),
        /a\.parquet: column 'at' is TIMESTAMP_MILLIS \(INT64\) in the file, and the schema declares utf8/,
      );
      const needsScore = schema({ id: column.int64(), score: column.double() });
      await assert.rejects(
        readAll(parquetDataset(folder, { schema: needsScore })),
        /a\.parquet has no column 'score', which the schema requires/,
      );
    });
  });

  it("names the file that holds no readable Parquet among the files a task reads", async () => {
    await withTempDir(async (folder) => {
      await writeParquet(join(folder, "a.parquet"), columns, [{ id: 1, name: "x", at: 5 }]);
      await writeParquet(join(folder, "b.parquet"), columns, [{ id: 2, name: "y", at: 6 }]);
      // Cut short, as a copy that ran out of disk leaves it.
      await writeFile(join(folder, "b.parquet"), (await readFile(join(folder, "b.parquet"))).subarray(0, 40));
      const source = parquetDataset(folder);
      const { records } = await readAll(parquetDataset(join(folder, "a.parquet")));
      assert.equal(records.length, 1);
      await assert.rejects(
        readAll(source),
        /^SluiceError: .*\/b\.parquet holds no Parquet that can be read \(.*\): a file cut short, or another format named \.parquet$/,
      );
    });
  });

  it("names the file and the row from which a damaged file's pages cannot be read, its footer intact", async () => {
    await withTempDir(async (folder) => {
      await writeParquet(join(folder, "a.parquet"), columns, [{ id: 1, name: "x", at: 5 }]);
      const damaged = join(folder, "b.parquet");
      const stream = createWriteStream(damaged);
      const finished = new Promise<void>((resolve) => stream.on("finish", () => resolve()));
      const writer = new ParquetFileWriter(stream, columns, { rowGroupSize: 1000 });
      await writer.appendRows(
        Array.from({ length: 3000 }, (_, id) => ({ id, name: `name ${id % 97}`, at: id })),
      );
      await writer.close();
      await finished;
      // The second row group's first page, garbled where a bad disk block or a bad copy leaves it.
      const reader = await parquet.ParquetReader.openFile(damaged);
      const start = Number(reader.metadata!.row_groups[1]!.columns[0]!.meta_data!.data_page_offset);
      await reader.close();
      const bytes = await readFile(damaged);
      for (let index = start + 24; index < start + 64; index++) bytes[index] = bytes[index]! ^ 0x5a;
      await writeFile(damaged, bytes);
      await assert.rejects(
        readAll(parquetDataset(folder)),
        /^SluiceError: .*\/b\.parquet is damaged: its rows from row 1,001 on cannot be read \(.+\); its footer reads, so it was not cut short: restore the file or write it again$/,
      );
    });
  });

  it("reads an absent optional column as null, leaves out undeclared ones, and rejects a null in a required column", async () => {
    await withTempDir(async (folder) => {
      await writeParquet(join(folder, "a.parquet"), columns, [
        { id: 1, name: "x", at: 5 },
        { id: 2, name: null, at: 6 },
      ]);
      const declared = schema({
        id: column.int64(),
        at: column.timestampMillis(),
        score: column.double().optional(),
      });
      const { records } = await readAll(parquetDataset(folder, { schema: declared }));
      assert.deepEqual(records, [
        { id: 1, at: 5, score: null },
        { id: 2, at: 6, score: null },
      ]);
      const nameRequired = schema({ id: column.int64(), name: column.utf8() });
      const { records: named, rejected } = await readAll(parquetDataset(folder, { schema: nameRequired }));
      assert.deepEqual(named, [{ id: 1, name: "x" }]);
      assert.equal(rejected.length, 1);
      assert.match(rejected[0]!.reason, /name/);
      assert.equal(rejected[0]!.row, 2, "the row of the file it was");
      // The same row in a table the pipeline reads back to rewrite (a compaction) fails the run:
      // set aside, it would be lost with the file the rewrite removes.
      await assert.rejects(
        readAll(parquetDataset(folder, { schema: nameRequired, bookkeeping: true })),
        /a\.parquet row 2: 'name' is null, a value is required: the file holds what this pipeline kept from an earlier run, not input/,
      );
    });
  });

  it("rejects the rows of a partition folder that holds no value of its column's type, naming the text", async () => {
    await withTempDir(async (folder) => {
      const partitioned = schema({
        id: column.int64(),
        at: column.timestampMillis(),
        year: column.int32(),
        late: column.boolean(),
      });
      for (const path of ["year=2018/late=true", "year=abc/late=false", "year=2019/late=TRUE"]) {
        await mkdir(join(folder, path), { recursive: true });
        await writeParquet(join(folder, path, "a.parquet"), columns, [{ id: 1, name: "x", at: 5 }]);
      }
      const { records, rejected } = await readAll(parquetDataset(folder, { schema: partitioned }));
      assert.deepEqual(records, [{ id: 1, at: 5, year: 2018, late: true }]);
      assert.deepEqual(rejected.map((record) => [record.row, record.reason]).sort(), [
        [1, `'late' is "TRUE", expected true or false`],
        [1, `'year' is "abc", expected a 32-bit integer`],
      ]);
    });
  });

  it("gives INT64 as numbers where exact and fails naming the column where not, or as bigint on request", async () => {
    await withTempDir(async (folder) => {
      await mkdir(join(folder, "big"));
      await writeParquet(join(folder, "big", "a.parquet"), columns, [
        { id: 7, name: null, at: 1 },
        { id: 2n ** 60n, name: null, at: 2 },
      ]);
      await assert.rejects(
        readAll(parquetDataset(join(folder, "big"))),
        /a\.parquet row 2 column 'id': 1152921504606846976 is past what a JavaScript number holds exactly \(2\^53\); read with int64: "bigint"/,
      );
      const { records } = await readAll(parquetDataset(join(folder, "big"), { int64: "bigint" }));
      assert.deepEqual(
        records.map((row) => (row as { id: bigint }).id),
        [7n, 2n ** 60n],
      );
      assert.throws(
        () => parquetDataset(folder, { int64: "bigint", schema: schema({ id: column.int64() }) }),
        /int64: "bigint" cannot be combined with a schema/,
      );
    });
  });
});

describe("reading Parquet that other engines wrote", () => {
  // Written by pyarrow as Spark writes (fixtures/parquet/make-foreign.py tells what each holds).
  const fixtures = new URL("../../test/fixtures/parquet/", import.meta.url).pathname;

  it("gives INT96 timestamps, decimals, lists, maps and structs as their values", async () => {
    const { records } = await readAll(parquetDataset(join(fixtures, "foreign.parquet")));
    assert.deepEqual(records, [
      {
        id: 1,
        played_at: Date.UTC(2018, 10, 1, 12, 0, 0, 123),
        price_small: 12.34,
        price_large: 123456789012.345,
        price_wide: 19.99,
        tags: ["rock", "pop"],
        plays: [["a", 1]],
        artist: { name: "X", year: 1999 },
      },
      {
        id: 2,
        played_at: null,
        price_small: null,
        price_large: -1,
        price_wide: -0.1,
        tags: [],
        plays: [],
        artist: null,
      },
      {
        id: 3,
        played_at: Date.UTC(1969, 11, 31, 23, 59, 59),
        price_small: -0.05,
        price_large: null,
        price_wide: null,
        tags: null,
        plays: null,
        artist: { name: null, year: 2001 },
      },
    ]);
  });

  it("reads an INT96 timestamp as a timestamp and a decimal as a double against a schema", async () => {
    const declared = schema({
      id: column.int64(),
      played_at: column.timestampMillis().optional(),
      price_small: column.double().optional(),
      price_wide: column.double().optional(),
    });
    const { records, rejected } = await readAll(
      parquetDataset(join(fixtures, "foreign.parquet"), { schema: declared }),
    );
    assert.deepEqual(
      records.map((record) => Object.values(record as object)),
      [
        [1, Date.UTC(2018, 10, 1, 12, 0, 0, 123), 12.34, 19.99],
        [2, null, null, -0.1],
      ],
    );
    // The schema's timestamps start in 1970, as the Parquet writer's do.
    assert.deepEqual(
      rejected.map((record) => [record.row, record.reason]),
      [
        [
          3,
          "'played_at' is -1000, expected epoch milliseconds from 1970 to 275760 (what the Parquet writer holds)",
        ],
      ],
    );
  });

  it("gives unsigned integers as the unsigned values they are, also past the signed range and in lists", async () => {
    const file = join(fixtures, "unsigned.parquet");
    const { records } = await readAll(parquetDataset(file, { int64: "bigint" }));
    assert.deepEqual(records, [
      { u8: 255, u16: 65535, u32: 4294967295, u64: 2n ** 64n - 1n, u32s: [4294967295, 1] },
      { u8: 0, u16: 0, u32: 2147483648, u64: 2n ** 63n, u32s: [] },
      { u8: null, u16: null, u32: null, u64: 5n, u32s: null },
    ]);
    // As numbers, a UINT_64 past 2^53 is named with its own value.
    await assert.rejects(
      readAll(parquetDataset(file)),
      /unsigned\.parquet row 1 column 'u64': 18446744073709551615 is past what a JavaScript number holds exactly/,
    );
    // Against a schema: a signed type that holds every value of the unsigned one reads it.
    const declared = schema({ u16: column.int32().optional(), u32: column.int64().optional() });
    const read = await readAll(parquetDataset(file, { schema: declared }));
    assert.deepEqual(read.records, [
      { u16: 65535, u32: 4294967295 },
      { u16: 0, u32: 2147483648 },
      { u16: null, u32: null },
    ]);
    await assert.rejects(
      readAll(parquetDataset(file, { schema: schema({ u32: column.int32() }) })),
      /unsigned\.parquet: column 'u32' is UINT_32 \(INT32\) in the file, and the schema declares int32/,
    );
  });

  it("gives the types only a logical type tells as their values: nanosecond timestamps, times of day, half floats", async () => {
    const file = join(fixtures, "logical.parquet");
    const { records } = await readAll(parquetDataset(file));
    assert.deepEqual(records, [
      // 2024-01-02T03:04:05.678901234 to its millisecond; 01:02:03.456789 as milliseconds of the day.
      { played_ns: Date.UTC(2024, 0, 2, 3, 4, 5, 678), at_us: 3723456, at_ns: 3723456, ratio: 1.5 },
      // Half a millisecond before 1970 lies in the millisecond before it.
      { played_ns: -1, at_us: 0, at_ns: 0, ratio: -65504 },
      { played_ns: null, at_us: null, at_ns: null, ratio: 2 ** -24 },
    ]);
    const declared = schema({ played_ns: column.timestampMillis().optional(), ratio: column.double() });
    const read = await readAll(parquetDataset(file, { schema: declared }));
    assert.deepEqual(read.records, [
      { played_ns: Date.UTC(2024, 0, 2, 3, 4, 5, 678), ratio: 1.5 },
      { played_ns: null, ratio: 2 ** -24 },
    ]);
    assert.deepEqual(
      read.rejected.map((record) => record.row),
      [2],
    );
    await assert.rejects(
      readAll(parquetDataset(file, { schema: schema({ played_ns: column.int64() }) })),
      /logical\.parquet: column 'played_ns' is TIMESTAMP \(INT64\) in the file, and the schema declares int64/,
    );
  });

  it("reads pages compressed with ZSTD and LZ4_RAW, and names a codec or an encoding it does not read", async () => {
    const expected = Array.from({ length: 2000 }, (_, index) => ({
      n: index,
      text: `${"la".repeat(index % 40)}${"x".repeat(index % 300)}${index * 7919}`,
    }));
    for (const codec of ["zstd", "lz4"]) {
      const { records } = await readAll(parquetDataset(join(fixtures, `${codec}.parquet`)));
      assert.deepEqual(records, expected, codec);
    }
    await assert.rejects(
      readAll(parquetDataset(join(fixtures, "lzo.parquet"))),
      /lzo\.parquet is compressed with LZO, which sluice does not read \(it reads UNCOMPRESSED, SNAPPY, GZIP, BROTLI, ZSTD, LZ4_RAW\): write it with one of those$/,
    );
    // A whole file in an encoding that is not read is not called damaged either.
    await assert.rejects(
      readAll(parquetDataset(join(fixtures, "bit-packed.parquet"))),
      /bit-packed\.parquet holds pages in the BIT_PACKED encoding, which sluice does not read \(it reads PLAIN, RLE, dictionaries, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT\): write it with those/,
    );
  });

  it("reads pages in Parquet's second-version encodings, BYTE_STREAM_SPLIT and RLE booleans as pyarrow does", async () => {
    // What pyarrow reads of the files (make-foreign.py), INT64 as text.
    const expected = (
      JSON.parse(await readFile(join(fixtures, "encodings.json"), "utf8")) as Record<string, unknown>[]
    ).map((row) => ({ ...row, big: BigInt(row.big as string) }));
    // Data pages of the first version and of the second, whose booleans parquetjs read as false.
    for (const file of ["encodings.parquet", "encodings-v2.parquet"]) {
      const { records } = await readAll(parquetDataset(join(fixtures, file), { int64: "bigint" }));
      assert.equal(records.length, expected.length, file);
      assert.deepEqual(records, expected, file);
    }
    // parquetjs's own writer, which encodes levels with the RLE codec the reader's booleans now go
    // through, still writes in this process.
    await withTempDir(async (folder) => {
      const path = join(folder, "written.parquet");
      const writer = await parquet.ParquetWriter.openFile(
        new parquet.ParquetSchema({ flag: { type: "BOOLEAN", optional: true } }),
        path,
      );
      for (const flag of [true, null, false]) await writer.appendRow(flag === null ? {} : { flag });
      await writer.close();
      assert.deepEqual((await readAll(parquetDataset(path))).records, [
        { flag: true },
        { flag: null },
        { flag: false },
      ]);
    });
  });

  it("decodes LZ4 blocks whose matches overlap what they copy, and refuses one that reads past its end", () => {
    const block = (...bytes: (number | string)[]) =>
      Uint8Array.from(bytes.flatMap((byte) => (typeof byte === "string" ? [...Buffer.from(byte)] : [byte])));
    assert.equal(lz4BlockDecompress(block(0x50, "hello")).toString(), "hello");
    // One literal, then a match of 3 + 4 bytes from 1 back: a run of one byte.
    assert.equal(lz4BlockDecompress(block(0x13, "a", 0x01, 0x00, 0x20, "bc")).toString(), "aaaaaaaabc");
    for (const damaged of [
      block(0x10),
      block(0x10, "a", 0x05, 0x00),
      block(0x10, "a", 0x00, 0x00),
      block(0xf0),
    ])
      assert.throws(
        () => lz4BlockDecompress(damaged),
        /an LZ4 block that reads past its end or copies from before its start/,
      );
  });

  it("fails naming the column of a decimal with more digits than a number holds", async () => {
    await assert.rejects(
      readAll(parquetDataset(join(fixtures, "too-precise.parquet"))),
      /too-precise\.parquet row 1 column 'amount': the DECIMAL 1234567890123456789012345678\.90 has more significant digits than a JavaScript number holds exactly \(15\); cast it to a string or a double where the file is written/,
    );
  });
});
