/**
 * sluice's two shortcuts into @dsnp/parquetjs, column-wise row appends and its own Thrift
 * serializer, must write exactly the bytes parquetjs alone writes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Writable } from "node:stream";
import parquet from "@dsnp/parquetjs";
import fc from "fast-check";
import { appendRows } from "../src/io/parquet-rows.js";
import { toParquetSchema } from "../src/io/parquet-schema.js";
import { useFastThrift } from "../src/io/parquet-thrift.js";
import { itemArbitrary, itemSchema } from "./fixtures/lake-pipelines.js";

/** Writes rows to an in-memory Parquet file, row by row or column-wise. */
async function parquetBytes(
  rows: Record<string, unknown>[],
  options: { columnWise: boolean; fastThrift: boolean; rowGroupSize: number },
): Promise<Buffer> {
  useFastThrift(options.fastThrift);
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
    if (options.columnWise) await appendRows(writer, rows);
    else for (const row of rows) await writer.appendRow(row);
    await writer.close();
    return Buffer.concat(chunks);
  } finally {
    useFastThrift(true);
  }
}

describe("Parquet encoding shortcuts", () => {
  it("column-wise appends and sluice's Thrift serializer write the same bytes as parquetjs alone", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(itemArbitrary, { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 120 }),
        async (rows, rowGroupSize) => {
          const reference = await parquetBytes(rows, { columnWise: false, fastThrift: false, rowGroupSize });
          const fastThrift = await parquetBytes(rows, { columnWise: false, fastThrift: true, rowGroupSize });
          assert.ok(fastThrift.equals(reference), "the Thrift serializer changed the bytes");
          const both = await parquetBytes(rows, { columnWise: true, fastThrift: true, rowGroupSize });
          assert.ok(both.equals(reference), "column-wise appends changed the bytes");
        },
      ),
      { numRuns: 60 },
    );
  });
});
