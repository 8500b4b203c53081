import assert from "node:assert/strict";
import { DeleteObjectsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { spawnSync } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Pipeline, runDirect } from "../src/index.js";
import {
  completeUpload,
  jsonLines,
  Lake,
  listFiles,
  parseLocation,
  readAll,
  readBytes,
  StagedMultipartUpload,
  s3Client,
} from "../src/io/index.js";
import { forEachInLanes } from "../src/io/in-lanes.js";
import { openStagedFile } from "../src/io/staging.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { copyEvents } from "./fixtures/lake-pipelines.js";
import { literal, query } from "./support/duckdb.js";
import {
  conditionalS3Settings,
  conditionalS3Unavailable,
  downloadPrefix,
  freshBucket,
  objectListing,
  s3Settings,
  s3Unavailable,
} from "./support/s3.js";
import { withTempDir } from "./support/temp.js";
import { waitFor } from "./support/wait.js";

async function put(bucket: string, key: string, body: string | Uint8Array): Promise<void> {
  await (await s3Client(s3Settings)).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe("S3 (a real S3-compatible server on 127.0.0.1)", { skip: s3Unavailable }, () => {
  it("lists past one page (more than 1,000 keys) under several prefixes and depths, with globs", async () => {
    const bucket = await freshBucket("listing");
    const keys: string[] = [];
    for (let index = 0; index < 1150; index++)
      keys.push(`data/${index % 3}/${String(index).padStart(5, "0")}.json`);
    keys.push("data/_SUCCESS", "data/readme.txt");
    // Keys only two levels below a prefix of their own, beside keys directly under `data/`.
    for (let index = 0; index < 5; index++) keys.push(`data/9/deep/${index}.json`);
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(keys.slice(start, start + 50).map((key) => put(bucket, key, "{}")));
    }
    const all = await listFiles(`s3://${bucket}/data`, s3Settings);
    assert.equal(all.length, 1156, "everything but the hidden _SUCCESS");
    const json = await listFiles(`s3://${bucket}/data/*/*.json`, s3Settings);
    assert.equal(json.length, 1150);
    assert.deepEqual(
      json.map((file) => file.uri),
      keys
        .filter((key) => key.endsWith(".json") && !key.includes("/deep/"))
        .map((key) => `s3://${bucket}/${key}`)
        .sort(),
    );
    const one = await listFiles(`s3://${bucket}/data/1/**/*.json`, s3Settings);
    assert.equal(one.length, 383);
    const deep = await listFiles(`s3://${bucket}/data/**/deep/*.json`, s3Settings);
    assert.equal(deep.length, 5);
  });

  it("takes s3a:// and s3n://, as Spark and Hadoop users write them, for s3://", async () => {
    const bucket = await freshBucket("schemes");
    await Promise.all(["a/1.json", "a/2.json", "b/3.json"].map((key) => put(bucket, key, "{}")));
    const plain = await listFiles(`s3://${bucket}/a/*.json`, s3Settings);
    assert.equal(plain.length, 2);
    for (const scheme of ["s3a", "s3n"])
      assert.deepEqual(await listFiles(`${scheme}://${bucket}/a/*.json`, s3Settings), plain);
  });

  it("streams objects and reads byte ranges", async () => {
    const bucket = await freshBucket("ranges");
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, index) => index % 251));
    await put(bucket, "blob.bin", body);
    assert.deepEqual(await collectBytes(readBytes(`s3://${bucket}/blob.bin`, s3Settings)), body);
    assert.deepEqual(
      await collectBytes(readBytes(`s3://${bucket}/blob.bin`, s3Settings, 123_457)),
      body.subarray(123_457),
    );
  });

  it("JSON lines from S3 cut into byte ranges give each line once", async () => {
    const bucket = await freshBucket("jsonl");
    const lines = Array.from({ length: 2000 }, (_, index) =>
      JSON.stringify({ ts: index, page: index % 7 === 0 ? "Home" : "NextSong" }),
    );
    await put(bucket, "log/events.json", lines.join("\n"));
    const source = jsonLines(`s3://${bucket}/log/*.json`, { s3: s3Settings, splitBytes: 4096 });
    const splits = await source.splits();
    assert.ok(splits.length > 5, `${splits.length} splits`);
    const { Pipeline } = await import("../src/index.js");
    const p = new Pipeline();
    const records = p.read(source).collect();
    const { outputs } = await runDirect(p, { records });
    assert.deepEqual(
      (outputs.records as { ts: number }[]).map((record) => record.ts).sort((a, b) => a - b),
      lines.map((_, index) => index),
    );
  });

  it("names an object listed and deleted before it was read, plain, from a byte range or gzip", async () => {
    const bucket = await freshBucket("gone");
    const line = `${JSON.stringify({ a: 1 })}\n`;
    await put(bucket, "log/plain.json", line.repeat(10));
    await put(bucket, "log/ranged.json", line.repeat(10));
    await put(bucket, "log/packed.json.gz", gzipSync(line.repeat(10)));
    const listed = await listFiles(`s3://${bucket}/log`, s3Settings);
    assert.equal(listed.length, 3);
    await (await s3Client(s3Settings)).send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: listed.map((file) => ({ Key: file.uri.slice(`s3://${bucket}/`.length) })) },
      }),
    );
    const gone = (name: string) =>
      new RegExp(
        `^Error: s3://${bucket}/log/${name.replaceAll(".", "\\.")} was listed when the run began and is gone now: it was removed or renamed while the run read its input`,
      );
    await assert.rejects(readAll(`s3://${bucket}/log/plain.json`, s3Settings), gone("plain.json"));
    await assert.rejects(
      collectBytes(readBytes(`s3://${bucket}/log/ranged.json`, s3Settings, 5)),
      gone("ranged.json"),
    );
    await assert.rejects(readAll(`s3://${bucket}/log/packed.json.gz`, s3Settings), gone("packed.json.gz"));
  });

  it("a pipeline reads JSON lines from S3 and commits partitioned Parquet to S3, multipart above 5 MiB", async () => {
    const bucket = await freshBucket("pipeline");
    const pages = ["Home", "NextSong", "Logout"];
    // Text that Parquet's compression cannot shrink, so that some files pass 5 MiB.
    let state = 12345;
    const noise = (length: number) => {
      let text = "";
      for (let index = 0; index < length; index++) {
        state = (Math.imul(state, 1103515245) + 12345) | 0;
        text += ((state >>> 16) & 63).toString(36);
      }
      return text;
    };
    const lines: string[] = [];
    for (let index = 0; index < 36_000; index++) {
      lines.push(JSON.stringify({ ts: index, page: pages[index % 3], user: noise(1000) }));
    }
    lines.push("{broken", JSON.stringify({ ts: "late", page: "Home" }));
    await put(bucket, "in/2018/events-1.json", lines.slice(0, 18_000).join("\n"));
    await put(bucket, "in/2018/events-2.json", lines.slice(18_000).join("\n"));

    // The previous output (a table sluice wrote: it has its _SUCCESS), which the overwrite must
    // replace at commit.
    await put(bucket, "out/events/page=Old/part-old.parquet", "old");
    await put(bucket, "out/events/_SUCCESS", "");

    const { metrics } = await copyEvents.run(
      {
        input: `s3://${bucket}/in/**/*.json`,
        output: `s3://${bucket}/out`,
        s3: s3Settings,
        splitBytes: 32 * 1024 * 1024,
      },
      { threads: 2 },
    );
    assert.equal(metrics.rejected, 2);
    const written = await listFiles(`s3://${bucket}/out`, s3Settings);
    assert.ok(
      written.every((file) => !file.uri.includes("page=Old")),
      "the previous output is gone",
    );
    const large = written.filter((file) => file.size > 5 * 1024 * 1024);
    assert.ok(large.length > 0, "some files are over 5 MiB");
    const { mkdtemp, rm, readdir } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const folder = await mkdtemp(join(tmpdir(), "sluice-s3-copy-"));
    try {
      await downloadPrefix(`s3://${bucket}/out`, folder);
      const rows = await query(
        `SELECT page, count(*) AS n, min(ts) AS first FROM read_parquet(${literal(`${folder}/events/**/*.parquet`)}, hive_partitioning = true) GROUP BY page ORDER BY page`,
      );
      assert.deepEqual(
        rows.map((row) => [row.page, Number(row.n), Number(row.first)]),
        [
          ["Home", 12_000, 0],
          ["Logout", 12_000, 2],
          ["NextSong", 12_000, 1],
        ],
      );
      const rejectedFiles = await listFiles(`s3://${bucket}/out/_rejected/*.jsonl`, s3Settings);
      const rejectedText = (
        await Promise.all(
          rejectedFiles.map(async (file) => (await collectBytes(readBytes(file.uri, s3Settings))).toString()),
        )
      ).join("");
      const rejected = rejectedText
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { text: string; source: string; reason: string; offset: number })
        .sort((a, b) => a.text.localeCompare(b.text));
      assert.deepEqual(
        rejected.map((record) => [record.text, record.source, record.reason.split(" (")[0]]),
        [
          [
            '{"ts":"late","page":"Home"}',
            `s3://${bucket}/in/2018/events-2.json`,
            `'ts' is "late", expected an integer`,
          ],
          ["{broken", `s3://${bucket}/in/2018/events-2.json`, "not valid JSON"],
        ],
      );
      assert.ok((await readdir(folder)).includes("events"));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("a state table on S3 keeps its inventory, and a bookkeeping read of it, or of a folder in it, checks it", async () => {
    const bucket = await freshBucket("inventory");
    const lake = new Lake(`s3://${bucket}/lake`, { mode: "overwrite", s3: s3Settings });
    const p = new Pipeline();
    p.fromArray(["a", "b", "b"].map((day, index) => ({ day, index }))).write(
      lake.state("kept", { partitionOf: (record) => `day=${record.day}` }),
    );
    await runDirect(p, {});
    const uri = lake.stateUri("kept");
    const read = async (under = "") => {
      const source = jsonLines(`${uri}${under}`, { s3: s3Settings, bookkeeping: true });
      let records = 0;
      const context = {
        batchSize: 100,
        reject: () => assert.fail("a bookkeeping read sets nothing aside"),
        addBytesRead: () => undefined,
        addRecordsSeen: () => undefined,
      };
      for (const split of await source.splits())
        for await (const batch of source.read(split as never, context)) records += batch.records.length;
      return records;
    };
    assert.equal(await read(), 3);
    const [key] = (await objectListing(bucket, "lake/_sluice/kept/day=b/")).map(
      (entry) => entry.split(" ")[0]!,
    );
    // The day's second line dropped whole: the first still parses.
    const text = (await collectBytes(readBytes(`s3://${bucket}/${key}`, s3Settings))).toString("utf8");
    await put(bucket, key!, `${text.split("\n")[0]}\n`);
    const cutShort = new RegExp(
      `^SluiceError: s3://${bucket}/${key}: holds [\\d,]+ bytes where its commit left`,
    );
    await assert.rejects(read(), cutShort);
    await assert.rejects(read("/day=b"), cutShort);
    assert.equal(await read("/day=a"), 1);
  });

  it("a staged multipart upload stays invisible until completed, in parts of 5 MiB, and completes twice safely", async () => {
    const bucket = await freshBucket("multipart");
    const body = Buffer.alloc(12 * 1024 * 1024 + 123);
    for (let index = 0; index < body.length; index++) body[index] = (index * 31 + (index >> 10)) & 255;
    const upload = new StagedMultipartUpload(s3Settings, bucket, "big/object.bin");
    for (let start = 0; start < body.length; start += 1_000_000)
      await upload.write(body.subarray(start, start + 1_000_000));
    const staged = await upload.stage();
    assert.equal(staged.parts.length, 3);
    assert.deepEqual(await listFiles(`s3://${bucket}/big`, s3Settings), [], "not visible before the commit");
    await completeUpload(s3Settings, bucket, staged);
    await completeUpload(s3Settings, bucket, staged);
    assert.deepEqual(await collectBytes(readBytes(`s3://${bucket}/big/object.bin`, s3Settings)), body);
  });

  it("a staged file on S3 opens its upload when the file opens, not at its close; an upload refused fails the close naming the object, and an abort aborts what was opened", async () => {
    const bucket = await freshBucket("open-early");
    let refuse = false;
    const opens = ({ method, url }: { method: string; url: string }) =>
      method === "POST" && url.includes("?uploads");
    const proxy = await startFaultProxy(
      s3Settings.endpoint!,
      (request) => (refuse && opens(request) ? "forbidden" : "pass"),
      {
        kindOf: (request) =>
          opens(request)
            ? "open"
            : request.method === "DELETE" && request.url.includes("uploadId=")
              ? "abort"
              : undefined,
      },
    );
    const settings = { ...s3Settings, endpoint: proxy.endpoint };
    const root = parseLocation(`s3://${bucket}/lake`);
    try {
      const staged = await openStagedFile(root, "run-1", "table", "a.bin", settings);
      // Nothing written yet, nothing closed: the upload is asked for by the opening alone.
      await waitFor(() => proxy.seen.open === 1, 10_000, "the upload to be opened");
      staged.stream.write(Buffer.from("first file"));
      const info = await staged.close();
      assert.equal(proxy.seen.open, 1, "opened once");
      assert.ok(info.kind === "s3");
      assert.deepEqual(
        await listFiles(`s3://${bucket}/lake`, s3Settings),
        [],
        "not visible before the commit",
      );
      await completeUpload(s3Settings, bucket, info.upload);
      assert.equal(
        (await collectBytes(readBytes(`s3://${bucket}/lake/table/a.bin`, s3Settings))).toString(),
        "first file",
      );

      refuse = true;
      const refused = await openStagedFile(root, "run-1", "table", "b.bin", settings);
      refused.stream.write(Buffer.from("second file"));
      await assert.rejects(refused.close(), (error: Error) => {
        assert.match(error.message, /^s3:\/\/open-early-[^/]+\/lake\/table\/b\.bin: access denied/);
        return true;
      });
      await refused.abort(); // nothing was opened: nothing to abort, and no failure
      assert.equal(proxy.seen.abort ?? 0, 0);

      refuse = false;
      const aborted = await openStagedFile(root, "run-1", "table", "c.bin", settings);
      await waitFor(() => proxy.seen.open === 3, 10_000, "the third upload to be opened");
      await aborted.abort();
      assert.equal(proxy.seen.abort, 1, "the opened upload aborted");
    } finally {
      await proxy.close();
    }
  });

  it("a library run on the pool leaves the AWS SDK's warning about Node's version to its main thread: once, not once a thread", async () => {
    const bucket = await freshBucket("one-warning");
    const fixtures = new URL("./fixtures/lake-pipelines.js", import.meta.url).href;
    const script = `
      import { plainItems, writeItems } from ${JSON.stringify(fixtures)};
      const items = plainItems(40, 4);
      await writeItems.run(
        { items, output: "s3://${bucket}/out", mode: "overwrite", partitionBy: ["small"], splits: 4, s3: ${JSON.stringify(s3Settings)} },
        { threads: 2 },
      );
      console.log("written");`;
    // A user's process, which has not turned the warning off as the commands do.
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "written");
    assert.equal(
      (await listFiles(`s3://${bucket}/out/items`, s3Settings)).length,
      16,
      "a file a task and partition",
    );
    const warnings = (run.stderr.match(/NodeVersionSupportWarning/g) ?? []).length;
    // Node 22 and later have no warning to give.
    assert.equal(warnings, Number(process.versions.node.split(".")[0]) < 22 ? 1 : 0, run.stderr);
  });

  it("fails with a one-line message naming a bucket that does not exist", async () => {
    const { Pipeline } = await import("../src/index.js");
    const p = new Pipeline();
    const records = p.read(jsonLines("s3://no-such-bucket-here/x/*.json", { s3: s3Settings })).collect();
    await assert.rejects(runDirect(p, { records }), (error: Error) => {
      assert.match(
        error.message,
        /cannot list s3:\/\/no-such-bucket-here\/x\/\*\.json: s3:\/\/no-such-bucket-here\/x: the bucket 'no-such-bucket-here' does not exist/,
      );
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  });
});

describe("an S3 endpoint that drops its connections", () => {
  it("is named as a lost connection, past the SDK's retries, and one nobody listens on as refused", async () => {
    // A server that takes each connection and resets it at once, as one killed mid-request does.
    const server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const settings = { ...s3Settings, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2 };
    try {
      await assert.rejects(
        readAll("s3://bucket/log_data/events.json", settings),
        /^Error: s3:\/\/bucket\/log_data\/events\.json: lost the connection to the S3 endpoint, past the SDK's retries \(.*ECONNRESET.*\)$/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // The same port, closed now: nothing listens.
    await assert.rejects(
      readAll("s3://bucket/log_data/events.json", settings),
      /s3:\/\/bucket\/log_data\/events\.json: cannot connect to the S3 endpoint \(.*ECONNREFUSED/,
    );
  });
});

describe("the S3 region, as the AWS SDK's chain finds it", () => {
  /** The region a client of `settings` resolves, in a process of its own with `env` alone. */
  function regionIn(env: NodeJS.ProcessEnv, settings: object): string {
    const io = new URL("../../dist/io/index.js", import.meta.url).href;
    const script = `const { s3Client } = await import(${JSON.stringify(io)}); process.stdout.write(await (await s3Client(${JSON.stringify(settings)})).config.region());`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: "/nonexistent", ...env },
    });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  }

  it("comes from --region, AWS_REGION, the profile's region, or else us-east-1", async () => {
    await withTempDir(async (folder) => {
      const config = join(folder, "config");
      await writeFile(config, "[default]\nregion = eu-north-1\n\n[profile analytics]\nregion = eu-west-3\n");
      const files = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(folder, "none") };
      assert.equal(regionIn({}, {}), "us-east-1");
      assert.equal(regionIn(files, {}), "eu-north-1");
      assert.equal(regionIn(files, { profile: "analytics" }), "eu-west-3");
      assert.equal(regionIn({ ...files, AWS_PROFILE: "analytics" }, {}), "eu-west-3");
      assert.equal(regionIn({ ...files, AWS_REGION: "ap-south-1" }, { profile: "analytics" }), "ap-south-1");
      assert.equal(regionIn({ ...files, AWS_REGION: "ap-south-1" }, { region: "us-west-2" }), "us-west-2");
    });
  });
});

