import type { GetObjectCommandOutput, S3Client } from "@aws-sdk/client-s3";

type AwsSdk = typeof import("@aws-sdk/client-s3");

let sdkLoading: Promise<AwsSdk> | undefined;

/**
 * The AWS SDK, imported on first use. Importing it takes longer than the rest of sluice together,
 * and every worker thread imports sluice: a job that never touches S3 should not pay it per worker.
 */
export function awsSdk(): Promise<AwsSdk> {
  sdkLoading ??= import("@aws-sdk/client-s3");
  return sdkLoading;
}

/**
 * How to reach S3. Everything else (credentials, and the endpoint in `AWS_ENDPOINT_URL_S3`) comes
 * from the AWS SDK's standard chain and environment. Plain JSON, so that workers get the same.
 */
export interface S3Settings {
  /** An explicit endpoint, for S3-compatible servers. */
  readonly endpoint?: string;
  /** Path-style addressing (`http://host/bucket/key`), which most S3-compatible servers need. */
  readonly forcePathStyle?: boolean;
  /**
   * The region; by default the AWS SDK's own chain (AWS_REGION, then the profile's region), and
   * us-east-1 where that names none, as the AWS CLI does. Buckets in another region are followed.
   */
  readonly region?: string;
  /** The shared-config profile for credentials and region (AWS_PROFILE works too). */
  readonly profile?: string;
  /** Requests in flight at once per thread (and completions at once in a commit); default 16. */
  readonly maxConcurrency?: number;
  /** A connection that does not open, or a response that stays silent, this long is abandoned; default 30,000 ms. */
  readonly timeoutMs?: number;
  /** Attempts per request, and per object read that breaks off mid-way; default 5. */
  readonly maxAttempts?: number;
}

const clients = new Map<string, S3Client>();

/**
 * The region the AWS SDK's own chain finds for a profile (the environment, then the shared config
 * file), or us-east-1 where it finds none: S3 answers from there for every bucket, and the
 * redirects it sends are followed.
 */
function regionFromChain(sdk: AwsSdk, profile: string | undefined): () => Promise<string> {
  // A client built only to resolve its region, so that the chain is the SDK's, not a copy of it.
  const probe = new sdk.S3Client(profile ? { profile } : {});
  let region: Promise<string> | undefined;
  return () => {
    region ??= probe.config.region().then(
      (found) => found || "us-east-1",
      () => "us-east-1",
    );
    return region;
  };
}

/** One client per settings per thread (clients pool their connections), and the SDK's commands. */
export async function s3(settings: S3Settings = {}): Promise<{ client: S3Client; sdk: AwsSdk }> {
  const sdk = await awsSdk();
  const cacheKey = JSON.stringify(settings);
  let client = clients.get(cacheKey);
  if (!client) {
    client = new sdk.S3Client({
      region: settings.region ?? regionFromChain(sdk, settings.profile),
      ...(settings.profile ? { profile: settings.profile } : {}),
      // A bucket in another region than the client's answers 301; the SDK then asks again there.
      followRegionRedirects: true,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.forcePathStyle ? { forcePathStyle: true } : {}),
      // Checksums on every request would frame streamed bodies as aws-chunked, which
      // S3-compatible servers may store verbatim; S3 itself does not require them.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // The SDK retries throttling (503 SlowDown), 5xx and connection errors with exponential
      // backoff and jitter; 4xx answers (403, NoSuchBucket, NoSuchKey) fail at once.
      maxAttempts: settings.maxAttempts ?? 5,
      requestHandler: {
        connectionTimeout: Math.min(settings.timeoutMs ?? 30_000, 10_000),
        socketTimeout: settings.timeoutMs ?? 30_000,
      },
    });
    clients.set(cacheKey, client);
  }
  return { client, sdk };
}

/** The client for these settings (one per settings per thread), for requests of your own. */
export async function s3Client(settings: S3Settings = {}): Promise<S3Client> {
  return (await s3(settings)).client;
}

/** Bounds the S3 requests in flight: a fast source cannot open thousands of connections. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

const limiters = new Map<string, Limiter>();

/** Requests a thread keeps in flight at once: `maxConcurrency`, 16 by default. */
export function requestsAtOnce(settings: S3Settings = {}): number {
  return settings.maxConcurrency ?? 16;
}

export function s3Limiter(settings: S3Settings = {}): Limiter {
  const cacheKey = JSON.stringify(settings);
  let limiter = limiters.get(cacheKey);
  if (!limiter) {
    limiter = new Limiter(requestsAtOnce(settings));
    limiters.set(cacheKey, limiter);
  }
  return limiter;
}

