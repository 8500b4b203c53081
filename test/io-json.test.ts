import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFile, mkdir, readFile, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import {
  column,
  Pipeline,
  type RejectedRecord,
  runDirect,
  type SourceReadContext,
  SluiceError,
  schema,
} from "../src/index.js";
import {
  anyFileMatches,
  cutIntoSplits,
  isHidden,
  jsonDocuments,
  jsonLines,
  Lake,
  listFiles,
  parquetDataset,
} from "../src/io/index.js";
import { MAX_FILES_PER_SPLIT } from "../src/io/json-documents-source.js";
import { splitBytesFor } from "../src/io/json-lines-source.js";
import { withTempDir } from "./support/temp.js";

function collectingContext(batchSize = 7) {
  const rejected: RejectedRecord[] = [];
  const counters = { bytesRead: 0, recordsSeen: 0 };
  const context: SourceReadContext = {
    batchSize,
    reject: (record) => rejected.push(record),
    addBytesRead: (bytes) => {
      counters.bytesRead += bytes;
    },
    addRecordsSeen: (count) => {
      counters.recordsSeen += count;
    },
  };
  return { context, rejected, counters };
}

async function readAllSplits<T>(
  source: {
    splits(): Promise<unknown[]>;
    read(split: never, context: SourceReadContext): AsyncIterable<{ records: T[] }>;
  },
  batchSize = 7,
) {
  const { context, rejected, counters } = collectingContext(batchSize);
  const records: T[] = [];
  for (const split of await source.splits()) {
    for await (const batch of source.read(split as never, context)) records.push(...batch.records);
  }
  return { records, rejected, counters };
}

const lineValue = fc.record(
  {
    id: fc.nat(),
    text: fc.string({ unit: "grapheme", maxLength: 30 }),
    nested: fc.option(fc.array(fc.integer(), { maxLength: 3 })),
  },
  { noNullPrototype: true },
);

