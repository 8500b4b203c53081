// One variant of one I/O workload in its own process: node io-variant.js WORKLOAD VARIANT URI [ROWS]
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import parquet from "@dsnp/parquetjs";
import { s3Client } from "../src/io/index.js";
import { toParquetSchema } from "./parquetjs-schema.js";
import { report } from "./harness.js";
import { type IoWorkload, ioWorkloads, rowAt, rowSchema, songRowAt, songRowSchema } from "./io-workloads.js";

const [workload, variant, uri, rowsText] = process.argv.slice(2) as [IoWorkload, string, string, string];
const rows = Number(rowsText ?? 0);
const s3 = { endpoint: process.env.BENCH_S3_ENDPOINT, forcePathStyle: true, region: "us-east-1" };

/** The floor: read, split on newlines, JSON.parse each line, on one thread. */
async function plainParse(file: string): Promise<number> {
  let records = 0;
  let carry = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const lines = (carry + chunk).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) if (line.length > 0 && JSON.parse(line)) records++;
  }
  if (carry.length > 0 && JSON.parse(carry)) records++;
  return records;
}

/** @dsnp/parquetjs used directly: one appendRow per row, one file. */
async function plainParquet(folder: string, count: number): Promise<number> {
  const writer = await parquet.ParquetWriter.openFile(
    toParquetSchema(rowSchema),
    join(folder, "rows.parquet"),
    {
      useDataPageV2: false,
      rowGroupSize: 65_536,
    },
  );
  for (let index = 0; index < count; index++) await writer.appendRow(rowAt(index));
  await writer.close();
  return count;
}

/**
 * @dsnp/parquetjs used directly on the songs table's shape: the rows grouped by partition, then one
 * file per partition in its Hive folder, as a loop a user would write.
 */
async function plainPartitionedParquet(folder: string, count: number): Promise<number> {
  const byPartition = new Map<string, ReturnType<typeof songRowAt>[]>();
  for (let index = 0; index < count; index++) {
    const row = songRowAt(index);
    const partition = `year=${row.year}/artist_id=${row.artist_id}`;
    const rows = byPartition.get(partition);
    if (rows) rows.push(row);
    else byPartition.set(partition, [row]);
  }
  const schema = toParquetSchema(songRowSchema.omit(["year", "artist_id"]));
  for (const [partition, rows] of byPartition) {
    const path = join(folder, "songs", partition);
    await mkdir(path, { recursive: true });
    const writer = await parquet.ParquetWriter.openFile(schema, join(path, "part-0.parquet"), {
      useDataPageV2: false,
    });
    for (const row of rows) await writer.appendRow(row);
    await writer.close();
  }
  return count;
}

/** The AWS SDK used directly: list with pagination, then GET every object, 16 at a time. */
async function plainS3(location: string): Promise<number> {
  const [bucket, ...prefixParts] = location.slice(5).split("/");
  const prefix = prefixParts.join("/").replace(/\*.*$/, "");
  const client = await s3Client(s3);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const entry of page.Contents ?? []) keys.push(entry.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  let next = 0;
  let parsed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        JSON.parse(await response.Body!.transformToString());
        parsed++;
      }
    }),
  );
  return parsed;
}

const started = performance.now();
let records: number;
if (variant === "plain") {
  if (workload === "parse") records = await plainParse(uri);
  else if (workload === "parquet" || workload === "parquet-partitioned") {
    const folder = await mkdtemp(join(tmpdir(), "sluice-bench-parquet-"));
    records =
      workload === "parquet" ? await plainParquet(folder, rows) : await plainPartitionedParquet(folder, rows);
    await rm(folder, { recursive: true, force: true });
  } else records = await plainS3(uri);
} else {
  const threads = variant === "direct" ? 1 : Number(variant.replace("pool-", ""));
  const writes = workload === "parquet" || workload === "parquet-partitioned";
  const folder = writes ? await mkdtemp(join(tmpdir(), "sluice-bench-parquet-")) : undefined;
  const { outputs } = await ioWorkloads.run(
    { workload, uri: folder ?? uri, rows, s3 },
    { runner: variant === "direct" ? "direct" : "pool", threads },
  );
  records = Number((outputs.count[0] as [number, number] | undefined)?.[1] ?? 0);
  if (folder) await rm(folder, { recursive: true, force: true });
}
report(started, String(records));
