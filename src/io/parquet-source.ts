import parquet from "@dsnp/parquetjs";
import type { Infer, JsonValue, Schema, Source, SourceBatch, SourceReadContext } from "../core/index.js";
import { partitionValues } from "./hive.js";
import { parseLocation } from "./location.js";
import { describeS3Error, type S3Settings, s3Client } from "./s3.js";
import { listFiles } from "./storage.js";

export interface ParquetDatasetOptions {
  /** Converts partition values (folder names are text) to the schema's types. */
  readonly schema?: Schema;
  readonly s3?: S3Settings;
}

type FileSplit = [uri: string, relativePath: string];

function fromParquet(value: unknown): unknown {
  if (typeof value === "bigint")
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.getTime();
  return value;
}

/**
 * A Parquet dataset (a folder or prefix of `.parquet` files, Hive-partitioned or not) as a source:
 * partition values from the folder names come back as columns, so a later pipeline can start from
 * the tables sluice wrote. Timestamps read as epoch milliseconds, INT64 as numbers.
 */
export class ParquetDatasetSource<T> implements Source<T> {
  constructor(
    readonly uri: string,
    private readonly options: ParquetDatasetOptions = {},
  ) {}

  get description(): string {
    return this.uri;
  }

  async splits(): Promise<JsonValue[]> {
    const files = await listFiles(this.uri, this.options.s3);
    return files
      .filter((file) => file.relativePath.endsWith(".parquet"))
      .map((file) => [file.uri, file.relativePath]);
  }

  describeSplit(split: JsonValue): string {
    return (split as FileSplit)[0];
  }

  async *read(split: JsonValue, context: SourceReadContext): AsyncGenerator<SourceBatch<T>> {
    const [uri, relativePath] = split as FileSplit;
    const partition = this.typedPartitionValues(relativePath);
    const location = parseLocation(uri);
    let reader: Awaited<ReturnType<typeof parquet.ParquetReader.openFile>>;
    if (location.kind === "local") {
      reader = await parquet.ParquetReader.openFile(location.path);
    } else {
      try {
        reader = await parquet.ParquetReader.openS3(s3Client(this.options.s3), {
          Bucket: location.bucket,
          Key: location.key,
        });
      } catch (error) {
        throw new Error(describeS3Error(error, location.bucket, location.key));
      }
    }
    try {
      const cursor = reader.getCursor();
      let records: T[] = [];
      for (let row = await cursor.next(); row; row = await cursor.next()) {
        const record: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(row as Record<string, unknown>))
          record[name] = fromParquet(value);
        records.push({ ...record, ...partition } as T);
        if (records.length >= context.batchSize) {
          context.addRecordsSeen(records.length);
          yield { records };
          records = [];
        }
      }
      if (records.length > 0) {
        context.addRecordsSeen(records.length);
        yield { records };
      }
    } finally {
      await reader.close();
    }
  }

  private typedPartitionValues(relativePath: string): Record<string, unknown> {
    const values: Record<string, unknown> = partitionValues(relativePath);
    const columns = this.options.schema?.columns ?? {};
    for (const [name, text] of Object.entries(values)) {
      const type = columns[name]?.type;
      if (
        text !== null &&
        (type === "int32" || type === "int64" || type === "double" || type === "timestampMillis")
      ) {
        values[name] = Number(text);
      } else if (text !== null && type === "boolean") {
        values[name] = text === "true";
      }
    }
    return values;
  }
}

/** Reads a Parquet dataset: `parquetDataset("s3://bucket/lake/songs", { schema })`. */
export function parquetDataset<S extends Schema>(
  uri: string,
  options: ParquetDatasetOptions & { schema: S },
): ParquetDatasetSource<Infer<S>>;
export function parquetDataset<T = Record<string, unknown>>(
  uri: string,
  options?: ParquetDatasetOptions,
): ParquetDatasetSource<T>;
export function parquetDataset(
  uri: string,
  options: ParquetDatasetOptions = {},
): ParquetDatasetSource<unknown> {
  return new ParquetDatasetSource(uri, options);
}
