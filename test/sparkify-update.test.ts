/**
 * Daily loads (`--mode update`): whatever way the same input files are grouped into runs (a day a
 * run, several at once, in any order, a day split across two runs, re-delivered lines, late files
 * for old days), the lake ends with the five tables of one full load, songplay_id included; a run
 * killed or failed at any step of its commit leaves tables and the record of loaded files as they
 * were, together, and the next run completes; nothing new changes nothing; a changed file stops.
 */
import assert from "node:assert/strict";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { dayPartition, playDays } from "../src/pipelines/sparkify-days.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import {
  decideLoad,
  RECORD_PARTS_BEFORE_WHOLE,
  readLakeLoads,
  recordAfter,
} from "../src/pipelines/sparkify-loads.js";
import type { LoadedFile } from "../src/pipelines/sparkify-state.js";
import { s3Client } from "../src/io/index.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { tableDigests } from "./support/digests.js";
import { literal, query } from "./support/duckdb.js";
import { downloadPrefix, freshBucket, objectListing, s3Settings, s3Unavailable } from "./support/s3.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const command = join(root, "dist/pipelines/sparkify.js");

function sparkifyCommand(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [command, ...args, "--quiet"], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** The command in update mode from `input` into `output`, with more arguments and environment. */
function update(input: string, output: string, more: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return sparkifyCommand(["--input", input, "--output", output, "--mode", "update", ...more], env);
}

/**
 * Generated days of logs and songs, made messy the way deliveries are: one day's file repeated in
 * part under another name (re-delivered lines), and one day cut in two files at a millisecond's
 * edge (a late second half). Returns the folder and its log files, relative to it.
 */
async function messyInput(
  folder: string,
): Promise<{ input: string; songFiles: string[]; logFiles: string[] }> {
  const input = join(folder, "all");
  await generateSparkifyInput({ songs: 40, events: 2500, days: 6, seed: 7, matchShare: 0.5, output: input });
  const days = join(input, "log_data/2018/11");
  const names = (await readdir(days)).sort();
  const third = (await readFile(join(days, names[2]!), "utf8")).split("\n").filter((line) => line !== "");
  await writeFile(
    join(days, "2018-11-03-redelivered.json"),
    `${third.filter((_, index) => index % 5 === 0).join("\n")}\n`,
  );
  const fifthPath = join(days, names[4]!);
  const fifth = (await readFile(fifthPath, "utf8")).split("\n").filter((line) => line !== "");
  const tsOf = (line: string) => (JSON.parse(line) as { ts: number }).ts;
  let cut = Math.floor(fifth.length / 2);
  while (cut < fifth.length && tsOf(fifth[cut]!) === tsOf(fifth[cut - 1]!)) cut++;
  await writeFile(fifthPath, `${fifth.slice(0, cut).join("\n")}\n`);
  await writeFile(join(days, "2018-11-05-late.json"), `${fifth.slice(cut).join("\n")}\n`);
  const relativeFiles = async (under: string): Promise<string[]> =>
    (await readdir(join(input, under), { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(input.length + 1))
      .sort();
  return { input, songFiles: await relativeFiles("song_data"), logFiles: await relativeFiles("log_data") };
}

/** The messy input, its full load's table digests, and an empty folder to deliver its files into. */
async function scenario(folder: string) {
  const messy = await messyInput(folder);
  const full = join(folder, "full");
  await sparkify({ input: messy.input, output: full, mode: "overwrite" }, { runner: "direct" });
  return { ...messy, expected: await tableDigests(full), delivered: join(folder, "input") };
}

/** Copies `files` from `from` into `to`, as a delivery adds them to the input folder. */
async function deliver(from: string, to: string, files: readonly string[]): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(join(from, file), join(to, file));
  }
}

/** Cuts `items` into consecutive groups at the given cut points (taken modulo the length). */
function groupsOf<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((cut) => 1 + (cut % Math.max(1, items.length - 1))))]
    .filter((point) => point < items.length)
    .sort((a, b) => a - b);
  const groups: T[][] = [];
  let start = 0;
  for (const point of [...points, items.length]) {
    groups.push(items.slice(start, point));
    start = point;
  }
  return groups.filter((group) => group.length > 0);
}