/** A one-line explanation of an S3 failure that names the bucket or key and says what to check. */
/** Errors of a connection that could not be made, and of one lost with a request under way. */
const CANNOT_CONNECT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const CONNECTION_LOST = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

export function describeS3Error(error: unknown, bucket: string, key?: string): string {
  const name = (error as { name?: string })?.name ?? "";
  const message = (error as { message?: string })?.message ?? String(error);
  const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
  switch (name) {
    case "NoSuchBucket":
      return `${where}: the bucket '${bucket}' does not exist`;
    case "NoSuchKey":
    case "NotFound":
      return `${where}: no such object`;
    case "AccessDenied":
    case "Forbidden":
      return `${where}: access denied (check the credentials and the bucket policy)`;
    case "InvalidAccessKeyId":
    case "SignatureDoesNotMatch":
      return `${where}: the credentials were refused (${name})`;
    case "CredentialsProviderError":
      return `${where}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)`;
    default: {
      const code = (error as { code?: string })?.code ?? "";
      if (CANNOT_CONNECT.has(code)) return `${where}: cannot connect to the S3 endpoint (${message})`;
      // A server that went away with a request under way: the SDK calls a reset a TimeoutError.
      if (CONNECTION_LOST.has(code) || /\b(ECONNRESET|EPIPE|ETIMEDOUT)\b|socket hang up/.test(message))
        return `${where}: lost the connection to the S3 endpoint, past the SDK's retries (${message})`;
      return `${where}: ${name ? `${name}: ` : ""}${message}`;
    }
  }
}

export interface S3Object {
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
}

async function listAll(
  { client, sdk }: { client: S3Client; sdk: AwsSdk },
  bucket: string,
  prefix: string,
  delimiter?: string,
) {
  const objects: S3Object[] = [];
  // A set: a prefix may be repeated on the next page after a truncated one.
  const prefixes = new Set<string>();
  let continuationToken: string | undefined;
  do {
    const page = await client.send(
      new sdk.ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: continuationToken,
        ...(delimiter ? { Delimiter: delimiter } : {}),
      }),
    );
    for (const entry of page.Contents ?? [])
      if (entry.Key)
        objects.push({ key: entry.Key, size: entry.Size ?? 0, ...(entry.ETag ? { etag: entry.ETag } : {}) });
    for (const entry of page.CommonPrefixes ?? []) if (entry.Prefix) prefixes.add(entry.Prefix);
    continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (continuationToken);
  return { objects, prefixes: [...prefixes] };
}

/**
 * Every object under `prefix`, following pagination. The first level of sub-prefixes is listed in
 * parallel (bounded), which is what makes millions of keys under date or letter folders quick.
 */
export async function listObjects(settings: S3Settings, bucket: string, prefix: string): Promise<S3Object[]> {
  const client = await s3(settings);
  const limiter = s3Limiter(settings);
  const directoryPrefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  try {
    const top = await limiter.run(() => listAll(client, bucket, directoryPrefix, "/"));
    const nested = await Promise.all(
      top.prefixes.map((subPrefix) => limiter.run(() => listAll(client, bucket, subPrefix))),
    );
    const all = [...top.objects, ...nested.flatMap((result) => result.objects)];
    if (prefix !== directoryPrefix) {
      // The prefix may also name an object itself.
      const exact = await limiter.run(() => listAll(client, bucket, prefix, "/"));
      all.push(...exact.objects.filter((object) => object.key === prefix));
    }
    return all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  } catch (error) {
    throw new Error(describeS3Error(error, bucket, prefix));
  }
}

/** Full-jitter exponential backoff: a random wait below 100 ms x 2^attempt, at most 5 s. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(5000, 100 * 2 ** attempt);
}

/**
 * Streams an object (or the bytes from `start` on), never holding it whole. A body that breaks off
 * (connection reset, a stall past the timeout) is resumed where it stopped with a ranged GET of
 * the same version (If-Match on its ETag), after a backoff, a bounded number of times: no byte is
 * lost and none is read twice.
 */
