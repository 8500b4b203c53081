/**
 * The generator's knobs (the input shapes bench:etl measures the ETL across) do what they say:
 * whatever their values, every event is written once, in time order, into as many log files as
 * asked, the peak days hold their share, and the default shape is the input it always was.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { listFiles } from "../src/io/index.js";
import { generateSparkifyInput, INPUT_SHAPES } from "../src/pipelines/sparkify-generator.js";
import { withTempDir } from "./support/temp.js";

interface Event {
  readonly ts: number;
  readonly artist: string | null;
}

async function eventsOf(input: string): Promise<{ files: string[]; events: Event[][] }> {
  const files = (await listFiles(join(input, "log_data"))).map((file) => file.uri);
  const events = await Promise.all(
    files.map(async (file) =>
      (await readFile(file, "utf8")).split("\n").map((line) => JSON.parse(line) as Event),
    ),
  );
  return { files, events };
}

/** A digest of every file under a folder, with its path. */
async function digestOf(folder: string): Promise<string> {
  const hash = createHash("sha256");
  for (const file of await listFiles(folder)) hash.update(file.relativePath).update(await readFile(file.uri));
  return hash.digest("hex");
}

describe("the Sparkify input generator", () => {
  it("writes every event once, in time order within each file, into the log files asked for, whatever the shape's knobs", async () => {
    await withTempDir(async (folder) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            events: fc.integer({ min: 1, max: 3000 }),
            days: fc.integer({ min: 1, max: 70 }),
            logFiles: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
            peakShare: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
            sharedTsShare: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
            startDate: fc.constantFrom("2018-11-01", "2018-11-20", "2018-12-30"),
          }),
          async (knobs) => {
            const output = join(folder, `run-${run++}`);
            const summary = await generateSparkifyInput({ songs: 20, seed: run, output, ...knobs });
            const { files, events } = await eventsOf(output);
            const all = events.flat();
            assert.equal(all.length, knobs.events);
            assert.equal(summary.events, knobs.events);
            assert.equal(files.length, summary.logFiles);
            if (knobs.logFiles !== undefined)
              assert.equal(files.length, Math.min(knobs.logFiles, knobs.events));
            for (const fileEvents of events) {
              for (let index = 1; index < fileEvents.length; index++)
                assert.ok(fileEvents[index - 1]!.ts <= fileEvents[index]!.ts);
            }
            // A file is named after the day of its first event.
            for (const [index, file] of files.entries()) {
              const day = new Date(events[index]![0]!.ts).toISOString().slice(0, 10);
              assert.ok(file.includes(`/${day}-`), `${file} starts on ${day}`);
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  });

  it("puts the peak share of events on the days around month ends", async () => {
    await withTempDir(async (folder) => {
      const output = join(folder, "input");
      await generateSparkifyInput({
        songs: 10,
        events: 20_000,
        output,
        startDate: "2018-11-15",
        days: 60,
        peakShare: 0.7,
      });
      const days = new Map<string, number>();
      for (const event of (await eventsOf(output)).events.flat()) {
        const day = new Date(event.ts).toISOString().slice(0, 10);
        days.set(day, (days.get(day) ?? 0) + 1);
      }
      const peaks = ["2018-11-29", "2018-11-30", "2018-12-01", "2018-12-30", "2018-12-31", "2019-01-01"];
      const onPeaks = peaks.reduce((total, day) => total + (days.get(day) ?? 0), 0);
      assert.ok(Math.abs(onPeaks / 20_000 - 0.7) < 0.001, `${onPeaks} events on the peak days`);
      // Every day has events (a day's last ones may fall after midnight, into the next).
      for (let day = 0; day < 60; day++) {
        const date = new Date(Date.parse("2018-11-15T00:00:00Z") + day * 86_400_000)
          .toISOString()
          .slice(0, 10);
        assert.ok(days.has(date), `events on ${date}`);
      }
    });
  });

  it("shapes the songs and the events as each knob says", async () => {
    await withTempDir(async (folder) => {
      const songsOf = async (input: string) =>
        Promise.all(
          (await listFiles(join(input, "song_data"))).map(
            async (file) =>
              JSON.parse(await readFile(file.uri, "utf8")) as {
                artist_id: string;
                artist_name: string;
                title: string;
              },
          ),
        );
      const generate = async (name: string, knobs: Record<string, number>) => {
        const output = join(folder, name);
        await generateSparkifyInput({ songs: 2000, events: 20_000, seed: 4, output, ...knobs });
        return output;
      };
      const plain = await generate("plain", {});
      const shaped = await generate("shaped", {
        unicodeShare: 0.8,
        titleWords: 12,
        songsPerArtist: 8,
        awkwardIdShare: 0.5,
        sharedTsShare: 0.3,
      });
      const share = <T>(items: readonly T[], test: (item: T) => boolean) =>
        items.filter(test).length / items.length;
      const nonAscii = (text: string) => [...text].some((character) => character.charCodeAt(0) > 0x7f);
      const [before, after] = [await songsOf(plain), await songsOf(shaped)];
      const artists = (songs: typeof before) => new Set(songs.map((song) => song.artist_id)).size;
      const unicodeBefore = share(before, (song) => nonAscii(song.artist_name));
      const unicodeAfter = share(after, (song) => nonAscii(song.artist_name));
      assert.ok(
        unicodeAfter > unicodeBefore + 0.4,
        `${unicodeAfter} of names non-ASCII against ${unicodeBefore}`,
      );
      const words = (songs: typeof before) =>
        songs.reduce((total, song) => total + song.title.split(" ").length, 0) / songs.length;
      assert.ok(words(after) > 2 * words(before), `${words(after)} words a title against ${words(before)}`);
      assert.ok(
        artists(before) > 1300 && artists(after) < 400,
        `${artists(before)} and ${artists(after)} artists`,
      );
      assert.ok(share(after, (song) => /[/=% ]/.test(song.artist_id)) > 0.2);
      assert.equal(
        share(before, (song) => !/^AR[A-Z0-9]{16}$/.test(song.artist_id)),
        0,
      );
      const repeats = async (input: string) => {
        const all = (await eventsOf(input)).events.flat();
        let same = 0;
        for (let index = 1; index < all.length; index++) if (all[index]!.ts === all[index - 1]!.ts) same++;
        return same / (all.length - 1);
      };
      assert.ok((await repeats(plain)) < 0.01);
      assert.ok(
        Math.abs((await repeats(shaped)) - 0.3) < 0.03,
        `${await repeats(shaped)} share the ms before`,
      );
      // Every named shape changes the input: none is the default by mistake.
      await generateSparkifyInput({ songs: 50, events: 2000, seed: 9, output: join(folder, "default") });
      for (const [name, shape] of Object.entries(INPUT_SHAPES).filter(([name]) => name !== "default")) {
        const output = join(folder, name);
        await generateSparkifyInput({ songs: 50, events: 2000, seed: 9, output, ...shape });
        assert.notEqual(await digestOf(output), await digestOf(join(folder, "default")), name);
      }
    });
  });

  it("takes a shape on the command line, an option given on its own overriding the shape's, and refuses a bad shape or share with its usage", async () => {
    const command = fileURLToPath(new URL("../../dist/pipelines/generate-sparkify.js", import.meta.url));
    const run = (args: string[]) => spawnSync(process.execPath, [command, ...args], { encoding: "utf8" });
    await withTempDir(async (folder) => {
      const output = join(folder, "input");
      const made = run([
        "--songs",
        "20",
        "--events",
        "600",
        "--shape",
        "few-large",
        "--days",
        "4",
        "--output",
        output,
      ]);
      assert.equal(made.status, 0, made.stderr);
      const { files, events } = await eventsOf(output);
      assert.equal(files.length, 6, "the shape's six log files");
      const days = new Set(events.flat().map((event) => new Date(event.ts).toISOString().slice(0, 10)));
      assert.ok(
        days.size <= 5 && [...days].every((day) => day >= "2018-11-15" && day <= "2018-11-19"),
        [...days].join(),
      );
      for (const args of [
        ["--shape", "huge"],
        ["--peak-share", "1.5"],
        ["--songs-per-artist", "0.5"],
      ]) {
        const refused = run(["--songs", "5", "--events", "10", "--output", join(folder, "x"), ...args]);
        assert.equal(refused.status, 2);
        assert.match(refused.stderr, /^generate: --[a-z-]+ must be .*\n\nUsage: /);
      }
    });
  });
});