describe("daily loads", () => {
  it("find the days of the new plays as parsing every line would, whatever the lines' layout (spacing, member order, escapes, names that hold a ts, gzip, broken lines)", async () => {
    const event = fc.record({
      ts: fc.oneof(
        fc.integer({ min: 1_500_000_000_000, max: 1_600_000_000_000 }),
        fc.integer({ min: 1_500_000_000, max: 1_600_000_000 }).map((seconds) => seconds * 1000 + 0.5),
      ),
      artist: fc.oneof(fc.string(), fc.constantFrom('"ts":1234567890123', "ts\\", "é\u00e9", '\\"ts\\":1')),
      page: fc.constantFrom("NextSong", "Home"),
    });
    const line = fc
      .tuple(event, fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 9 }))
      .map(([value, spaced, reordered, breakage]) => {
        const ordered = reordered ? { artist: value.artist, page: value.page, ts: value.ts } : value;
        // A broken line is no play: the day of a ts in it may be read (a day too many), or not.
        if (breakage === 0) return { text: '{"ts": 1541105830796, "artist": "cut off', ts: undefined };
        // \u escapes in the key itself: the pattern cannot see it, the fallback parse must.
        if (breakage === 1)
          return { text: JSON.stringify(ordered).replace('"ts"', '"\\u0074s"'), ts: value.ts };
        return {
          text: JSON.stringify(ordered, null, spaced ? 1 : undefined).replace(/\n\s*/g, " "),
          ts: value.ts,
        };
      });
    await withTempDir(async (folder) => {
      let file = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(line, { maxLength: 30 }), { minLength: 1, maxLength: 3 }),
          fc.boolean(),
          async (files, gzipped) => {
            const listed = [];
            const expected = new Set<string>();
            for (const lines of files) {
              const text = lines.map((entry) => entry.text).join("\n");
              const path = join(folder, `log-${file++}.json${gzipped ? ".gz" : ""}`);
              await writeFile(path, gzipped ? gzipSync(text) : text);
              listed.push({ uri: path, size: text.length });
              for (const entry of lines) if (entry.ts !== undefined) expected.add(dayPartition(entry.ts));
            }
            const found = await playDays({ logFiles: listed });
            const spare = dayPartition(1541105830796);
            assert.deepEqual(
              found.filter((day) => day !== spare || expected.has(day)),
              [...expected].sort(),
            );
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  it("keep a record of every file loaded, in path order, whatever files a load adds or changes", () => {
    // Paths of a few characters over a small alphabet: shared prefixes, "/" against "-" and ".".
    const path = fc
      .array(fc.constantFrom("a", "b", "/", "-", ".", "é"), { minLength: 1, maxLength: 5 })
      .map((chars) => chars.join(""));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(path, fc.nat(3), fc.boolean()), {
          selector: ([name]) => name,
          maxLength: 40,
        }),
        (files) => {
          // Each path loaded before (first member false), or new; one loaded before may have grown.
          const previous: LoadedFile[] = files
            .filter(([, , isNew]) => !isNew)
            .map(([name, size]) => ({ path: name, size, version: "v1", run: "before" }))
            .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
          const listed = files.map(([name, size, isNew], index) => ({
            uri: `/input/${name}`,
            relativePath: name,
            size: !isNew && index % 4 === 0 ? size + 1 : size,
            version: "v1",
          }));
          const decision = decideLoad(listed, previous, "now", true);
          const record = recordAfter(previous, decision);
          const changed = new Set(decision.changed.map((file) => file.relativePath));
          const model = files
            .map(([name, , isNew], index) => ({
              path: name,
              size: listed[index]!.size,
              version: "v1",
              run: isNew || changed.has(name) ? "now" : "before",
            }))
            .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
          assert.deepEqual(record, model);
          assert.deepEqual(
            decision.newlyLoaded,
            model.filter((file) => file.run === "now"),
          );
          assert.equal(decision.added.length, files.filter(([, , isNew]) => isNew).length);
          assert.equal(decision.unchanged + changed.size, previous.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("give the tables of one full load, songplay_id included, however the files are grouped into runs", async () => {
    await withTempDir(async (folder) => {
      const { input, songFiles, logFiles, expected } = await scenario(folder);
      let runIndex = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray(logFiles, { minLength: logFiles.length, maxLength: logFiles.length }),
          fc.array(fc.nat(), { maxLength: 3 }),
          async (order, cuts) => {
            const run = join(folder, `run-${runIndex++}`);
            const delivered = join(run, "input");
            const output = join(run, "lake");
            const groups = groupsOf(order, cuts);
            await deliver(input, delivered, songFiles);
            for (const group of groups) {
              await deliver(input, delivered, group);
              const result = await sparkify(
                { input: delivered, output, mode: "update" },
                { runner: "direct" },
              );
              assert.equal(result.loadedFiles, group.length + (group === groups[0] ? songFiles.length : 0));
            }
            assert.deepEqual(await tableDigests(output), expected, `groups: ${JSON.stringify(groups)}`);
          },
        ),
        { numRuns: 6 },
      );
    });
  });

  it("read a record of loaded files whatever its line endings and blank lines", async () => {
    await withTempDir(async (folder) => {
      const record = join(folder, "lake", "_sluice", "loaded");
      await mkdir(record, { recursive: true });
      const file = (path: string) => ({ path, size: 1, version: "v", run: "r" });
      const line = (path: string) => JSON.stringify(file(path));
      await writeFile(join(record, "part-commit.jsonl"), `${line("a")}\n${line("b")}\n`);
      await writeFile(join(record, "part-2.jsonl"), `${line("c")}\r\n\r\n${line("d")}\r\n`);
      await writeFile(join(record, "part-3.jsonl"), `\n${line("e\nf")}\n\n`);
      await writeFile(join(record, "_SUCCESS"), "");
      // The lake's other tables, empty: an update requires each of them.
      for (const table of [
        "songs",
        "artists",
        "users",
        "time",
        "songplays",
        "_sluice/plays",
        "_sluice/songs",
        "_sluice/users",
      ]) {
        await mkdir(join(folder, "lake", table), { recursive: true });
        await writeFile(join(folder, "lake", table, "_SUCCESS"), "");
      }
      const loads = await readLakeLoads(join(folder, "lake"), {}, "20261201T000000-000000");
      assert.deepEqual(loads.files.map((loaded) => loaded.path).sort(), ["a", "b", "c", "d", "e\nf"]);
      assert.equal(loads.recordParts, 3);
    });
  });

  it("keep the record of loaded files in a part per daily load, written whole again after the set number of parts", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "all");
      const days = RECORD_PARTS_BEFORE_WHOLE + 2;
      await generateSparkifyInput({ songs: 5, events: 3 * days, days, seed: 11, output: input });
      const full = join(folder, "full");
      await sparkify({ input, output: full, mode: "overwrite" }, { runner: "direct" });
      const logs = (await readdir(join(input, "log_data"), { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(input.length + 1))
        .sort();
      const songs = (await readdir(join(input, "song_data"), { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(input.length + 1));
      const delivered = join(folder, "input");
      const output = join(folder, "lake");
      const record = join(output, "_sluice/loaded");
      await deliver(input, delivered, [...songs, logs[0]!]);
      const partsSeen: number[] = [];
      for (const [index, log] of logs.entries()) {
        if (index > 0) await deliver(input, delivered, [log]);
        await sparkify({ input: delivered, output, mode: "update" }, { runner: "direct" });
        const parts = (await readdir(record)).filter((name) => name.endsWith(".jsonl"));
        partsSeen.push(parts.length);
        // The record holds every file delivered, once, whatever parts it is kept in.
        const paths = (await Promise.all(parts.map((name) => readFile(join(record, name), "utf8"))))
          .flatMap((text) => text.split("\n").filter((line) => line !== ""))
          .map((line) => (JSON.parse(line) as { path: string }).path);
        assert.deepEqual(
          paths.sort(),
          [...songs, ...logs.slice(0, index + 1)].sort(),
          `after load ${index + 1}`,
        );
      }
      // A first load writes it whole; each daily load adds a part until there are as many as set.
      const expectedParts = logs.map((_, index) => (index % RECORD_PARTS_BEFORE_WHOLE) + 1);
      assert.deepEqual(partsSeen, expectedParts);
      assert.deepEqual(await tableDigests(output), await tableDigests(full));
      // A compaction writes the record whole too, even when nothing is new and no table needs it.
      const recordParts = async () => (await readdir(record)).filter((name) => name.endsWith(".jsonl"));
      const compact = () =>
        sparkify({ input: delivered, output, mode: "update", compact: true }, { runner: "direct" });
      await compact();
      assert.equal((await recordParts()).length, 1, "the record whole, in one part");
      assert.deepEqual(await tableDigests(output), await tableDigests(full));
      // A day of a month of its own: every partition still one file, the record in two parts.
      const later = join(folder, "later");
      await generateSparkifyInput({
        songs: 1,
        events: 3,
        days: 1,
        startDate: "2019-03-05",
        seed: 12,
        output: later,
      });
      const laterLogs = (await readdir(join(later, "log_data"), { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(later.length + 1));
      await deliver(later, delivered, laterLogs);
      await sparkify({ input: delivered, output, mode: "update" }, { runner: "direct" });
      assert.equal((await recordParts()).length, 2);
      await compact();
      assert.equal((await recordParts()).length, 1, "the record whole, in one part");
    });
  });

  it("continue a millisecond's numbering when a later file adds plays to it, and keep one time row for it", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      const output = join(folder, "lake");
      await generateSparkifyInput({
        songs: 5,
        events: 20,
        days: 1,
        seed: 3,
        output: join(folder, "generated"),
      });
      await deliver(join(folder, "generated"), input, [
        ...(await readdir(join(folder, "generated"), { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile() && entry.parentPath.includes("song_data"))
          .map((entry) => join(entry.parentPath, entry.name).slice(join(folder, "generated").length + 1)),
      ]);
      const ts = 1_543_000_000_123;
      const play = (userId: string, itemInSession: number) =>
        JSON.stringify({ ts, page: "NextSong", userId, sessionId: 7, itemInSession, song: "s", artist: "a" });
      await mkdir(join(input, "log_data/2018/11"), { recursive: true });
      await writeFile(join(input, "log_data/2018/11/a.json"), `${play("1", 1)}\n`);
      assert.equal(update(input, output).status, 0);
      // A later file: another play of the same millisecond, and the first play delivered again.
      await writeFile(join(input, "log_data/2018/11/b.json"), `${play("0", 2)}\n${play("1", 1)}\n`);
      const second = update(input, output);
      assert.equal(second.status, 0, second.stderr);
      const glob = (table: string) => literal(`${output}/${table}/**/*.parquet`);
      const plays = await query(
        `SELECT user_id, songplay_id FROM read_parquet(${glob("songplays")}, hive_partitioning = true) ORDER BY songplay_id`,
      );
      assert.deepEqual(plays, [
        { user_id: "1", songplay_id: BigInt(ts * 2048) },
        { user_id: "0", songplay_id: BigInt(ts * 2048 + 1) },
      ]);
      const times = await query(
        `SELECT count(*) AS n FROM read_parquet(${glob("time")}, hive_partitioning = true)`,
      );
      assert.equal(Number(times[0]!.n), 1);
    });
  });

  it("load nothing when nothing is new, and say so, leaving the lake as it was", async () => {
    await withTempDir(async (folder) => {
      const { input } = await messyInput(folder);
      const output = join(folder, "lake");
      assert.equal(update(input, output).status, 0);
      const before = await tableDigests(output);
      const listing = await readdir(output, { recursive: true });
      const again = update(input, output);
      assert.equal(again.status, 0, again.stderr);
      assert.match(
        again.stdout,
        /nothing new to load \([\d,]+ file\(s\) loaded before\): the lake is as it was/,
      );
      assert.deepEqual(await tableDigests(output), before);
      assert.deepEqual((await readdir(output, { recursive: true })).sort(), listing.sort());
    });
  });

  it("stop at a file that changed since it was loaded, naming it, and change nothing, unless told to reload it", async () => {
    await withTempDir(async (folder) => {
      const { input, logFiles } = await messyInput(folder);
      const output = join(folder, "lake");
      assert.equal(update(input, output).status, 0);
      const before = await tableDigests(output);
      const changed = join(input, logFiles[1]!);
      // Corrected upstream: the file now holds the first half of its lines.
      const lines = (await readFile(changed, "utf8")).split("\n").filter((line) => line !== "");
      await writeFile(changed, `${lines.slice(0, Math.floor(lines.length / 2)).join("\n")}\n`);
      const run = update(input, output);
      assert.equal(run.status, 1);
      assert.match(run.stderr, new RegExp(`changed since they were loaded, for example ${logFiles[1]!}`));
      assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
      assert.deepEqual(await tableDigests(output), before);

      // --reload-changed replaces what the file contributed: the tables of a full load of the input as it is now.
      const full = join(folder, "full-now");
      await sparkify({ input, output: full, mode: "overwrite" }, { runner: "direct" });
      const moved = join(folder, "moved-away.json");
      await rename(join(input, logFiles[0]!), moved);
      const incomplete = update(input, output, ["--reload-changed"]);
      assert.equal(incomplete.status, 1);
      assert.match(incomplete.stderr, /1 file\(s\) loaded before are no longer in it, for example log_data/);
      await rename(moved, join(input, logFiles[0]!));
      const reload = update(input, output, ["--reload-changed"]);
      assert.equal(reload.status, 0, reload.stderr);
      assert.match(reload.stdout, new RegExp(`reloaded +1 changed file\\(s\\), e.g. ${logFiles[1]!}`));
      const expectedNow = await tableDigests(full);
      assert.notDeepEqual(expectedNow, before, "the change changes the tables");
      assert.deepEqual(await tableDigests(output), expectedNow);
      const after = update(input, output);
      assert.match(after.stdout, /nothing new to load/);
    });
  });

  it("refuse to update a lake whose tables have no record of what they were loaded from", async () => {
    await withTempDir(async (folder) => {
      const { input } = await messyInput(folder);
      const output = join(folder, "lake");
      assert.equal(sparkifyCommand(["--input", input, "--output", output, "--mode", "overwrite"]).status, 0);
      await rm(join(output, "_sluice", "loaded"), { recursive: true });
      const run = update(input, output);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /holds tables but no record of the files they were loaded from/);
    });
  });

  it("refuse to update a lake that lost a table, data or state, naming it, whether or not anything is new", async () => {
    await withTempDir(async (folder) => {
      const { input, logFiles } = await messyInput(folder);
      const output = join(folder, "lake");
      const late = join(input, logFiles.at(-1)!);
      const aside = join(folder, "late.json");
      await rename(late, aside);
      assert.equal(update(input, output).status, 0);
      const before = await tableDigests(output);
      // Each table moved away in turn (the last case with a new file to load), then put back.
      const cases: [tables: string[][], newFile: boolean][] = [
        [[["songplays"]], false],
        [[["_sluice", "users"]], false],
        [[["users"], ["_sluice", "plays"]], true],
      ];
      for (const [tables, newFile] of cases) {
        if (newFile) await rename(aside, late);
        const away = join(folder, "away");
        for (const [index, table] of tables.entries())
          await rename(join(output, ...table), `${away}${index}`);
        const run = update(input, output);
        assert.equal(run.status, 1, run.stdout);
        const named = tables.map((table) => `'${table.join("/")}'`).join(" and ");
        assert.match(
          run.stderr,
          new RegExp(
            `was loaded before \\(its record of loaded files is there\\), but its tables? ${named} (is|are) gone \\(no _SUCCESS\\): removed, or left out by a copy of the lake\\. A daily load goes on from every table`,
          ),
        );
        assert.match(run.stderr, /load the lake in full again with --mode overwrite/);
        assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
        for (const [index, table] of tables.entries())
          await rename(`${away}${index}`, join(output, ...table));
        assert.deepEqual(await tableDigests(output), before, "nothing changed");
      }
      // Put back, the lake loads the new file as before.
      const run = update(input, output);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /loaded +1 new file\(s\)/);
    });
  });

  it("stop at a state file or record of loaded files not as its commit left it (torn, cut at a line's end, gone), naming it, and change nothing", async () => {
    await withTempDir(async (folder) => {
      const { input } = await messyInput(folder);
      const output = join(folder, "lake");
      // The late half of a day arrives after the lake holds the day's first half: the second run
      // reads that day's loaded plays from the lake's state.
      const late = join(input, "log_data/2018/11/2018-11-05-late.json");
      const aside = join(folder, "late.json");
      await rename(late, aside);
      assert.equal(update(input, output).status, 0);
      await rename(aside, late);
      const before = await tableDigests(output);
      const keptFiles = (await readdir(join(output, "_sluice"), { recursive: true }))
        .filter((name) => name.endsWith(".jsonl") || name.endsWith("_SUCCESS"))
        .map((name) => join(output, "_sluice", name));
      const kept = new Map(
        await Promise.all(keptFiles.map(async (file) => [file, await readFile(file)] as const)),
      );
      const stateFile = (which: RegExp) =>
        [...kept.keys()].filter((file) => which.test(file) && file.endsWith(".jsonl"));
      /** Cuts each file matching `which` in the middle of a line, as a torn write leaves it. */
      const tear = async (which: RegExp) => {
        for (const file of stateFile(which)) {
          const bytes = kept.get(file)!;
          let cut = Math.floor(bytes.length / 2);
          while (bytes[cut - 1] === 0x0a) cut++;
          await writeFile(file, bytes.subarray(0, cut));
        }
      };
      /** Keeps the first half of each file's lines: whole lines, each of which parses. */
      const cutAtLineEnd = async (which: RegExp) => {
        for (const file of stateFile(which)) {
          const lines = kept
            .get(file)!
            .toString("utf8")
            .split("\n")
            .filter((line) => line !== "");
          assert.ok(lines.length >= 2, file);
          await writeFile(
            file,
            lines
              .slice(0, lines.length >> 1)
              .map((line) => `${line}\n`)
              .join(""),
          );
        }
      };
      const restore = async () => {
        for (const [file, bytes] of kept) await writeFile(file, bytes);
      };
      const fails = async (message: RegExp) => {
        const run = update(input, output);
        assert.equal(run.status, 1, run.stdout);
        assert.match(run.stderr, message);
        assert.match(run.stderr, /restore the file, or rebuild the output from the input/);
        assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
        assert.deepEqual(await tableDigests(output), before);
        await restore();
      };
      const notAsCommitted = (table: string) =>
        new RegExp(
          `^sparkify: error: \\S+/_sluice/${table}/[^ ]+\\.jsonl: holds [\\d,]+ bytes where its commit left [\\d,]+ bytes`,
        );

      // Lines lost whole, which parse (without the inventory the run went on: exit 0), and a
      // line torn in the middle.
      await cutAtLineEnd(/_sluice\/users\//);
      await fails(notAsCommitted("users"));
      await cutAtLineEnd(/_sluice\/songs\//);
      await fails(notAsCommitted("songs"));
      await cutAtLineEnd(/_sluice\/loaded\//);
      await fails(notAsCommitted("loaded"));
      const [playsOfDay] = stateFile(/_sluice\/plays\/day=2018-11-05\//);
      await rm(playsOfDay!);
      await fails(
        /^sparkify: error: \S+\/_sluice\/plays\/day=2018-11-05\/[^ ]+\.jsonl: missing \(its commit left [\d,]+ bytes\)/,
      );
      await tear(/_sluice\/plays\//);
      await fails(notAsCommitted("plays/day=2018-11-05"));

      // A lake written by an earlier version keeps no inventory: a torn line is still named.
      const emptyMarkers = async () => {
        for (const file of kept.keys()) if (file.endsWith("_SUCCESS")) await writeFile(file, "");
      };
      await emptyMarkers();
      await tear(/_sluice\/plays\//);
      await fails(
        /_sluice\/plays\/day=2018-11-05\/[^ ]+\.jsonl line \d+: not valid JSON \(.*\): the file holds what this pipeline kept from an earlier run, not input, so the record is not set aside as a rejected one/,
      );
      await emptyMarkers();
      await tear(/_sluice\/loaded\//);
      await fails(/_sluice\/loaded\/[^ ]+\.jsonl line \d+: not valid JSON \(/);

      const repaired = update(input, output);
      assert.equal(repaired.status, 0, repaired.stderr);
    });
  });

  for (const [fault, step] of [
    ["kill", "commit-started"],
    ["kill", "journal-written"],
    ["kill", "files-added:songplays"],
    ["kill", "table-moved-in:users"],
    ["kill", "files-added:_sluice/loaded"],
    ["kill", "success-written"],
    ["fail", "journal-written"],
    ["fail", "files-added:time"],
    ["fail", "success-written"],
  ] as const) {
    it(`${fault === "kill" ? "killed" : "failing"} at commit step ${step}: tables and record stay together, and the next run completes`, async () => {
      await withTempDir(async (folder) => {
        const { input, songFiles, logFiles, expected, delivered } = await scenario(folder);
        const output = join(folder, "lake");
        await deliver(input, delivered, [...songFiles, ...logFiles.slice(0, 3)]);
        assert.equal(update(delivered, output).status, 0);
        const before = await tableDigests(output);
        await deliver(input, delivered, logFiles.slice(3));
        const env =
          fault === "kill"
            ? { SLUICE_TEST_KILL_AT_COMMIT_STEP: step }
            : { SLUICE_TEST_FAIL_AT_COMMIT_STEP: step };
        const interrupted = update(delivered, output, [], env);
        if (fault === "kill") {
          assert.equal(interrupted.signal, "SIGKILL");
          if (step === "commit-started") {
            assert.deepEqual(
              await tableDigests(output),
              before,
              "killed before its commit: the tables as they were",
            );
          }
        } else {
          assert.equal(interrupted.status, 1);
          assert.match(interrupted.stderr, /the commit failed and was undone/);
          assert.deepEqual(
            await tableDigests(output),
            before,
            "a failed commit leaves the tables as they were",
          );
        }
        const next = update(delivered, output);
        assert.equal(next.status, 0, next.stderr);
        if (fault === "kill" && step !== "commit-started") {
          // Past the journal a killed commit is finished by the next run: its files were loaded.
          assert.match(next.stdout, /nothing new to load/);
        } else {
          // Before it, or undone, the load left nothing: the next run loads the same files.
          assert.match(next.stdout, /loaded +\d+ new file\(s\)/);
        }
        assert.deepEqual(await tableDigests(output), expected);
        const last = update(delivered, output);
        assert.match(last.stdout, /nothing new to load/);
      });
    });
  }

  it("compact a table's partitions into one file each, in the commit, readers seeing the same rows", async () => {
    await withTempDir(async (folder) => {
      const { input, songFiles, logFiles, expected, delivered } = await scenario(folder);
      const output = join(folder, "lake");
      await deliver(input, delivered, songFiles);
      for (const file of logFiles) {
        await deliver(input, delivered, [file]);
        const run = update(delivered, output);
        assert.equal(run.status, 0, run.stderr);
      }
      const filesPerPartition = async (table: string) => {
        const counts = new Map<string, number>();
        for (const entry of await readdir(join(output, table), { recursive: true })) {
          if (!entry.endsWith(".parquet")) continue;
          const partition = dirname(entry);
          counts.set(partition, (counts.get(partition) ?? 0) + 1);
        }
        return counts;
      };
      const before = await filesPerPartition("songplays");
      assert.ok(Math.max(...before.values()) > 1, "daily loads left several files in a partition");
      assert.deepEqual(await tableDigests(output), expected);
      // A kill after the old files were moved away, before the commit ended: the next run finishes it.
      const killed = update(delivered, output, ["--compact"], {
        SLUICE_TEST_KILL_AT_COMMIT_STEP: "files-removed:songplays",
      });
      assert.equal(killed.signal, "SIGKILL");
      const compact = update(delivered, output, ["--compact"]);
      assert.equal(compact.status, 0, compact.stderr);
      assert.deepEqual(await tableDigests(output), expected);
      for (const table of ["songplays", "time"]) {
        const after = await filesPerPartition(table);
        assert.deepEqual([...new Set(after.values())], [1], `${table}: one file per partition`);
      }
      const refused = sparkifyCommand(["--input", delivered, "--output", output, "--compact"]);
      assert.equal(refused.status, 2);
      assert.match(refused.stderr, /--compact applies to --mode update only/);
    });
  });

  it("work on S3 as on local folders", { skip: s3Unavailable }, async () => {
    await withTempDir(async (folder) => {
      const { input, songFiles, logFiles, expected, delivered } = await scenario(folder);
      const bucket = await freshBucket("update");
      const output = `s3://${bucket}/lake`;
      const s3Arguments = ["--s3-endpoint", s3Settings.endpoint!, "--s3-path-style"];
      await deliver(input, delivered, [...songFiles, ...logFiles.slice(0, 4)]);
      const first = update(delivered, output, s3Arguments);
      assert.equal(first.status, 0, first.stderr);
      await deliver(input, delivered, logFiles.slice(4));
      const second = update(delivered, output, s3Arguments);
      assert.equal(second.status, 0, second.stderr);
      const copy = await downloadPrefix(output, join(folder, "copy"));
      assert.deepEqual(await tableDigests(copy), expected);
      const partitionFiles = async () => {
        const keys = (await objectListing(bucket, "lake/songplays/"))
          .map((entry) => entry.split(" ")[0]!)
          .filter((key) => key.endsWith(".parquet"));
        return new Set(keys.map((key) => key.replace(/[^/]*$/, ""))).size === keys.length;
      };
      assert.equal(await partitionFiles(), false, "two loads left two files in a partition");
      const compact = update(delivered, output, ["--compact", ...s3Arguments]);
      assert.equal(compact.status, 0, compact.stderr);
      assert.equal(await partitionFiles(), true, "one file per partition once compacted");
      const compacted = await downloadPrefix(output, join(folder, "compacted"));
      assert.deepEqual(await tableDigests(compacted), expected);

      // The compaction wrote the record whole again: a new object, every file in it (its key was
      // the same at every such load, and the earlier object stood in for it, less the files of the
      // loads between).
      const loads = await readLakeLoads(output, s3Settings, "20261203T000000-000000");
      assert.equal(loads.recordParts, 1);
      assert.deepEqual(loads.files.map((file) => file.path).sort(), [...songFiles, ...logFiles].sort());

      // An object of the record of loaded files put back with its first lines only: each parses.
      const client = await s3Client(s3Settings);
      const [recordKey] = (await objectListing(bucket, "lake/_sluice/loaded/"))
        .map((entry) => entry.split(" ")[0]!)
        .filter((key) => key.endsWith(".jsonl"));
      const put = (body: string) =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: recordKey!, Body: body }));
      const whole = await (
        await client.send(new GetObjectCommand({ Bucket: bucket, Key: recordKey! }))
      ).Body!.transformToString();
      await put(`${whole.split("\n").slice(0, 2).join("\n")}\n`);
      const cut = update(delivered, output, s3Arguments);
      assert.equal(cut.status, 1, cut.stdout);
      assert.match(
        cut.stderr,
        new RegExp(`s3://${bucket}/${recordKey}: holds [\\d,]+ bytes where its commit left [\\d,]+ bytes`),
      );
      await put(whole);
      assert.equal(update(delivered, output, s3Arguments).status, 0);
    });
  });
});