export async function* readObject(
  settings: S3Settings,
  bucket: string,
  key: string,
  start = 0,
  /** Where to stop (exclusive); the end of the object by default. */
  end?: number,
  /** The ETag the object had when it was listed: another version is not read (PreconditionFailed). */
  listedEtag?: string,
): AsyncGenerator<Uint8Array> {
  const { client, sdk } = await s3(settings);
  const maxAttempts = settings.maxAttempts ?? 5;
  let position = start;
  let etag: string | undefined = listedEtag;
  for (let attempt = 1; ; attempt++) {
    let response: GetObjectCommandOutput;
    try {
      response = await s3Limiter(settings).run(() =>
        client.send(
          new sdk.GetObjectCommand({
            Bucket: bucket,
            Key: key,
            ...(position > 0 || end !== undefined
              ? { Range: `bytes=${position}-${end !== undefined ? end - 1 : ""}` }
              : {}),
            ...(etag ? { IfMatch: etag } : {}),
          }),
        ),
      );
    } catch (error) {
      // The SDK's error stays the cause: a reader of listed files tells a key deleted since.
      throw new Error(describeS3Error(error, bucket, key), { cause: error });
    }
    etag ??= response.ETag;
    const body = response.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
    try {
      for await (const chunk of body) {
        position += chunk.byteLength;
        yield chunk;
      }
      return;
    } catch (error) {
      if (attempt >= maxAttempts) {
        throw new Error(
          `s3://${bucket}/${key}: reading broke off ${maxAttempts} times, the last at byte ${position} (${(error as Error).message})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    } finally {
      // Stopping early (a byte-range split that has read its last line) must release the connection.
      body.destroy?.();
    }
  }
}

/** The size of an object, in bytes. */
export async function objectSize(settings: S3Settings, bucket: string, key: string): Promise<number> {
  try {
    const { client, sdk } = await s3(settings);
    const head = await s3Limiter(settings).run(() =>
      client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key })),
    );
    return head.ContentLength ?? 0;
  } catch (error) {
    throw new Error(describeS3Error(error, bucket, key));
  }
}

export async function putText(
  settings: S3Settings,
  bucket: string,
  key: string,
  text: string,
): Promise<void> {
  const { client, sdk } = await s3(settings);
  try {
    // The length is given: for an empty body (a _SUCCESS marker) the SDK cannot tell it and warns.
    const body = Buffer.from(text, "utf8");
    await client.send(
      new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.byteLength }),
    );
  } catch (error) {
    throw new Error(describeS3Error(error, bucket, key));
  }
}

/** Writes an object whole from its parts (at most S3's 5 GB of a single PUT). */
export async function putBytes(
  settings: S3Settings,
  bucket: string,
  key: string,
  parts: readonly Uint8Array[],
): Promise<void> {
  const { client, sdk } = await s3(settings);
  const body = Buffer.concat(parts);
  try {
    await s3Limiter(settings).run(() =>
      client.send(
        new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.byteLength }),
      ),
    );
  } catch (error) {
    throw new Error(describeS3Error(error, bucket, key));
  }
}

export async function getText(
  settings: S3Settings,
  bucket: string,
  key: string,
): Promise<string | undefined> {
  const { client, sdk } = await s3(settings);
  try {
    const response = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return await response.Body!.transformToString("utf8");
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "NoSuchKey" || name === "NotFound") return undefined;
    throw new Error(describeS3Error(error, bucket, key));
  }
}

export async function objectExists(settings: S3Settings, bucket: string, key: string): Promise<boolean> {
  const { client, sdk } = await s3(settings);
  try {
    await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "NotFound" || name === "NoSuchKey") return false;
    throw new Error(describeS3Error(error, bucket, key));
  }
}

/** Deletes keys in batches of 1,000; returns the keys S3 could not delete. */
export async function deleteKeys(
  settings: S3Settings,
  bucket: string,
  keys: readonly string[],
): Promise<string[]> {
  const failed: string[] = [];
  const { client, sdk } = await s3(settings);
  for (let start = 0; start < keys.length; start += 1000) {
    const batch = keys.slice(start, start + 1000);
    try {
      const response = await client.send(
        new sdk.DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      for (const error of response.Errors ?? []) if (error.Key) failed.push(error.Key);
    } catch {
      failed.push(...batch);
    }
  }
  return failed;
}

/** A multipart upload left open: invisible to readers until the commit completes it. */
export interface StagedUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly parts: { readonly PartNumber: number; readonly ETag: string }[];
}

/** Minimum size of every part but the last, set by S3. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

/**
 * Streams bytes into a multipart upload, part by part, without completing it: the object only
 * appears when the job commits (`completeUpload`).
 */
export class StagedMultipartUpload {
  /** The upload's id, asked for by `open()` or by the first part, whichever comes first. */
  private opening: Promise<string> | undefined;
  private uploadId: string | undefined;
  private readonly parts: { PartNumber: number; ETag: string }[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly settings: S3Settings,
    readonly bucket: string,
    readonly key: string,
    private readonly partBytes = MIN_PART_BYTES,
  ) {}

  /**
   * Asks S3 to open the upload now, without waiting for its answer: the round trip then runs while
   * the file is filled, and closing a small file (most of a partitioned table's) takes one request,
   * its one part, instead of two after each other. A failure to open is thrown by the write or the
   * `stage()` that needs the upload.
   */
  open(): void {
    // Handled here so that a failure nobody awaits yet is not an unhandled rejection; the promise
    // itself still rejects for whoever awaits it.
    this.opened().catch(() => undefined);
  }

  private opened(): Promise<string> {
    this.opening ??= this.create();
    return this.opening;
  }

  private async create(): Promise<string> {
    const { client, sdk } = await s3(this.settings);
    // Under the thread's limit, as parts are: a task opens up to 64 files at a time.
    const response = await s3Limiter(this.settings).run(() =>
      client.send(new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key })),
    );
    if (!response.UploadId) throw new Error("the server opened the multipart upload without giving its id");
    return response.UploadId;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    if (this.pendingBytes >= this.partBytes) await this.uploadPending();
  }

  private async uploadPending(): Promise<void> {
    const { client, sdk } = await s3(this.settings);
    try {
      this.uploadId = await this.opened();
      const body = Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      const PartNumber = this.parts.length + 1;
      const response = await s3Limiter(this.settings).run(() =>
        client.send(
          new sdk.UploadPartCommand({
            Bucket: this.bucket,
            Key: this.key,
            UploadId: this.uploadId,
            PartNumber,
            Body: body,
          }),
        ),
      );
      this.parts.push({ PartNumber, ETag: response.ETag ?? "" });
    } catch (error) {
      throw new Error(describeS3Error(error, this.bucket, this.key));
    }
  }

  /** Uploads the last part and returns what the commit needs to complete the upload. */
  async stage(): Promise<StagedUpload> {
    if (this.pendingBytes > 0 || this.parts.length === 0) await this.uploadPending();
    return { key: this.key, uploadId: this.uploadId!, parts: this.parts };
  }

  async abort(): Promise<void> {
    if (!this.opening) return;
    // An upload that could not be opened has nothing to abort.
    const uploadId = await this.opening.catch(() => undefined);
    if (uploadId === undefined) return;
    const { client, sdk } = await s3(this.settings);
    await client
      .send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: uploadId }))
      .catch(() => undefined);
  }
}

/**
 * Completes a staged upload. An upload already completed (a commit resumed after an interruption)
 * counts as done: its key carries the run id, so an object there can only be this upload's.
 * S3 answers a second completion with NoSuchUpload, some compatible servers with a 500 (s3rver
 * then loses the object), hence the look before completing, unless the caller knows that no
 * completion was tried before (`mayBeCompleted: false`: a commit's first pass over its uploads).
 */
export async function completeUpload(
  settings: S3Settings,
  bucket: string,
  upload: StagedUpload,
  options: { readonly mayBeCompleted?: boolean } = {},
): Promise<void> {
  if (options.mayBeCompleted !== false && (await objectExists(settings, bucket, upload.key))) return;
  const { client, sdk } = await s3(settings);
  try {
    await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        MultipartUpload: { Parts: upload.parts },
      }),
    );
  } catch (error) {
    if (await objectExists(settings, bucket, upload.key).catch(() => false)) return;
    throw new Error(describeS3Error(error, bucket, upload.key));
  }
}

/**
 * The multipart uploads open under `prefix` (S3's ListMultipartUploads, page after page), or
 * undefined where the server does not list them (some S3-compatible servers do not).
 */
export async function listOpenUploads(
  settings: S3Settings,
  bucket: string,
  prefix: string,
): Promise<StagedUpload[] | undefined> {
  const { client, sdk } = await s3(settings);
  const uploads: StagedUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  try {
    do {
      const page = await client.send(
        new sdk.ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? [])
        if (upload.Key && upload.UploadId)
          uploads.push({ key: upload.Key, uploadId: upload.UploadId, parts: [] });
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  } catch (error) {
    if ((error as { name?: string }).name === "NotImplemented") return undefined;
    throw new Error(describeS3Error(error, bucket, prefix));
  }
  return uploads;
}

/** Aborts a staged upload; false when S3 would not (the caller lists it for the person running the job). */
export async function abortUpload(
  settings: S3Settings,
  bucket: string,
  upload: StagedUpload,
): Promise<boolean> {
  const { client, sdk } = await s3(settings);
  try {
    await client.send(
      new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId }),
    );
    return true;
  } catch (error) {
    // An upload that is already gone is what aborting wants.
    return (error as { name?: string }).name === "NoSuchUpload";
  }
}