describe("S3 objects read as listed (a server that honours If-Match: moto_server)", {
  skip: conditionalS3Unavailable,
}, () => {
  it("an object replaced after it was listed is not read in byte ranges of two contents", async () => {
    const bucket = await freshBucket("replaced", conditionalS3Settings);
    const client = await s3Client(conditionalS3Settings);
    const lines = (count: number, from: number) =>
      Array.from({ length: count }, (_, index) => JSON.stringify({ ts: from + index })).join("\n");
    const put = (body: string) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: "log/events.json", Body: body }));
    await put(lines(2000, 0));
    const uri = `s3://${bucket}/log/*.json`;
    const listed = await listFiles(uri, conditionalS3Settings);
    const read = async () => {
      const p = new Pipeline();
      const source = jsonLines(uri, { s3: conditionalS3Settings, splitBytes: 4096, files: listed });
      const { outputs } = await runDirect(p, { records: p.read(source).collect() });
      return (outputs.records as { ts: number }[]).map((record) => record.ts).sort((a, b) => a - b);
    };
    assert.deepEqual(await read(), [...Array(2000).keys()], "as listed");
    // Rewritten as a log rotation would: other lines, at other offsets.
    await put(lines(2500, 100_000));
    await assert.rejects(
      read(),
      new RegExp(
        `s3://${bucket}/log/events\\.json was changed after the run listed it: its parts, read by several tasks, could come from two contents; run again once the input holds still`,
      ),
    );
  });
});

