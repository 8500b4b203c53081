/**
 * sluice's shortcuts into @dsnp/parquetjs (column-wise row appends, its own Thrift serializer,
 * its own PLAIN encoder of strings and 64-bit integers) must write exactly the bytes parquetjs
 * alone writes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Writable } from "node:stream";
import parquet from "@dsnp/parquetjs";
import fc from "fast-check";
import { appendRows } from "../src/io/parquet-rows.js";
import { toParquetSchema } from "../src/io/parquet-schema.js";
import { useFastPlainEncoding } from "../src/io/parquet-plain.js";
import { useFastThrift } from "../src/io/parquet-thrift.js";
import { type Item, itemArbitrary, itemSchema } from "./fixtures/lake-pipelines.js";
import { anyUtf16String } from "./support/arbitraries.js";

interface Shortcuts {
  readonly columnWise: boolean;
  readonly fastThrift: boolean;
  readonly fastPlain: boolean;
}

/** Items whose ids span every safe integer and whose names hold any UTF-16, lone surrogates too. */
const widerItemArbitrary: fc.Arbitrary<Item> = fc
  .tuple(
    itemArbitrary,
    fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
    fc.option(anyUtf16String(8), { nil: undefined }),
  )
  .map(([item, id, name]) => ({ ...item, ...(id !== undefined ? { id } : {}), ...(name ? { name } : {}) }));

/** Writes rows to an in-memory Parquet file, row by row or column-wise. */
async function parquetBytes(
  rows: Record<string, unknown>[],
  options: Shortcuts & { rowGroupSize: number },
): Promise<Buffer> {
  useFastThrift(options.fastThrift);
  useFastPlainEncoding(options.fastPlain);
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
    useFastPlainEncoding(true);
  }
}

describe("Parquet encoding shortcuts", () => {
  it("each shortcut, alone and together, writes the same bytes as parquetjs alone", async () => {
    const combinations: [string, Shortcuts][] = [
      ["the Thrift serializer", { columnWise: false, fastThrift: true, fastPlain: false }],
      ["the PLAIN encoder", { columnWise: false, fastThrift: false, fastPlain: true }],
      ["column-wise appends", { columnWise: true, fastThrift: false, fastPlain: false }],
      ["all three", { columnWise: true, fastThrift: true, fastPlain: true }],
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
});