describe("JSON lines", () => {
  it("a file cut into any byte-range splits yields each line exactly once", async () => {
    await withTempDir(async (folder) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(lineValue, { maxLength: 60 }),
          fc.constantFrom("\n", "\r\n"),
          fc.boolean(),
          fc.integer({ min: 1, max: 400 }),
          fc.integer({ min: 1, max: 20 }),
          async (values, lineEnd, trailingNewline, splitBytes, batchSize) => {
            const text =
              values.map((value) => JSON.stringify(value)).join(lineEnd) + (trailingNewline ? lineEnd : "");
            const file = join(folder, "events.json");
            await writeFile(file, text);
            const source = jsonLines(file, { splitBytes });
            const { records, rejected, counters } = await readAllSplits(source, batchSize);
            assert.deepEqual(rejected, []);
            assert.deepEqual(records, values);
            assert.equal(counters.recordsSeen, values.length);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it("reads files of many read chunks: lines across chunk edges, multi-byte characters, CRLF", async () => {
    // Files are read 1 MiB at a time; lines lying whole inside a chunk are decoded with the chunk.
    await withTempDir(async (folder) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(lineValue, { minLength: 1, maxLength: 50 }),
          fc.constantFrom("\n", "\r\n"),
          fc.integer({ min: 300_000, max: 2_500_000 }),
          async (pattern, lineEnd, splitBytes) => {
            // About 3 MiB of lines, with the pattern's unicode repeated throughout.
            const values = Array.from({ length: 30_000 }, (_, index) => ({
              ...pattern[index % pattern.length]!,
              id: index,
            }));
            const file = join(folder, "big.json");
            await writeFile(file, values.map((value) => JSON.stringify(value)).join(lineEnd) + lineEnd);
            const { records, rejected } = await readAllSplits(jsonLines(file, { splitBytes }), 4096);
            assert.deepEqual(rejected, []);
            assert.deepEqual(records, values);
          },
        ),
        { numRuns: 6 },
      );
    });
  });

  it("cuts large files into ranges that cover them and groups small files", () => {
    const splits = cutIntoSplits(
      [
        { uri: "a", size: 10 },
        { uri: "b", size: 25 },
        { uri: "c", size: 3 },
        { uri: "d", size: 4 },
      ],
      8,
    );
    assert.deepEqual(splits, [
      [["a", 0, 8, 10]],
      [["a", 8, 10, 10]],
      [["b", 0, 8, 25]],
      [["b", 8, 16, 25]],
      [["b", 16, 24, 25]],
      [["b", 24, 25, 25]],
      [
        ["c", 0, 3, 3],
        ["d", 0, 4, 4],
      ],
    ]);
  });

  it("rejects broken lines with file, byte offset, line number and reason, and loads the rest", async () => {
    await withTempDir(async (folder) => {
      const file = join(folder, "log.json");
      const eventSchema = schema({ ts: column.int64(), page: column.utf8() });
      const lines = [
        '\uFEFF{"ts": 1, "page": "Home"}',
        "",
        '{"ts": "yesterday", "page": "Home"}',
        "{not json",
        "   ",
        '{"page": "NextSong"}',
        '{"ts": 2, "page": "NextSong"}',
      ];
      const bytes = Buffer.concat([
        Buffer.from(lines.join("\n")),
        Buffer.from([0x0a, 0xff, 0xfe, 0x0a]),
        Buffer.from('{"ts": 3, "page": "x"}'),
      ]);
      await writeFile(file, bytes);
      const { records, rejected, counters } = await readAllSplits(jsonLines(file, { schema: eventSchema }));
      assert.deepEqual(records, [
        { ts: 1, page: "Home" },
        { ts: 2, page: "NextSong" },
        { ts: 3, page: "x" },
      ]);
      assert.deepEqual(
        rejected.map((record) => [record.line, record.reason.split(" (")[0]]),
        [
          [3, `'ts' is "yesterday", expected an integer`],
          [4, "not valid JSON"],
          [6, "'ts' is missing, a value is required"],
          [8, "not valid UTF-8"],
        ],
      );
      const third = rejected[0]!;
      assert.equal(third.source, file);
      assert.equal(third.offset, Buffer.byteLength(`${lines[0]}\n\n`));
      assert.equal(third.text, lines[2]);
      assert.equal(counters.recordsSeen, 7, "blank lines are not counted as records");
    });
  });

  it("fails at a damaged line of a bookkeeping file, naming it, where an input's is set aside", async () => {
    await withTempDir(async (folder) => {
      const file = join(folder, "state.jsonl");
      // A torn write: the last line cut short, and a line that does not fit the schema.
      await writeFile(file, '{"ts": 1, "page": "Home"}\n{"ts": "x", "page": "Home"}\n{"ts": 2, "pa');
      const stateSchema = schema({ ts: column.int64(), page: column.utf8() });
      const asInput = await readAllSplits(jsonLines(file, { schema: stateSchema }));
      assert.equal(asInput.rejected.length, 2);
      await assert.rejects(
        readAllSplits(jsonLines(file, { schema: stateSchema, bookkeeping: true })),
        (error: unknown) => {
          assert.ok(error instanceof SluiceError, String(error));
          assert.match(
            error.message,
            /state\.jsonl line 2: 'ts' is "x", expected an integer: the file holds what this pipeline kept from an earlier run, not input, so the record is not set aside as a rejected one; restore the file, or rebuild the output from the input$/,
          );
          return true;
        },
      );
      await writeFile(file, '{"ts": 1, "page": "Home"}\n{"ts": 2, "pa');
      await assert.rejects(
        readAllSplits(jsonLines(file, { bookkeeping: true })),
        /state\.jsonl line 2: not valid JSON \(/,
      );
    });
  });

  it("reads a lake's state table back only as its last commit left it: a file cut at a line's end, gone or added fails, named", async () => {
    await withTempDir(async (folder) => {
      const write = async (mode: "overwrite" | "update", days: string[]) => {
        const lake = new Lake(folder, { mode });
        const p = new Pipeline();
        const records = days.flatMap((day) => Array.from({ length: 40 }, (_, index) => ({ day, index })));
        p.fromArray(records).write(lake.state("kept", { partitionOf: (record) => `day=${record.day}` }));
        await runDirect(p, {});
        return lake.stateUri("kept");
      };
      await write("overwrite", ["a", "b"]);
      const uri = await write("update", ["b", "c"]);
      const marker = join(uri, "_SUCCESS");
      const committed = await readFile(marker, "utf8");
      const inventory = JSON.parse(committed) as { files: Record<string, number> };
      const files = await listFiles(uri);
      assert.deepEqual(
        Object.entries(inventory.files).sort(),
        files.map((file) => [file.relativePath, file.size]).sort(),
        "the inventory names every file of both commits, at its size",
      );
      assert.equal(files.length, 4);
      const read = (glob = "") => readAllSplits(jsonLines(`${uri}${glob}`, { bookkeeping: true }));
      assert.equal((await read()).records.length, 160);

      const cut = files.find((file) => file.relativePath.startsWith("day=b/"))!;
      const whole = await readFile(cut.uri);
      const lines = whole.toString("utf8").split("\n");
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: lines.length - 2 }), async (kept) => {
          // Whole lines only: every line that is left parses, and only the size tells.
          await writeFile(
            cut.uri,
            lines
              .slice(0, kept)
              .map((line) => `${line}\n`)
              .join(""),
          );
          await assert.rejects(
            read(),
            new RegExp(
              `^SluiceError: ${cut.uri}: holds [\\d,]+ bytes where its commit left ${whole.length.toLocaleString("en-US")} bytes \\(cut short, or written over\\): the file holds what this pipeline kept from an earlier run`,
            ),
          );
        }),
        { numRuns: 15 },
      );
      // A folder inside the table is checked against the table's inventory too.
      await writeFile(cut.uri, lines.slice(0, 2).join("\n"));
      await assert.rejects(read("/day=b"), new RegExp(`^SluiceError: ${cut.uri}: holds`));
      assert.equal((await read("/day=a")).records.length, 40);
      await writeFile(cut.uri, whole);
      assert.equal((await read()).records.length, 160);
      assert.equal((await read("/day=b")).records.length, 80);

      const gone = files.find((file) => file.relativePath.startsWith("day=c/"))!;
      await rename(gone.uri, `${gone.uri}.aside`);
      await assert.rejects(read(), new RegExp(`^SluiceError: ${gone.uri}: missing \\(its commit left`));
      // A glob that does not select the missing file reads what it selects.
      assert.equal((await read("/{day=a,day=b}/*.jsonl")).records.length, 120);
      await rename(`${gone.uri}.aside`, gone.uri);

      const stray = join(uri, "day=a", "part-stray.jsonl");
      await writeFile(stray, '{"day":"a","index":99}\n');
      await assert.rejects(read(), new RegExp(`^SluiceError: ${stray}: no commit of this table wrote it`));
      await rm(stray);

      // A commit that adds files keeps what the last one recorded: a file damaged since, which
      // that run did not read, is still told, not recorded as it is now.
      const firstLines = (count: number) =>
        lines
          .slice(0, count)
          .map((line) => `${line}\n`)
          .join("");
      await writeFile(cut.uri, firstLines(3));
      await write("update", ["d"]);
      await assert.rejects(read(), new RegExp(`^SluiceError: ${cut.uri}: holds [\\d,]+ bytes where`));
      await writeFile(cut.uri, whole);
      assert.equal((await read()).records.length, 200);

      // A table committed by an earlier version has an empty _SUCCESS: read as it is.
      await writeFile(marker, "");
      await writeFile(cut.uri, firstLines(3));
      assert.equal((await read()).records.length, 163);
      // Another writer's summary is no inventory either; a torn inventory is damage.
      await writeFile(marker, '{"name":"committer summary","filenames":[]}');
      assert.equal((await read()).records.length, 163);
      await writeFile(marker, committed.slice(0, 40));
      await assert.rejects(read(), /_SUCCESS: not the inventory of files a commit writes there: /);
    });
  });

  it("says that a file of one pretty-printed JSON document is one, for jsonDocuments to read", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "array.json"), '[\n  {"a": 1},\n  {"a": 2}\n]\n');
      await writeFile(join(folder, "object.json"), '\ufeff{\r\n  "a": 1\r\n}\r\n');
      await writeFile(join(folder, "lines.json"), '{"a": 1}\n{broken\n[\n');
      const { rejected } = await readAllSplits(jsonLines(join(folder, "*.json")));
      const hint = /: the file looks like one JSON document over many lines, which jsonDocuments reads$/;
      const hinted = rejected.filter((record) => hint.test(record.reason));
      assert.deepEqual(
        hinted.map((record) => [record.source.split("/").at(-1), record.line]).sort(),
        [
          ["array.json", 1],
          ["object.json", 1],
        ],
        "the first line of each document, and no line of a JSON-lines file",
      );
      assert.equal(rejected.length, 3 + 3 + 2);
    });
  });

  it("rejects a line longer than the maximum record size without holding it", async () => {
    await withTempDir(async (folder) => {
      const file = join(folder, "long.json");
      await writeFile(file, `{"a":1}\n{"long":"${"x".repeat(100_000)}"}\n{"a":2}\n`);
      const { records, rejected } = await readAllSplits(jsonLines(file, { maxRecordBytes: 1000 }));
      assert.deepEqual(records, [{ a: 1 }, { a: 2 }]);
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]!.line, 2);
      assert.match(
        rejected[0]!.reason,
        /^line of 100011 bytes is longer than the maximum record size of 1000 bytes/,
      );
      assert.equal(rejected[0]!.text, `{"long":"${"x".repeat(4096 - 9)}`, "its first 4 KiB are kept");
    });
  });

  it("keeps a rejected line whole up to the maximum record size, and drops undeclared members of a loaded one", async () => {
    await withTempDir(async (folder) => {
      const file = join(folder, "log.json");
      const eventSchema = schema({
        ts: column.int64(),
        page: column.utf8(),
        userId: column.utf8().optional(),
      });
      const long = `{"ts": "soon", "page": "${"p".repeat(20_000)}"}`;
      const deep = `{"ts": 5, "page": "Home", "extra": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
      const deepTs = `{"ts": ${"[".repeat(100_000)}${"]".repeat(100_000)}, "page": "Home"}`;
      await writeFile(file, [long, deep, deepTs].join("\n"));
      const { records, rejected } = await readAllSplits(jsonLines(file, { schema: eventSchema }));
      assert.deepEqual(
        records,
        [{ ts: 5, page: "Home", userId: null }],
        "absent is null; undeclared is dropped",
      );
      assert.deepEqual(
        rejected.map((record) => [record.line, record.reason, record.text]),
        [
          [1, `'ts' is "soon", expected an integer`, long],
          [3, "'ts' is an array, expected an integer", deepTs],
        ],
      );
    });
  });

  it("reads many small files, a few ahead of the one being parsed, with every line's origin", async () => {
    await withTempDir(async (folder) => {
      const count = 300;
      for (let index = 0; index < count; index++) {
        const body =
          index % 50 === 7
            ? "{broken\n"
            : `{"n":${index}}\n${index % 3 === 0 ? `{"n":${index + 1000}}` : ""}`;
        await writeFile(join(folder, `f${String(index).padStart(4, "0")}.json`), body);
      }
      const { records, rejected } = await readAllSplits(jsonLines<{ n: number }>(join(folder, "*.json")));
      const expected: number[] = [];
      for (let index = 0; index < count; index++) {
        if (index % 50 === 7) continue;
        expected.push(index);
        if (index % 3 === 0) expected.push(index + 1000);
      }
      assert.deepEqual(
        records.map((record) => record.n),
        expected,
      );
      assert.deepEqual(
        rejected.map((record) => `${record.source.slice(folder.length + 1)}:${record.line}`),
        ["f0007.json:1", "f0057.json:1", "f0107.json:1", "f0157.json:1", "f0207.json:1", "f0257.json:1"],
      );
    });
  });
});

describe("JSON documents", () => {
  it("reads one value per file, elements of top-level arrays (streamed when large), and rejects bad files", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "a.json"), JSON.stringify({ id: "a" }));
      await writeFile(join(folder, "b.json"), JSON.stringify([{ id: "b1" }, { id: "b2" }]));
      await writeFile(join(folder, "c.json"), "{broken");
      const big = Array.from({ length: 5000 }, (_, index) => ({ id: `big${index}` }));
      await writeFile(join(folder, "d.json"), JSON.stringify(big));
      await writeFile(join(folder, "_SUCCESS"), "");
      const source = jsonDocuments<{ id: string }>(join(folder, "*.json"), {
        streamAboveBytes: 10_000,
        filesPerSplit: 2,
      });
      const { records, rejected } = await readAllSplits(source);
      assert.deepEqual(
        records.map((record) => record.id),
        ["a", "b1", "b2", ...big.map((record) => record.id)],
      );
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]!.source, join(folder, "c.json"));
      assert.match(rejected[0]!.reason, /^not valid JSON/);
    });
  });
});

describe("JSON documents' splits", () => {
  const fileArbitrary = fc.record({
    uri: fc.constantFrom("s3://b/a.json", "/in/b.json", "/in/c.json.gz"),
    size: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 0, max: 40 * 1024 * 1024 })),
  });

  it("take consecutive files until the next would pass MAX_FILES_PER_SPLIT, two splits per thread, or splitBytesFor", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fileArbitrary, { maxLength: 300 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 20_000 }),
        async (sample, parallelism, extraSmallFiles) => {
          // Many small documents, as a song catalogue is, after the drawn ones.
          const files = [
            ...sample,
            ...Array.from({ length: extraSmallFiles }, (_, index) => ({
              uri: `/s/${index}.json`,
              size: 250,
            })),
          ];
          const splits = (await jsonDocuments("unused/*.json", { files }).splits({ parallelism })) as [
            string,
            number,
          ][][];
          const text = (uri: string, size: number) => (uri.endsWith(".gz") ? 8 * size : size);
          const maxFiles = Math.min(
            MAX_FILES_PER_SPLIT,
            Math.max(1, Math.ceil(files.length / (2 * parallelism))),
          );
          const maxBytes = splitBytesFor(
            files.reduce((total, file) => total + text(file.uri, file.size), 0),
            parallelism,
          );
          assert.deepEqual(
            splits.flat(),
            files.map((file) => [file.uri, file.size]),
            "every file once, in order",
          );
          const bytesOf = (split: [string, number][]) =>
            split.reduce((total, [uri, size]) => total + text(uri, size), 0);
          for (const [index, split] of splits.entries()) {
            assert.ok(split.length >= 1 && split.length <= maxFiles);
            if (split.length > 1)
              assert.ok(bytesOf(split) <= maxBytes, "within the bytes, or one file alone");
            const next = splits[index + 1]?.[0];
            if (next)
              assert.ok(
                split.length === maxFiles || bytesOf(split) + text(next[0], next[1]) > maxBytes,
                "cut only where the next file does not fit",
              );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("200,000 song files make a few dozen splits, not hundreds; filesPerSplit sets the count", async () => {
    const songs = Array.from({ length: 200_000 }, (_, index) => ({ uri: `/songs/${index}.json`, size: 250 }));
    const splits = await jsonDocuments("unused/*.json", { files: songs }).splits({ parallelism: 2 });
    assert.equal(splits.length, Math.ceil(200_000 / MAX_FILES_PER_SPLIT));
    const fixed = await jsonDocuments("unused/*.json", { files: songs, filesPerSplit: 1000 }).splits({
      parallelism: 2,
    });
    assert.equal(fixed.length, 200);
  });
});

describe("local listings", () => {
  it("follow symbolic links to folders and files, and name a link loop or a link to nothing", async () => {
    await withTempDir(async (folder) => {
      const { symlink } = await import("node:fs/promises");
      await mkdir(join(folder, "elsewhere/2018"), { recursive: true });
      await writeFile(join(folder, "elsewhere/2018/a.json"), "{}");
      await writeFile(join(folder, "elsewhere/b.json"), "{}");
      await mkdir(join(folder, "in/log_data"), { recursive: true });
      await symlink(join(folder, "elsewhere/2018"), join(folder, "in/log_data/2018"));
      await symlink(join(folder, "elsewhere/b.json"), join(folder, "in/log_data/b.json"));
      const listed = await listFiles(join(folder, "in/log_data/**/*.json"));
      assert.deepEqual(
        listed.map((entry) => [entry.relativePath, entry.size]),
        [
          ["2018/a.json", 2],
          ["b.json", 2],
        ],
      );
      await symlink(join(folder, "in"), join(folder, "in/log_data/2018-loop"));
      await assert.rejects(
        listFiles(join(folder, "in/**/*.json")),
        /in\/log_data\/2018-loop is a symbolic link loop/,
      );
      await rm(join(folder, "in/log_data/2018-loop"));
      await symlink(join(folder, "gone"), join(folder, "in/log_data/c.json"));
      await assert.rejects(
        listFiles(join(folder, "in/**/*.json")),
        /in\/log_data\/c\.json is a symbolic link to nothing that can be read \(ENOENT\)/,
      );
    });
  });

  it("name a file listed and gone before it was read (removed or rotated during the run), plain, large or gzip", async () => {
    await withTempDir(async (folder) => {
      const line = `${JSON.stringify({ a: 1, pad: "x".repeat(200) })}\n`;
      const files: [string, string | Buffer][] = [
        ["small.json", line.repeat(10)],
        // Past the size read in one call: streamed from a byte range.
        ["large.json", line.repeat(20_000)],
        ["packed.json.gz", gzipSync(line.repeat(10))],
      ];
      for (const [name, body] of files) {
        await writeFile(join(folder, name), body);
        const source = jsonLines(join(folder, name));
        const [split] = await source.splits();
        await rm(join(folder, name));
        const { context } = collectingContext();
        await assert.rejects(
          (async () => {
            for await (const _batch of source.read(split!, context));
          })(),
          new RegExp(
            `^Error: \\S+/${name.replaceAll(".", "\\.")} was listed when the run began and is gone now: it was removed or renamed while the run read its input`,
          ),
          name,
        );
      }
    });
  });

  it("a JSON-lines table refuses a record JSON cannot write, naming the record and where in it", async () => {
    await withTempDir(async (folder) => {
      const looped: Record<string, unknown> = { id: 7 };
      looped.self = looped;
      const cases: [unknown, RegExp][] = [
        [
          { id: 1, plays: 10n },
          /transform 'write\(t\)' failed on record \{"id":1,"plays":"10n"\}: JSON cannot write it: a bigint at \.plays; convert it first/,
        ],
        [
          looped,
          /transform 'write\(t\)' failed on record \{"id":7,"self":"\[seen\]"\}: JSON cannot write it: a reference to a value that holds it \(a cycle\) at \.self;/,
        ],
      ];
      for (const [record, message] of cases) {
        const p = new Pipeline();
        p.fromArray([{ id: 0 }, record]).write(
          new Lake(join(folder, "lake"), { mode: "overwrite" }).jsonLines("t"),
        );
        await assert.rejects(runDirect(p, {}), (error: Error) => {
          assert.match(error.message, message);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        });
      }
    });
  });

  it("refuse a compressed file whose name does not say so, naming the format, rather than reject its every line", async () => {
    await withTempDir(async (folder) => {
      const lines = `${JSON.stringify({ a: 1 })}\n`.repeat(50);
      const zstdFrame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]);
      const cases: [string, Buffer, "lines" | "documents" | "streamed documents", RegExp][] = [
        [
          "events.json",
          gzipSync(lines),
          "lines",
          /events\.json is gzip-compressed, and its name does not say so: rename it to end in \.gz to have it read, or move it out of the input$/,
        ],
        [
          "frame.json",
          zstdFrame,
          "lines",
          /frame\.json is zstd-compressed, and its name does not say so: uncompress it/,
        ],
        [
          "twice.json.gz",
          gzipSync(gzipSync(lines)),
          "lines",
          /twice\.json\.gz: what it holds, once uncompressed, is gzip-compressed again: compress its content once/,
        ],
        [
          "song.json",
          gzipSync(JSON.stringify({ song_id: "S1" })),
          "documents",
          /song\.json is gzip-compressed, and its name does not say so/,
        ],
        // Past the size read whole, a document is streamed as an array's elements.
        [
          "songs.json",
          gzipSync(JSON.stringify(Array.from({ length: 2_000 }, (_, index) => ({ song_id: `S${index}` })))),
          "streamed documents",
          /songs\.json is gzip-compressed, and its name does not say so/,
        ],
      ];
      for (const [name, body, kind, message] of cases) {
        await writeFile(join(folder, name), body);
        const path = join(folder, name);
        const source =
          kind === "lines"
            ? jsonLines(path)
            : jsonDocuments(path, kind === "streamed documents" ? { streamAboveBytes: 1024 } : {});
        const { context, rejected } = collectingContext();
        await assert.rejects(
          (async () => {
            for (const split of await source.splits())
              for await (const _batch of source.read(split, context));
          })(),
          message,
          name,
        );
        assert.equal(rejected.length, 0, `${name}: no line of it rejected`);
      }
    });
  });

  it("refuse JSON in UTF-16 or UTF-32, naming the encoding and how to convert it, and read UTF-8 with a byte order mark", async () => {
    await withTempDir(async (folder) => {
      const lines = `${JSON.stringify({ a: "é" })}\n`.repeat(50);
      const document = JSON.stringify({ song_id: "S1", title: "Ça" });
      const songs = JSON.stringify(Array.from({ length: 2_000 }, (_, index) => ({ song_id: `S${index}` })));
      const utf16be = (text: string) => Buffer.from(text, "utf16le").swap16();
      const utf32le = (text: string) =>
        Buffer.concat([...text].map((char) => Buffer.from(new Uint32Array([char.codePointAt(0)!]).buffer)));
      const bom16le = Buffer.from([0xff, 0xfe]);
      const cases: [string, Buffer, "lines" | "documents" | "streamed documents", RegExp][] = [
        [
          "events.json",
          Buffer.concat([bom16le, Buffer.from(lines, "utf16le")]),
          "lines",
          /events\.json is text in UTF-16 \(little-endian, with a byte order mark\), and JSON is read as UTF-8: convert it \(iconv -f UTF-16 -t UTF-8\), or move it out of the input$/,
        ],
        [
          "plain.json",
          Buffer.from(lines, "utf16le"),
          "lines",
          /plain\.json is text in UTF-16 \(little-endian\).*iconv -f UTF-16LE/,
        ],
        [
          "wide.json",
          utf32le(lines),
          "lines",
          /wide\.json is text in UTF-32 \(little-endian\).*iconv -f UTF-32LE/,
        ],
        [
          "song.json",
          utf16be(document),
          "documents",
          /song\.json is text in UTF-16 \(big-endian\).*iconv -f UTF-16BE/,
        ],
        [
          "songs.json",
          Buffer.concat([bom16le, Buffer.from(songs, "utf16le")]),
          "streamed documents",
          /songs\.json is text in UTF-16 \(little-endian, with a byte order mark\)/,
        ],
      ];
      const sourceOf = (path: string, kind: (typeof cases)[number][2]) =>
        kind === "lines"
          ? jsonLines(path)
          : jsonDocuments(path, kind === "streamed documents" ? { streamAboveBytes: 1024 } : {});
      const readAllOf = async (source: ReturnType<typeof sourceOf>) => {
        const { context, rejected } = collectingContext();
        const records: unknown[] = [];
        for (const split of await source.splits())
          for await (const batch of source.read(split, context)) records.push(...batch.records);
        return { records, rejected };
      };
      for (const [name, body, kind, message] of cases) {
        const path = join(folder, name);
        await writeFile(path, body);
        await assert.rejects(readAllOf(sourceOf(path, kind)), message, name);
      }
      // UTF-8 with a byte order mark, as some editors save it, is read.
      const bom8 = Buffer.from([0xef, 0xbb, 0xbf]);
      await writeFile(join(folder, "bom-lines.json"), Buffer.concat([bom8, Buffer.from(lines)]));
      const read = await readAllOf(sourceOf(join(folder, "bom-lines.json"), "lines"));
      assert.equal(read.records.length, 50);
      assert.equal(read.rejected.length, 0);
      await writeFile(join(folder, "bom-song.json"), Buffer.concat([bom8, Buffer.from(document)]));
      assert.deepEqual((await readAllOf(sourceOf(join(folder, "bom-song.json"), "documents"))).records, [
        JSON.parse(document),
      ]);
    });
  });

  it("do not read a file cut short after it was listed in byte ranges of two contents; one appended to is read as listed", async () => {
    await withTempDir(async (folder) => {
      const path = join(folder, "events.json");
      const lines = (count: number, from: number) =>
        Array.from({ length: count }, (_, index) => `${JSON.stringify({ ts: from + index })}\n`).join("");
      const read = async (source: ReturnType<typeof jsonLines>) => {
        const { context } = collectingContext();
        const seen: number[] = [];
        for (const split of await source.splits())
          for await (const batch of source.read(split, context))
            for (const record of batch.records) seen.push((record as { ts: number }).ts);
        return seen.sort((a, b) => a - b);
      };
      await writeFile(path, lines(2000, 0));
      const listed = await listFiles(path);
      // Appended to, as a log being written: every range sees the listed bytes alike.
      await appendFile(path, lines(10, 5000));
      assert.deepEqual(await read(jsonLines(path, { splitBytes: 4096, files: listed })), [
        ...Array(2000).keys(),
      ]);
      // Rewritten, as a rotation that copies and truncates does: shorter, other lines at other offsets.
      await writeFile(path, lines(1500, 100_000));
      await assert.rejects(
        read(jsonLines(path, { splitBytes: 4096, files: listed })),
        /^Error: \S+\/events\.json was changed after the run listed it: its parts, read by several tasks, could come from two contents; run again once the input holds still$/,
      );
      // Rewritten at the listed size, other values in the same bytes: told by its modification time.
      await writeFile(path, lines(2000, 0));
      const relisted = await listFiles(path);
      await writeFile(path, lines(2000, 0).replaceAll('"ts":1', '"ts":9'));
      await utimes(path, new Date(), new Date(Date.now() + 5_000));
      await assert.rejects(
        read(jsonLines(path, { splitBytes: 4096, files: relisted })),
        /^Error: \S+\/events\.json was changed after the run listed it/,
      );
      // Replaced by a longer file renamed over it (as a rotation that moves a new file in does):
      // longer, as a log appended to is, but another file, which its inode tells.
      await writeFile(path, lines(2000, 0));
      const listedBeforeRename = await listFiles(path);
      await writeFile(join(folder, "next.json"), lines(2500, 200_000));
      await rename(join(folder, "next.json"), path);
      await assert.rejects(
        read(jsonLines(path, { splitBytes: 4096, files: listedBeforeRename })),
        /^Error: \S+\/events\.json was changed after the run listed it/,
      );
    });
  });

  it("a JSON-lines file read as documents is rejected whole, saying which reader takes it", async () => {
    await withTempDir(async (folder) => {
      await writeFile(join(folder, "lines.json"), '{"a": 5}\n{"a": 6}\n');
      await writeFile(join(folder, "broken.json"), '{"a": 4,}\n');
      const source = jsonDocuments(join(folder, "*.json"));
      const { context, rejected } = collectingContext();
      for (const split of await source.splits()) for await (const _batch of source.read(split, context));
      assert.deepEqual(
        rejected.map((record) => [record.source.split("/").at(-1), record.reason.replace(/\(.*\)/, "(...)")]),
        [
          ["broken.json", "not valid JSON (...)"],
          [
            "lines.json",
            "not valid JSON (...): the file holds one JSON value per line, which jsonLines reads",
          ],
        ],
      );
    });
  });

  it("name a named pipe the pattern takes in (reading it would wait forever), and pass by one it does not", async () => {
    await withTempDir(async (folder) => {
      await mkdir(join(folder, "in/2018"), { recursive: true });
      await writeFile(join(folder, "in/2018/a.json"), '{"a": 1}\n');
      execFileSync("mkfifo", [join(folder, "in/2018/b.json"), join(folder, "in/feed.sock")]);
      await assert.rejects(
        listFiles(join(folder, "in/**/*.json")),
        /^Error: \S+\/in\/2018\/b\.json is a named pipe, not a file: move it away, or narrow the input's pattern$/,
      );
      // Through a link too; the one the pattern leaves out is no input.
      await rm(join(folder, "in/2018/b.json"));
      await symlink(join(folder, "in/feed.sock"), join(folder, "in/2018/c.json"));
      await assert.rejects(listFiles(join(folder, "in/**/*.json")), /in\/2018\/c\.json is a named pipe/);
      await rm(join(folder, "in/2018/c.json"));
      const listed = await listFiles(join(folder, "in/**/*.json"));
      assert.deepEqual(
        listed.map((entry) => entry.relativePath),
        ["2018/a.json"],
      );
      const p = new Pipeline();
      const { outputs } = await runDirect(p, {
        rows: p.read(jsonLines(join(folder, "in/**/*.json"))).collect(),
      });
      assert.deepEqual(outputs.rows, [{ a: 1 }]);
      // Named as the input itself: it exists, so "no file there" would send the user looking elsewhere.
      await assert.rejects(
        listFiles(join(folder, "in/feed.sock")),
        /^Error: \S+\/in\/feed\.sock is a named pipe, not a file/,
      );
    });
  });

  const segment = fc.constantFrom("a", "b", "_hidden", ".dot", "deep");
  const fileName = fc.constantFrom("x.json", "y.json", "z.txt", "_SUCCESS", ".keep.json");
  const tree = fc.uniqueArray(
    fc
      .tuple(fc.array(segment, { maxLength: 3 }), fileName)
      .map(([folders, name]) => [...folders, name].join("/")),
    { maxLength: 12 },
  );
  const globs = ["**/*.json", "*/*.json", "a/**/*.json", "**/deep/*.json", "b", "nothing/**/*.json", ""];

  it("finds a match exactly when the full listing is not empty, and lists sorted, without hidden files", async () => {
    await fc.assert(
      fc.asyncProperty(tree, async (paths) => {
        await withTempDir(async (folder) => {
          for (const path of paths) {
            const file = join(folder, "in", path);
            await mkdir(dirname(file), { recursive: true }).catch(() => undefined);
            await writeFile(file, "{}").catch(() => undefined); // a path may already be a folder
          }
          for (const glob of globs) {
            const uri = glob ? join(folder, "in", glob) : join(folder, "in");
            const listed = await listFiles(uri);
            assert.equal(await anyFileMatches(uri), listed.length > 0, uri);
            const uris = listed.map((entry) => entry.uri);
            assert.deepEqual(uris, [...uris].sort(), "sorted by path");
            for (const entry of listed) assert.ok(!isHidden(entry.relativePath), entry.relativePath);
          }
        });
      }),
      { numRuns: 40 },
    );
  });
});

describe("an input that lists no file", () => {
  it("fails when the source names it literally, reads nothing through a wildcard, and does as `required` says", async () => {
    await withTempDir(async (folder) => {
      await mkdir(join(folder, "empty"));
      await writeFile(join(folder, "one.jsonl"), '{"a":1}\n');
      const read = async (source: Parameters<Pipeline["read"]>[0], required?: boolean) => {
        const p = new Pipeline();
        const records = p.read(source, required === undefined ? "input" : { name: "input", required });
        return (await runDirect(p, { records: records.collect() })).outputs.records;
      };
      const literal =
        /^SluiceError: 'input' found no file under .*: it does not exist or holds no file\. Check the path; where an empty input is expected, read it with \{ required: false \}$/;
      for (const uri of [join(folder, "misspelt"), join(folder, "empty"), join(folder, "misspelt.jsonl")]) {
        for (const source of [jsonLines(uri), jsonDocuments(uri), parquetDataset(uri)]) {
          await assert.rejects(read(source), literal, uri);
          assert.deepEqual(await read(source, false), [], uri);
          await assert.rejects(
            read(source, true),
            /^SluiceError: 'input' found nothing to read: no file matches /,
            uri,
          );
        }
      }
      // A wildcard that matches nothing reads nothing; a list of files given (empty) is the caller's.
      assert.deepEqual(await read(jsonLines(join(folder, "empty/*.jsonl"))), []);
      assert.deepEqual(await read(jsonLines(join(folder, "misspelt"), { files: [] })), []);
      // A literal file or folder that holds one is read.
      assert.deepEqual(await read(jsonLines(join(folder, "one.jsonl"))), [{ a: 1 }]);
      assert.deepEqual(await read(jsonLines(folder)), [{ a: 1 }]);
    });
  });
});
