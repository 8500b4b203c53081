/**
 * sluice's shortcuts into @dsnp/parquetjs (column-wise row appends, its own Thrift serializer,
 * its own PLAIN encoder of strings and 64-bit integers) must write exactly the bytes parquetjs
 * alone writes; without distinct counts (sluice's default), exactly what parquetjs's own statistics
 * logic writes with that one field left out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import parquet from "@dsnp/parquetjs";
import fc from "fast-check";
import { appendRows } from "../src/io/parquet-rows.js";
import { toParquetSchema } from "../src/io/parquet-schema.js";
import { useFastPlainEncoding } from "../src/io/parquet-plain.js";
import { useDistinctCounts, useFastThrift } from "../src/io/parquet-thrift.js";
import { type Item, itemArbitrary, itemSchema } from "./fixtures/lake-pipelines.js";
import { anyUtf16String } from "./support/arbitraries.js";
import { literal, query } from "./support/duckdb.js";
import { withTempDir } from "./support/temp.js";

interface Shortcuts {
  readonly columnWise: boolean;
  readonly fastThrift: boolean;
  readonly fastPlain: boolean;
  /** Whether sluice's serializer writes distinct counts (parquetjs's own always does). */
  readonly distinctCounts: boolean;
}

/** Items whose ids span every safe integer and whose names hold any UTF-16, lone surrogates too. */
const widerItemArbitrary: fc.Arbitrary<Item> = fc
  .tuple(
    itemArbitrary,
    fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
    fc.option(anyUtf16String(8), { nil: undefined }),
  )
  .map(([item, id, name]) => ({ ...item, ...(id !== undefined ? { id } : {}), ...(name ? { name } : {}) }));

type ParquetWriter = InstanceType<typeof parquet.ParquetWriter>;

/** Writes rows to an in-memory Parquet file, row by row or column-wise. */
function parquetBytes(
  rows: Record<string, unknown>[],
  options: Shortcuts & { rowGroupSize: number },
): Promise<Buffer> {
  return parquetFile(options, async (writer) => {
    if (options.columnWise) await appendRows(writer, rows);
    else for (const row of rows) await writer.appendRow(row);
  });
}

/** An in-memory Parquet file of the items `fill` appends to its writer. */
async function parquetFile(
  options: Shortcuts & { rowGroupSize: number },
  fill: (writer: ParquetWriter) => Promise<void>,
): Promise<Buffer> {
  useFastThrift(options.fastThrift);
  useFastPlainEncoding(options.fastPlain);
  useDistinctCounts(options.distinctCounts);
  try {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    });
    const writer = await parquet.ParquetWriter.openStream(
      toParquetSchema(itemSchema),
      sink as unknown as Parameters<typeof parquet.ParquetWriter.openStream>[1],
      { rowGroupSize: options.rowGroupSize, useDataPageV2: false },
    );
    await fill(writer);
    await writer.close();
    return Buffer.concat(chunks);
  } finally {
    useFastThrift(true);
    useFastPlainEncoding(true);
    useDistinctCounts(false);
  }
}

