/** The I/O benchmark's pipelines (a module, so that pool workers can import them). */
import { column, count, definePipeline, schema } from "../src/index.js";
import { jsonDocuments, jsonLines, Lake, type S3Settings } from "../src/io/index.js";
import { songsSchema } from "../src/pipelines/sparkify-schemas.js";

export const rowSchema = schema({
  songplay_id: column.int64(),
  start_time: column.timestampMillis(),
  user_id: column.utf8(),
  level: column.utf8().optional(),
  song_id: column.utf8().optional(),
  session_id: column.int64().optional(),
  location: column.utf8().optional(),
  user_agent: column.utf8().optional(),
});

/** A songplay-like row, the same for the same index in every variant. */
export function rowAt(index: number) {
  return {
    songplay_id: index * 2048,
    start_time: 1_541_000_000_000 + index * 1000,
    user_id: String(index % 997),
    level: index % 3 === 0 ? "paid" : "free",
    song_id: index % 5 === 0 ? `SO${(index * 7919).toString(36).toUpperCase().padStart(16, "0")}` : null,
    session_id: index % 1201,
    location: index % 7 === 0 ? null : "San Francisco-Oakland-Hayward, CA",
    user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko)",
  };
}

/**
 * The songs table (its schema is the ETL's): one or two rows per (year, artist_id) partition, so
 * that writing it is making thousands of small files (17,000 partitions for 20,000 rows).
 */
export const songRowSchema = songsSchema;
export const SONG_PARTITIONS = 17_000;

export function songRowAt(index: number) {
  return {
    song_id: `SO${(index * 7919).toString(36).toUpperCase().padStart(16, "A")}`,
    title: index % 11 === 0 ? null : `A title ${index}`,
    artist_id: `AR${(index % SONG_PARTITIONS).toString(36).toUpperCase().padStart(16, "B")}`,
    year: index % 5 === 0 ? 0 : 1960 + (index % 50),
    duration: 100 + index / 7,
  };
}

export type IoWorkload = "parse" | "parquet" | "parquet-partitioned" | "s3-get";

export interface IoOptions {
  readonly workload: IoWorkload;
  readonly uri: string;
  readonly rows?: number;
  readonly s3?: S3Settings;
}

export const ioWorkloads = definePipeline(
  { module: import.meta.url, name: "io-workloads" },
  (p, options: IoOptions) => {
    switch (options.workload) {
      case "parse":
        return {
          count: p
            .read(jsonLines(options.uri, { splitBytes: 16 * 1024 * 1024 }))
            .map(() => [0, null] as const)
            .combinePerKey(count())
            .collect(),
        };
      case "parquet": {
        const lake = new Lake(options.uri, { mode: "overwrite" });
        p.generate(options.rows ?? 0, rowAt, { splits: 4 }).write(lake.parquet("rows", rowSchema));
        return { count: p.fromArray([[0, options.rows ?? 0] as const]).collect() };
      }
      case "parquet-partitioned": {
        const lake = new Lake(options.uri, { mode: "overwrite" });
        p.generate(options.rows ?? 0, songRowAt, { splits: 4 }).write(
          lake.parquet("songs", songRowSchema, { partitionBy: ["year", "artist_id"] }),
        );
        return { count: p.fromArray([[0, options.rows ?? 0] as const]).collect() };
      }
      case "s3-get":
        return {
          count: p
            .read(jsonDocuments(options.uri, { s3: options.s3 ?? {}, filesPerSplit: 1000 }))
            .map(() => [0, null] as const)
            .combinePerKey(count())
            .collect(),
        };
    }
  },
);
