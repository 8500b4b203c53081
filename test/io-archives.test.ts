/**
 * Compressed and archived input, read as it arrives: gzip-compressed JSON lines and JSON inside zip
 * archives, on local disk and on a real S3-compatible server, give the same records and the same
 * Sparkify tables as the same files unpacked. Zips are written by Python's zipfile, an independent
 * writer; the real Sparkify sample is packed the way the original project ships it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { SourceReadContext } from "../src/index.js";
import { jsonLines, listFiles, s3Client } from "../src/io/index.js";
import { gunzip } from "../src/io/archives.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { tableDigests } from "./support/digests.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { freshBucket, s3Settings, s3Unavailable } from "./support/s3.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const sample = join(root, "../shared/data/sparkify-sample");
const sampleMissing = existsSync(join(sample, "log_data"))
  ? undefined
  : `the real sample is not at ${sample}`;

/** Packs `folder`'s `members` (paths relative to it) into `archive` with Python's zipfile, deflated. */
function zipWithPython(archive: string, folder: string, members: string[], prefix = ""): void {
  const script = `
import os, sys, zipfile
archive, folder, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
    for member in sys.argv[4:]:
        path = os.path.join(folder, member)
        if os.path.isdir(path):
            for base, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(base, name)
                    z.write(full, prefix + os.path.relpath(full, folder))
        else:
            z.write(path, prefix + member)
`;
  execFileSync("python3", ["-c", script, archive, folder, prefix, ...members]);
}

/** Every record of every split of a JSON-lines source, as a task reads them. */
async function readLines(uri: string, settings = {}): Promise<unknown[]> {
  const source = jsonLines(uri, { s3: settings, splitBytes: 64 * 1024 });
  const context: SourceReadContext = {
    batchSize: 100,
    reject: (record) => assert.fail(`rejected: ${JSON.stringify(record)}`),
    addBytesRead: () => undefined,
    addRecordsSeen: () => undefined,
  };
  const records: unknown[] = [];
  for (const split of await source.splits())
    for await (const batch of source.read(split, context)) records.push(...batch.records);
  return records;
}

