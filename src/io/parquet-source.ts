import { fileFailure, messageOf, SluiceError } from "../core/errors.js";
import { knownOptions } from "../core/option-checks.js";
import type {
  ColumnType,
  Infer,
  JsonValue,
  Schema,
  Source,
  SourceBatch,
  SourceReadContext,
} from "../core/index.js";
import { damagedBookkeeping } from "./bookkeeping.js";
import { listBookkeeping } from "./inventory.js";
import { partitionValues } from "./hive.js";
import { parseLocation } from "./location.js";
import { addReadCodecs, READABLE_CODECS } from "./parquet-codecs.js";
import { addReadEncodings, READABLE_ENCODINGS } from "./parquet-read-encodings.js";
import { foreignValues, logicalTypeNames, READER_OPTIONS } from "./parquet-values.js";
import { describeS3Error, type S3Settings, s3Client } from "./s3.js";
import { isLiteralInput, listFiles } from "./storage.js";
import { readsOnlyWhatItHolds } from "../core/module-state.js";

/** JSON text of a row that may hold bigints. */
function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

export interface ParquetDatasetOptions {
  /**
   * What the files must hold. Each file's columns are checked against it before a row is read: a
   * declared column of another type fails the run naming the file and the column; a declared
   * optional column the file lacks reads as null (a required one fails); columns the schema does
   * not declare are left out. Each row then passes the schema like any record (a null in a
   * required column is rejected with the reason). Partition values (folder names) are converted
   * to the declared types.
   */
  readonly schema?: Schema;
  readonly s3?: S3Settings;
  /**
   * INT64 values (and timestamps) as JavaScript numbers (`"number"`, the default: a value past
   * 2^53, which a number cannot hold exactly, fails the run naming the column) or as `bigint`.
   */
  readonly int64?: "number" | "bigint";
  /**
   * The files to read, as the caller listed them (paths relative to the dataset's folder, which
   * name the partitions), instead of every file under `uri`.
   */
  readonly files?: readonly { readonly uri: string; readonly relativePath: string }[];
  /**
   * The rows are the pipeline's own (a compaction reads back what it wrote), not input: they are
   * not counted as records read, so neither in the base of a percentage reject limit, and one that
   * does not fit the schema fails the run instead of being set aside (bookkeeping.ts). Listed
   * from a table whose commit kept an inventory, the files must be as it left them (inventory.ts).
   */
  readonly bookkeeping?: boolean;
}

const PARQUET_DATASET_OPTIONS: Record<keyof ParquetDatasetOptions, true> = {
  schema: true,
  s3: true,
  int64: true,
  files: true,
  bookkeeping: true,
};

/** The Parquet types a declared column may be read from. */
const READABLE_AS: Record<ColumnType, (primitive: string, original: string | undefined) => boolean> = {
  utf8: (primitive, original) =>
    primitive === "BYTE_ARRAY" && (original === undefined || original === "UTF8"),
  // Unsigned integers where the signed type holds every value: UINT_32 only as int64.
  int32: (primitive, original) =>
    primitive === "INT32" && (original === undefined || /^(U?INT_(8|16)|INT_32)$/.test(original)),
  int64: (primitive, original) =>
    (primitive === "INT64" && (original === undefined || original === "INT_64")) ||
    (primitive === "INT32" && (original === undefined || /^(U?INT_(8|16|32))$/.test(original))),
  double: (primitive, original) =>
    ((primitive === "DOUBLE" || primitive === "FLOAT") && original === undefined) ||
    original === "DECIMAL" ||
    original === "FLOAT16",
  boolean: (primitive) => primitive === "BOOLEAN",
  // INT96: Spark's timestamps; TIMESTAMP_MICROS: pyarrow's and DuckDB's (read to the millisecond).
  timestampMillis: (primitive, original) =>
    (primitive === "INT64" &&
      (original === "TIMESTAMP_MILLIS" || original === "TIMESTAMP_MICROS" || original === "TIMESTAMP")) ||
    primitive === "INT96",
};

type FileSplit = [uri: string, relativePath: string];

/** A value as sluice gives it: numbers for INT64 where asked (an error past 2^53), times as epoch ms. */
function fromParquet(value: unknown, int64: "number" | "bigint", where: () => string): unknown {
  if (typeof value === "bigint") {
    if (int64 === "bigint") return value;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
      throw new Error(
        `${where()}: ${value} is past what a JavaScript number holds exactly (2^53); read with int64: "bigint"`,
      );
    return Number(value);
  }
  if (value instanceof Date) return int64 === "bigint" ? BigInt(value.getTime()) : value.getTime();
  return value;
}