describe("Parquet encoding shortcuts", () => {
  it("each shortcut, alone and together, writes the same bytes as parquetjs alone", async () => {
    const combinations: [string, Shortcuts][] = [
      [
        "the Thrift serializer",
        { columnWise: false, fastThrift: true, fastPlain: false, distinctCounts: true },
      ],
      ["the PLAIN encoder", { columnWise: false, fastThrift: false, fastPlain: true, distinctCounts: true }],
      [
        "column-wise appends",
        { columnWise: true, fastThrift: false, fastPlain: false, distinctCounts: true },
      ],
      ["all three", { columnWise: true, fastThrift: true, fastPlain: true, distinctCounts: true }],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(widerItemArbitrary, { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 120 }),
        async (rows, rowGroupSize) => {
          const reference = await parquetBytes(rows, {
            columnWise: false,
            fastThrift: false,
            fastPlain: false,
            distinctCounts: true,
            rowGroupSize,
          });
          for (const [name, shortcuts] of combinations) {
            const bytes = await parquetBytes(rows, { ...shortcuts, rowGroupSize });
            assert.ok(bytes.equals(reference), `${name} changed the bytes`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("without distinct counts, column-wise appends keep only each page's range and write what parquetjs's statistics would", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(widerItemArbitrary, { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 120 }),
        async (rows, rowGroupSize) => {
          // Row by row, parquetjs fills its Sets of distinct values and computes every statistic;
          // the serializer leaves the counts out. Column-wise, the buffers hold value ranges.
          const rowByRow = await parquetBytes(rows, {
            columnWise: false,
            fastThrift: true,
            fastPlain: true,
            distinctCounts: false,
            rowGroupSize,
          });
          const columnWise = await parquetBytes(rows, {
            columnWise: true,
            fastThrift: true,
            fastPlain: true,
            distinctCounts: false,
            rowGroupSize,
          });
          assert.ok(columnWise.equals(rowByRow), "value ranges changed the bytes");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("files without distinct counts have the same minimum, maximum and null count, as DuckDB reads them", async () => {
    await withTempDir(async (folder) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(widerItemArbitrary, { minLength: 1, maxLength: 300 }),
          fc.integer({ min: 1, max: 120 }),
          async (rows, rowGroupSize) => {
            const all = { columnWise: true, fastThrift: true, fastPlain: true, rowGroupSize };
            const withCounts = join(folder, "with-counts.parquet");
            const without = join(folder, "without-counts.parquet");
            await writeFile(withCounts, await parquetBytes(rows, { ...all, distinctCounts: true }));
            await writeFile(without, await parquetBytes(rows, { ...all, distinctCounts: false }));
            const statistics = (file: string) =>
              query(
                `SELECT row_group_id, path_in_schema, stats_min, stats_max, stats_null_count, stats_distinct_count
                 FROM parquet_metadata(${literal(file)}) ORDER BY row_group_id, column_id`,
              );
            const counted = await statistics(withCounts);
            const uncounted = await statistics(without);
            assert.ok(counted.every((column) => column.stats_distinct_count !== null));
            assert.ok(uncounted.every((column) => column.stats_distinct_count === null));
            const withoutCount = ({ stats_distinct_count: _, ...rest }: Record<string, unknown>) => rest;
            assert.deepEqual(uncounted.map(withoutCount), counted.map(withoutCount));
          },
        ),
        { numRuns: 15 },
      );
    });
  });

  it("a batch with a bad row leaves the column buffers as they were", async () => {
    const badRow: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
      widerItemArbitrary.map(({ id: _, ...withoutId }) => withoutId),
      widerItemArbitrary.map((item) => ({ ...item, small: 2 ** 40 })),
    );
    // Row groups larger than every file here: no page or row group is written mid-batch.
    const options = { fastThrift: true, fastPlain: true, distinctCounts: false, rowGroupSize: 1000 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(widerItemArbitrary, { maxLength: 40 }),
        fc.array(widerItemArbitrary, { maxLength: 20 }),
        badRow,
        fc.nat(),
        fc.array(widerItemArbitrary, { minLength: 1, maxLength: 40 }),
        async (before, batch, bad, position, after) => {
          const withBad: Record<string, unknown>[] = [...batch];
          withBad.splice(position % (batch.length + 1), 0, bad);
          const bytes = await parquetFile({ ...options, columnWise: true }, async (writer) => {
            await appendRows(writer, before);
            await assert.rejects(appendRows(writer, withBad), /missing required field|invalid value/);
            await appendRows(writer, after);
          });
          const reference = await parquetBytes([...before, ...after], { ...options, columnWise: false });
          assert.ok(bytes.equals(reference), "the failed batch left rows or values behind");
        },
      ),
      { numRuns: 60 },
    );
  });
});