async function put(bucket: string, key: string, body: Uint8Array): Promise<void> {
  await (await s3Client(s3Settings)).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const events = Array.from({ length: 5000 }, (_, index) =>
  JSON.stringify({ ts: 1541000000000 + index, page: index % 3 === 0 ? "Home" : "NextSong", n: index }),
);
const eventsText = `${events.join("\n")}\n`;
const byN = (a: unknown, b: unknown) => (a as { n: number }).n - (b as { n: number }).n;

describe("gzip-compressed JSON lines", () => {
  it("read like plain ones, whole even when larger than a split, locally", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "plain.json"), eventsText);
      await writeFile(join(folder, "packed.json.gz"), gzipSync(eventsText));
      const plain = (await readLines(join(folder, "plain.json"))).sort(byN);
      const packed = (await readLines(join(folder, "packed.json.gz"))).sort(byN);
      assert.equal(packed.length, events.length);
      assert.deepEqual(packed, plain);
    });
  });

  it("fails naming a file that is not gzip, or is cut short", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "fake.json.gz"), eventsText);
      await assert.rejects(
        readLines(join(folder, "fake.json.gz")),
        /fake\.json\.gz: not readable as gzip \(incorrect header check\): its name ends in \.gz but it is not gzip/,
      );
      const whole = gzipSync(eventsText);
      await writeFile(join(folder, "cut.json.gz"), whole.subarray(0, whole.length - 20));
      await assert.rejects(
        readLines(join(folder, "cut.json.gz")),
        /cut\.json\.gz: not readable as gzip \(unexpected end of file\): the file ends before its compressed data does/,
      );
      const damaged = Buffer.from(whole);
      for (let index = 40; index < 60; index++) damaged[index] = 0xff;
      await writeFile(join(folder, "damaged.json.gz"), damaged);
      await assert.rejects(
        readLines(join(folder, "damaged.json.gz")),
        /damaged\.json\.gz: not readable as gzip \([^)]+\): its compressed data is damaged/,
      );
      // One byte is not gzip either: only a file of no bytes at all is taken as empty.
      await writeFile(join(folder, "one-byte.json.gz"), whole.subarray(0, 1));
      await assert.rejects(
        readLines(join(folder, "one-byte.json.gz")),
        /one-byte\.json\.gz: not readable as gzip/,
      );
    });
  });

  it("names the file in an error reading its compressed bytes, once, and not as a gzip problem", async () => {
    const readFailing = async (failure: Error) => {
      async function* compressed(): AsyncGenerator<Uint8Array> {
        yield gzipSync(eventsText).subarray(0, 100);
        throw failure;
      }
      for await (const _chunk of gunzip("/data/logs/a.json.gz", compressed()));
    };
    await assert.rejects(
      readFailing(Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" })),
      /^Error: \/data\/logs\/a\.json\.gz: EIO: i\/o error, read$/,
    );
    const named = new Error("/data/logs/a.json.gz was listed when the run began and is gone now");
    await assert.rejects(readFailing(named), (error: unknown) => error === named);
  });

  it("takes a file of no bytes as empty, as an empty plain file, beside others that are read", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "empty.json.gz"), "");
      await writeFile(join(folder, "packed.json.gz"), gzipSync(eventsText));
      const records = (await readLines(join(folder, "*.json.gz"))).sort(byN);
      assert.equal(records.length, events.length);
      assert.deepEqual(records, events.map((line) => JSON.parse(line) as unknown).sort(byN));
    });
  });

  it("read from S3 like plain ones", { skip: s3Unavailable }, async () => {
    const bucket = await freshBucket("gzip");
    await put(bucket, "logs/a.json.gz", gzipSync(eventsText));
    const packed = (await readLines(`s3://${bucket}/logs/*.json.gz`, s3Settings)).sort(byN);
    assert.equal(packed.length, events.length);
    assert.deepEqual(packed, events.map((line) => JSON.parse(line) as unknown).sort(byN));
  });
});