describe("requests many at a time (forEachInLanes, which completes and aborts a commit's uploads)", () => {
  it("calls each item once, in order, with as many under way as it has lanes and no more", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 20 }),
        async (delays, lanes) => {
          const started: number[] = [];
          let underWay = 0;
          let most = 0;
          await forEachInLanes(delays, lanes, async (delay, index) => {
            started.push(index);
            most = Math.max(most, ++underWay);
            await new Promise((resolve) => setTimeout(resolve, delay));
            underWay--;
          });
          assert.deepEqual(
            started,
            delays.map((_, index) => index),
          );
          assert.equal(most, Math.min(lanes, delays.length));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("after a failure starts nothing more, waits for the calls under way, and throws the first failure", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 3 }), fails: fc.boolean() }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 8 }),
        async (items, lanes) => {
          fc.pre(items.some((item) => item.fails));
          let underWay = 0;
          let firstFailure: Error | undefined;
          const startedAfterFailure: number[] = [];
          const outcome = forEachInLanes(items, lanes, async ({ delay, fails }, index) => {
            if (firstFailure !== undefined) startedAfterFailure.push(index);
            underWay++;
            await new Promise((resolve) => setTimeout(resolve, delay));
            underWay--;
            if (fails) {
              const error = new Error(`item ${index}`);
              firstFailure ??= error;
              throw error;
            }
          });
          await assert.rejects(outcome, (error) => error === firstFailure);
          assert.equal(underWay, 0, "no call is under way when it throws");
          assert.deepEqual(startedAfterFailure, []);
        },
      ),
      { numRuns: 60 },
    );
  });
});
