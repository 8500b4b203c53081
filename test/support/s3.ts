/** The local S3-compatible server that `npm test` starts (scripts/run-tests.mjs). */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { listFiles, readBytes, type S3Settings, s3Client } from "../../src/io/index.js";

export const s3Endpoint = process.env.SLUICE_TEST_S3_ENDPOINT;

/** Why S3 tests cannot run here, or undefined when they can. */
export const s3Unavailable = s3Endpoint
  ? undefined
  : "no local S3 server: run the tests with `npm test`, which starts one";

// s3rver accepts any credentials; the SDK's chain still needs some.
process.env.AWS_ACCESS_KEY_ID ??= "S3RVER";
process.env.AWS_SECRET_ACCESS_KEY ??= "S3RVER";

export const s3Settings: S3Settings = { endpoint: s3Endpoint, forcePathStyle: true, region: "us-east-1" };

/** moto_server, started by `npm test` where it is installed: it honours conditional writes. */
export const conditionalS3Endpoint = process.env.SLUICE_TEST_CONDITIONAL_S3_ENDPOINT;
export const conditionalS3Unavailable = conditionalS3Endpoint
  ? undefined
  : "no S3 server with conditional writes (moto_server): run the tests with `npm test` on a machine that has it";
export const conditionalS3Settings: S3Settings = {
  endpoint: conditionalS3Endpoint,
  forcePathStyle: true,
  region: "us-east-1",
};

let bucketCount = 0;

/** A fresh bucket for one test. */
export async function freshBucket(prefix: string, settings = s3Settings): Promise<string> {
  const bucket = `${prefix}-${process.pid}-${Date.now().toString(36)}-${bucketCount++}`.toLowerCase();
  await (await s3Client(settings)).send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/**
 * Copies every object under an S3 prefix into a local folder, keeping relative paths: DuckDB reads
 * S3 output through such a copy (its S3 extension is not available offline).
 */
export async function downloadPrefix(uri: string, folder: string, settings = s3Settings): Promise<string> {
  await mkdir(folder, { recursive: true });
  for (const file of await listFiles(uri, settings)) {
    const target = join(folder, file.relativePath);
    await mkdir(dirname(target), { recursive: true });
    const chunks: Uint8Array[] = [];
    for await (const chunk of readBytes(file.uri, settings)) chunks.push(chunk);
    await writeFile(target, Buffer.concat(chunks));
  }
  return folder;
}

/**
 * Every key under a prefix with its ETag and time: equal listings mean no object was changed or
 * replaced (empty markers such as _SUCCESS all share one ETag, so the time tells them apart).
 */
export async function objectListing(bucket: string, prefix: string): Promise<string[]> {
  const listing: string[] = [];
  const client = await s3Client(s3Settings);
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? [])
      listing.push(`${object.Key} ${object.ETag} ${object.LastModified?.toISOString()}`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return listing;
}