/** Fails naming the file and column where a file's columns do not fit the declared schema. */
function checkFileSchema(
  uri: string,
  fields: Record<string, { primitiveType?: string; originalType?: string }>,
  schema: Schema,
  partitionColumns: ReadonlySet<string>,
  /** Columns only a logical type tells (parquet-values.ts's logicalTypeNames). */
  logicalTypes: ReadonlyMap<string, string>,
): void {
  for (const [name, column] of Object.entries(schema.columns)) {
    if (partitionColumns.has(name)) continue;
    const field = fields[name];
    if (!field) {
      if (!column.isOptional) throw new Error(`${uri} has no column '${name}', which the schema requires`);
      continue;
    }
    const primitive = field.primitiveType ?? "group";
    const original = field.originalType ?? logicalTypes.get(name);
    if (!READABLE_AS[column.type](primitive, original)) {
      const stored = original ? `${original} (${primitive})` : primitive;
      throw new Error(
        `${uri}: column '${name}' is ${stored} in the file, and the schema declares ${column.type}`,
      );
    }
  }
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
  ) {
    if (options.int64 === "bigint" && options.schema)
      throw new Error(
        `parquetDataset(${uri}): int64: "bigint" cannot be combined with a schema, whose int64 columns hold numbers`,
      );
  }

  get description(): string {
    return this.uri;
  }

  get literalInput(): boolean {
    return isLiteralInput(this.uri, this.options.files);
  }

  async splits(): Promise<JsonValue[]> {
    const list = this.options.bookkeeping ? listBookkeeping : listFiles;
    const files = this.options.files ?? (await list(this.uri, this.options.s3));
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
    // Loaded with the first file: importing parquetjs costs every worker that imports sluice/io.
    const parquet = await parquetjsWithCodecs();
    let reader: Awaited<ReturnType<typeof parquet.ParquetReader.openFile>>;
    if (location.kind === "local") {
      try {
        reader = await parquet.ParquetReader.openFile(location.path, READER_OPTIONS);
      } catch (error) {
        throw unreadableParquet(uri, error);
      }
    } else {
      try {
        reader = await parquet.ParquetReader.openS3(
          await s3Client(this.options.s3),
          { Bucket: location.bucket, Key: location.key },
          READER_OPTIONS,
        );
      } catch (error) {
        throw new Error(describeS3Error(error, location.bucket, location.key));
      }
    }
    const schema = this.options.schema;
    const int64 = this.options.int64 ?? "number";
    try {
      if (schema) {
        const fields = reader.schema.fields as Record<
          string,
          { primitiveType?: string; originalType?: string }
        >;
        checkFileSchema(
          uri,
          fields,
          schema,
          new Set(Object.keys(partition)),
          logicalTypeNames(
            (reader.metadata?.schema ?? []) as unknown as Parameters<typeof logicalTypeNames>[0],
          ),
        );
      }
      const recordOf = foreignValues(
        (reader.metadata?.schema ?? []) as unknown as Parameters<typeof foreignValues>[0],
        reader.schema.fields as unknown as Parameters<typeof foreignValues>[1],
        (value, column) => fromParquet(value, int64, () => `${uri} row ${rowNumber} column '${column}'`),
        schema ? new Set(Object.keys(schema.columns)) : undefined,
      );
      const cursor = reader.getCursor();
      let records: T[] = [];
      let rowNumber = 0;
      // Only the cursor's own failures are described here: the reject limit's and the
      // bookkeeping's errors below pass through as they are.
      const nextRow = async (): Promise<unknown> => {
        try {
          return await cursor.next();
        } catch (error) {
          if (location.kind === "s3" && (error as { $metadata?: unknown }).$metadata !== undefined)
            throw new Error(describeS3Error(error, location.bucket, location.key));
          throw damagedParquet(uri, rowNumber, error);
        }
      };
      for (let row = await nextRow(); row; row = await nextRow()) {
        rowNumber++;
        const record = recordOf(
          row as Record<string, unknown>,
          (column) => `${uri} row ${rowNumber} column '${column}'`,
        );
        const whole = { ...record, ...partition };
        if (schema) {
          const parsed = schema.parse(whole);
          if ("problem" in parsed) {
            if (this.options.bookkeeping) throw damagedBookkeeping(`${uri} row ${rowNumber}`, parsed.problem);
            context.addRecordsSeen(1);
            context.reject({
              text: JSON.stringify(whole, bigintAsText),
              source: uri,
              row: rowNumber,
              reason: parsed.problem,
            });
            continue;
          }
          records.push(parsed.record as T);
        } else {
          records.push(whole as T);
        }
        if (records.length >= context.batchSize) {
          if (!this.options.bookkeeping) context.addRecordsSeen(records.length);
          yield { records };
          records = [];
        }
      }
      if (records.length > 0) {
        if (!this.options.bookkeeping) context.addRecordsSeen(records.length);
        yield { records };
      }
    } finally {
      await reader.close();
    }
  }

  /**
   * Partition values typed by the schema. A folder name that is no value of its column's type
   * (`year=abc` for an int32) is kept as its text, so that the schema rejects each row naming it,
   * rather than as NaN, which it would describe as null, or as false for a boolean.
   */
  private typedPartitionValues(relativePath: string): Record<string, unknown> {
    const texts = partitionValues(relativePath);
    const values: Record<string, unknown> = { ...texts };
    const columns = this.options.schema?.columns ?? {};
    for (const [name, text] of Object.entries(texts)) {
      const type = columns[name]?.type;
      if (text === null) continue;
      if (type === "int32" || type === "int64" || type === "double" || type === "timestampMillis") {
        const number = Number(text);
        if (text.trim() !== "" && Number.isFinite(number)) values[name] = number;
      } else if (type === "boolean" && (text === "true" || text === "false")) {
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
  knownOptions(options, PARQUET_DATASET_OPTIONS, "parquetDataset");
  return new ParquetDatasetSource(uri, options);
}

/**
 * A file whose footer reads but whose pages do not: parquetjs names neither the file nor where
 * ("Invalid Snappy bitstream"), and a task reads several files.
 */
function damagedParquet(uri: string, rowsRead: number, error: unknown): SluiceError {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== undefined)
    return fileFailure("read", uri, error);
  // parquetjs's words for a codec or an encoding it has no entry for: the file is whole, and
  // written in a way that is not read here.
  const codec = /^invalid compression method: (\w+)$/.exec(messageOf(error))?.[1];
  if (codec !== undefined)
    return new SluiceError(
      `${uri} is compressed with ${codec}, which sluice does not read (it reads ${READABLE_CODECS.join(", ")}): write it with one of those`,
    );
  const encoding = /^invalid encoding: (\w+)$/.exec(messageOf(error))?.[1];
  if (encoding !== undefined)
    return new SluiceError(
      `${uri} holds pages in the ${encoding} encoding, which sluice does not read (it reads PLAIN, RLE, dictionaries, ${READABLE_ENCODINGS.join(", ").replace(/, (?=[^,]*$)/, " and ")}): write it with those`,
    );
  return new SluiceError(
    `${uri} is damaged: its rows from row ${(rowsRead + 1).toLocaleString("en-US")} on cannot be read (${messageOf(error)}); its footer reads, so it was not cut short: restore the file or write it again`,
  );
}

/**
 * parquetjs, with the codecs and encodings it lacks for reading added (parquet-codecs.ts,
 * parquet-read-encodings.ts).
 */
function parquetjsWithCodecs(): Promise<typeof import("@dsnp/parquetjs").default> {
  // Once per thread: every file a task reads asks for it.
  parquetjsLoaded ??= loadParquetjs();
  return parquetjsLoaded;
}

let parquetjsLoaded: Promise<typeof import("@dsnp/parquetjs").default> | undefined;

async function loadParquetjs(): Promise<typeof import("@dsnp/parquetjs").default> {
  const [parquet, compression, encodings] = await Promise.all([
    import("@dsnp/parquetjs"),
    import("@dsnp/parquetjs/dist/lib/compression.js"),
    import("@dsnp/parquetjs/dist/lib/codec/index.js"),
  ]);
  addReadCodecs(compression.PARQUET_COMPRESSION_METHODS as Parameters<typeof addReadCodecs>[0]);
  // The module's exports object is the table parquetjs's reader looks encodings up in.
  addReadEncodings((encodings as { default?: object }).default as Record<string, unknown>);
  return parquet.default;
}

/**
 * A local file parquetjs cannot open: a file-system error as such, anything else as a file that
 * holds no readable Parquet. parquetjs says "not a valid parquet file" without naming it, and a
 * task reads several files.
 */
function unreadableParquet(uri: string, error: unknown): SluiceError {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== undefined)
    return fileFailure("read", uri, error);
  return new SluiceError(
    `${uri} holds no Parquet that can be read (${messageOf(error)}): a file cut short, or another format named .parquet`,
  );
}

readsOnlyWhatItHolds(ParquetDatasetSource);
