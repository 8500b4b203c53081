/**
 * The @dsnp/parquetjs schema of a sluice schema: what the benchmark's parquetjs-writer baseline
 * writes with (sluice writes its own files and needs no such schema).
 */
import parquet from "@dsnp/parquetjs";
import type { ColumnType, Schema } from "../src/index.js";
import type { Compression } from "../src/io/index.js";

const PARQUET_TYPES: Record<ColumnType, string> = {
  utf8: "UTF8",
  int32: "INT32",
  int64: "INT64",
  double: "DOUBLE",
  boolean: "BOOLEAN",
  timestampMillis: "TIMESTAMP_MILLIS",
};

const CODECS: Record<Compression, string> = { snappy: "SNAPPY", gzip: "GZIP", none: "UNCOMPRESSED" };

/** The Parquet schema of a sluice schema: one declaration, both sides. */
export function toParquetSchema(
  schema: Schema,
  compression: Compression = "snappy",
): InstanceType<typeof parquet.ParquetSchema> {
  const fields: Record<string, { type: string; optional: boolean; compression: string }> = {};
  for (const [name, column] of Object.entries(schema.columns)) {
    fields[name] = {
      type: PARQUET_TYPES[column.type],
      optional: column.isOptional,
      compression: CODECS[compression],
    };
  }
  return new parquet.ParquetSchema(fields as ConstructorParameters<typeof parquet.ParquetSchema>[0]);
}