describe("JSON inside zip archives", () => {
  it("lists an archive as the folder it stands for, with or without a top folder of its name", async () => {
    await withTempDir(async (folder) => {
      const files = join(folder, "files");
      await mkdir(join(files, "logs/2018"), { recursive: true });
      await writeFile(join(files, "logs/2018/a.json"), eventsText);
      await writeFile(join(files, "logs/2018/b.json"), '{"n":1}\n');
      await mkdir(join(folder, "nested"));
      await mkdir(join(folder, "flat"));
      zipWithPython(join(folder, "nested/logs.zip"), files, ["logs"]);
      zipWithPython(join(folder, "flat/logs.zip"), join(files, "logs"), ["2018"]);
      for (const where of ["nested", "flat"]) {
        const listed = await listFiles(join(folder, where));
        assert.deepEqual(
          listed.map((file) => file.relativePath),
          ["logs/2018/a.json", "logs/2018/b.json"],
          where,
        );
        assert.deepEqual(
          (await listFiles(join(folder, where, "logs/**/*.json"))).map((file) => file.relativePath),
          ["2018/a.json", "2018/b.json"],
        );
        // The archive itself named as the input.
        assert.deepEqual(
          (await listFiles(join(folder, where, "logs.zip"))).map((file) => file.relativePath),
          ["2018/a.json", "2018/b.json"],
        );
        assert.equal(listed[0]!.size, Buffer.byteLength(eventsText));
        assert.deepEqual(
          (await readLines(join(folder, where, "logs/2018/a.json"))).sort(byN),
          (await readLines(join(files, "logs/2018/a.json"))).sort(byN),
        );
      }
    });
  });

  it("reads a .json.gz entry of an archive uncompressed, as the same file unpacked", async () => {
    await withTempDir(async (folder) => {
      const files = join(folder, "files");
      await mkdir(join(files, "logs"), { recursive: true });
      await writeFile(join(files, "logs/a.json.gz"), gzipSync(eventsText));
      zipWithPython(join(folder, "logs.zip"), files, ["logs"]);
      const records = (await readLines(join(folder, "logs/*.json.gz"))).sort(byN);
      assert.equal(records.length, events.length);
      assert.deepEqual(records, events.map((line) => JSON.parse(line) as unknown).sort(byN));
    });
  });

  it("fails naming an archive that is not a zip", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "broken.zip"), "PK not really");
      await assert.rejects(listFiles(folder), /broken\.zip: not a readable zip archive/);
    });
  });

  it("build the same Sparkify tables from the sample's zips as from the sample unpacked", {
    skip: sampleMissing,
  }, async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      await mkdir(join(input, "both"), { recursive: true });
      zipWithPython(join(input, "song_data.zip"), sample, ["song_data"]);
      zipWithPython(join(input, "log_data.zip"), sample, ["log_data"]);
      const both = join(input, "both");
      zipWithPython(join(both, "data.zip"), sample, ["song_data", "log_data"]);
      await sparkify({ input: sample, output: join(folder, "unpacked") }, { runner: "direct" });
      const zipped = await sparkify({ input, output: join(folder, "zipped") }, { runner: "direct" });
      // The archive in both/ stands for a folder both/data/, which is not read.
      assert.ok(
        zipped.skipped.every((path) => path.startsWith("both/data/")),
        zipped.skipped.join(),
      );
      assert.ok(zipped.skipped.length > 0);
      assert.deepEqual(
        await tableDigests(join(folder, "zipped")),
        await tableDigests(join(folder, "unpacked")),
      );
      await sparkify(
        { input: join(both, "data.zip"), output: join(folder, "one-zip") },
        { runner: "direct" },
      );
      assert.deepEqual(
        await tableDigests(join(folder, "one-zip")),
        await tableDigests(join(folder, "unpacked")),
      );
    });
  });

  it("read from S3 with ranged reads: the tables of the sample's zips, and one entry of a large archive without its download", {
    skip: s3Unavailable ?? sampleMissing,
  }, async () => {
    await withTempDir(async (folder) => {
      zipWithPython(join(folder, "song_data.zip"), sample, ["song_data"]);
      zipWithPython(join(folder, "log_data.zip"), sample, ["log_data"]);
      const bucket = await freshBucket("zips");
      for (const name of ["song_data.zip", "log_data.zip"])
        await put(bucket, `raw/${name}`, await readFile(join(folder, name)));
      await sparkify({ input: sample, output: join(folder, "unpacked") }, { runner: "direct" });
      await sparkify(
        { input: `s3://${bucket}/raw`, output: join(folder, "from-s3"), s3: s3Settings },
        { runner: "direct" },
      );
      assert.deepEqual(
        await tableDigests(join(folder, "from-s3")),
        await tableDigests(join(folder, "unpacked")),
      );

      // 8 MB of incompressible bytes beside one small entry: reading the small one moves a
      // small part of the archive.
      const files = join(folder, "large");
      await mkdir(files);
      await writeFile(
        join(files, "noise.bin"),
        Buffer.from(Array.from({ length: 8e6 }, () => Math.random() * 256)),
      );
      await writeFile(join(files, "small.json"), '{"n":7}\n');
      zipWithPython(join(folder, "large.zip"), files, ["noise.bin", "small.json"]);
      await put(bucket, "large/large.zip", await readFile(join(folder, "large.zip")));
      const proxy = await startFaultProxy(s3Settings.endpoint!, () => "pass");
      try {
        const viaProxy = { ...s3Settings, endpoint: proxy.endpoint };
        const records = await readLines(`s3://${bucket}/large/large.zip!/small.json`, viaProxy);
        assert.deepEqual(records, [{ n: 7 }]);
        assert.ok(proxy.bytesOut < 100_000, `${proxy.bytesOut} bytes moved for one small entry`);
      } finally {
        await proxy.close();
      }
    });
  });
});
