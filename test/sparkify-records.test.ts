/**
 * Every input record accounted for, at the level of the whole Sparkify pipeline: generated song
 * documents and event lines with members dropped, null, of the wrong type, huge, not Unicode,
 * nested deeper than a stack, beside odd files; the five tables read back with DuckDB and held to
 * a plain model of the table rules (../shared/DESIGN.md, "The Sparkify tables") over the records
 * that were not rejected.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { listFiles, partitionValues } from "../src/io/index.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { type Combiner, maxBy } from "../src/index.js";
import { latestPlay, StringPool } from "../src/pipelines/sparkify-rules.js";
import { literal, queries } from "./support/duckdb.js";
import { withTempDir } from "./support/temp.js";

const command = join(fileURLToPath(new URL("../..", import.meta.url)), "dist/pipelines/sparkify.js");

/** A member's value that stands for text written into the line as it is: 100,000 nested arrays. */
const DEEP = "\u0000deep\u0000";
const DEEP_TEXT = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;

/** JSON text of a record, with DEEP members written out nested. */
function toText(record: Record<string, unknown>): string {
  return JSON.stringify(record).replaceAll(JSON.stringify(DEEP), DEEP_TEXT);
}

/** What real logs do to a member: drop it, null it, give it another type, or an odd value. */
function oddValue(): fc.Arbitrary<unknown> {
  return fc.constantFrom(
    undefined,
    null,
    "12",
    12,
    1.5,
    true,
    [1],
    { a: 1 },
    "\ud800",
    "x".repeat(5000),
    2 ** 53 + 2,
    DEEP,
  );
}

/** A value from `good` most of the time, an odd one otherwise. */
function member<T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: oddValue() });
}

const TITLES = ["Hello", "Yellow", "Sün"];
const ARTIST_NAMES = ["Adele", "Coldplay"];

const songDocument = fc.record(
  {
    song_id: member(fc.constantFrom("SOA", "SOB", "SOC", "SOD", "")),
    artist_id: member(
      fc.constantFrom("AR1", "AR2", "a/b", "", "__HIVE_DEFAULT_PARTITION__", "/".repeat(20), "/".repeat(86)),
    ),
    title: member(fc.constantFrom(...TITLES)),
    artist_name: member(fc.constantFrom(...ARTIST_NAMES)),
    artist_location: member(fc.constantFrom("London", "")),
    artist_latitude: member(fc.constantFrom(51.5, -0.1)),
    artist_longitude: member(fc.constantFrom(0.12, -3)),
    duration: member(fc.constantFrom(200, 201.5, 180)),
    year: member(fc.constantFrom(2008, 0)),
    num_songs: member(fc.constant(1)),
    undeclared: member(fc.constant("x")),
  },
  { requiredKeys: [] },
);

const BASE_TS = 1_541_000_000_000;
const event = fc.record(
  {
    ts: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }).map((step) => BASE_TS + step * 3_600_000) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 2 ** 42, 8e15, "1541000000000", 1.5, null, DEEP) },
    ),
    page: member(fc.constantFrom("NextSong", "NextSong", "NextSong", "Home")),
    userId: member(fc.constantFrom("1", "2", "3", "")),
    firstName: member(fc.constantFrom("Ann", "Bo")),
    lastName: member(fc.constantFrom("Lee", "Ng")),
    gender: member(fc.constantFrom("F", "M")),
    level: member(fc.constantFrom("free", "paid")),
    song: member(fc.constantFrom(...TITLES)),
    artist: member(fc.constantFrom(...ARTIST_NAMES)),
    length: member(fc.constantFrom(200.2, 181, 190.75)),
    sessionId: member(fc.constantFrom(1, 2)),
    itemInSession: member(fc.constantFrom(0, 1, 2)),
    location: member(fc.constantFrom("Paris", "")),
    userAgent: member(fc.constantFrom('"Mozilla/5.0"', "curl", '"')),
    auth: member(fc.constantFrom("Logged In")),
    method: member(fc.constantFrom("PUT")),
    status: member(fc.constantFrom(200, 307)),
    registration: member(fc.constantFrom(1540000000000.0)),
    extra: member(fc.constant("ignored")),
  },
  { requiredKeys: ["ts"] },
);

/** A log line: an event, or one of the lines that are not events at all. */
const line = fc.oneof(
  { weight: 12, arbitrary: event.map(toText) },
  { weight: 1, arbitrary: fc.constantFrom("", "   ", "{not json", "[1,2]", '"text"', "null", DEEP_TEXT) },
);

const input = fc.record({
  songs: fc.array(songDocument.map(toText), { minLength: 1, maxLength: 8 }),
  logs: fc.array(fc.array(line, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
});

// ---------------------------------------------------------------------------------------------
// The model: the table rules, written out plainly over parsed records.

type Json = Record<string, unknown>;
const isText = (value: unknown) => typeof value === "string" && value.isWellFormed();
const isAbsent = (value: unknown) => value === undefined || value === null;
const isInt32 = (value: unknown) =>
  Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;
const isNumber = (value: unknown) => typeof value === "number" && Number.isFinite(value);

function fits(record: Json, rules: Record<string, (value: unknown) => boolean>, required: string[]): boolean {
  return Object.entries(rules).every(([name, rule]) => {
    const value = record[name];
    return isAbsent(value) ? !required.includes(name) : rule(value);
  });
}

/** Bytes of a Hive partition folder name: the characters Hive escapes take three bytes each. */
function folderBytes(name: string, value: string): number {
  let bytes = name.length + 1;
  for (const character of value) {
    const code = character.codePointAt(0)!;
    bytes +=
      code < 0x20 || code === 0x7f || "\"#%'*/:=?\\^[]{}".includes(character)
        ? 3
        : Buffer.byteLength(character);
  }
  return bytes;
}

const SONG_RULES = {
  song_id: (value: unknown) => isText(value) && value !== "",
  artist_id: (value: unknown) =>
    isText(value) &&
    value !== "" &&
    value !== "__HIVE_DEFAULT_PARTITION__" &&
    folderBytes("artist_id", value as string) <= 255,
  title: isText,
  artist_name: isText,
  artist_location: isText,
  artist_latitude: isNumber,
  artist_longitude: isNumber,
  duration: isNumber,
  year: isInt32,
  num_songs: isInt32,
};

const EVENT_RULES = {
  ts: (value: unknown) =>
    Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 42,
  page: isText,
  userId: isText,
  firstName: isText,
  lastName: isText,
  gender: isText,
  level: isText,
  song: isText,
  artist: isText,
  length: isNumber,
  sessionId: Number.isSafeInteger,
  itemInSession: Number.isSafeInteger,
  location: isText,
  userAgent: isText,
  auth: isText,
  method: isText,
  status: isInt32,
  registration: isNumber,
};

/** A parsed object, or undefined for text that is not a JSON object (or cannot be parsed). */
function parseObject(text: string): Json | undefined {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const nullable = (value: unknown) => (value === undefined ? null : value);

function isoWeek(ts: number): number {
  const date = new Date(ts);
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0
  const thursday = new Date(day + (3 - weekday) * 86_400_000);
  const firstThursday = Date.UTC(thursday.getUTCFullYear(), 0, 4);
  const firstWeekday = (new Date(firstThursday).getUTCDay() + 6) % 7;
  return (
    1 +
    Math.round(
      (thursday.getTime() - (firstThursday - firstWeekday * 86_400_000 + 3 * 86_400_000)) / (7 * 86_400_000),
    )
  );
}

function timeRow(ts: number) {
  const date = new Date(ts);
  return {
    start_time: ts,
    hour: date.getUTCHours(),
    day: date.getUTCDate(),
    week: isoWeek(ts),
    month: date.getUTCMonth() + 1,
    year: date.getUTCFullYear(),
    weekday: ((date.getUTCDay() + 6) % 7) + 1,
  };
}

interface Model {
  readonly loaded: number;
  readonly rejected: number;
  readonly blank: number;
  readonly tables: Record<string, Json[]>;
  /** Each user's rows that may stand for them (full ties in the ranking may pick any). */
  readonly userCandidates: Map<string, Json[]>;
  /**
   * Each play's songplay rows, as `rowsOf` gives them: one row per play, but plays identical in
   * (ts, userId, sessionId, itemInSession) are one group, loaded once as any of its rows.
   */
  readonly songplayCandidates: string[][];
}

function model(songTexts: readonly string[], logs: readonly (readonly string[])[]): Model {
  let loaded = 0;
  let rejected = 0;
  let blank = 0;
  // Songs in path order: file i of song_data holds songTexts[i].
  const songsById = new Map<string, Json>();
  for (const text of songTexts) {
    const song = parseObject(text);
    if (!song || !fits(song, SONG_RULES, ["song_id", "artist_id"])) {
      rejected++;
      continue;
    }
    loaded++;
    if (!songsById.has(song.song_id as string)) songsById.set(song.song_id as string, song);
  }
  const plays: Json[] = [];
  for (const lines of logs) {
    for (const text of lines) {
      if (text.trim() === "") {
        blank++;
        continue;
      }
      const event = parseObject(text);
      if (!event || !fits(event, EVENT_RULES, ["ts", "page"])) {
        rejected++;
        continue;
      }
      loaded++;
      if (event.page === "NextSong" && typeof event.userId === "string" && event.userId !== "")
        plays.push(event);
    }
  }

  const songs = [...songsById.values()];
  const byArtist = new Map<string, Json>();
  for (const song of [...songs].sort((a, b) => ((a.song_id as string) < (b.song_id as string) ? -1 : 1))) {
    if (!byArtist.has(song.artist_id as string)) byArtist.set(song.artist_id as string, song);
  }

  const userCandidates = new Map<string, Json[]>();
  const rank = (play: Json) => [play.ts as number, nullable(play.sessionId), nullable(play.itemInSession)];
  const compareRank = (a: unknown[], b: unknown[]) => {
    for (let index = 0; index < a.length; index++) {
      const [x, y] = [a[index], b[index]];
      if (x === y) continue;
      if (x === null) return -1;
      if (y === null) return 1;
      return (x as number) < (y as number) ? -1 : 1;
    }
    return 0;
  };
  const best = new Map<string, Json[]>();
  for (const play of plays) {
    const current = best.get(play.userId as string);
    const order = current ? compareRank(rank(play), rank(current[0]!)) : 1;
    if (order > 0) best.set(play.userId as string, [play]);
    else if (order === 0) current!.push(play);
  }
  for (const [userId, candidates] of best) {
    userCandidates.set(
      userId,
      candidates.map((play) => ({
        user_id: userId,
        first_name: nullable(play.firstName),
        last_name: nullable(play.lastName),
        gender: nullable(play.gender),
        level: nullable(play.level),
      })),
    );
  }

  const songplayOf = (play: Json) => {
    const matches = songs.filter(
      (song) =>
        !isAbsent(song.title) &&
        !isAbsent(song.artist_name) &&
        song.title === play.song &&
        song.artist_name === play.artist,
    );
    const distance = (song: Json) =>
      isAbsent(play.length) || isAbsent(song.duration)
        ? Number.POSITIVE_INFINITY
        : Math.abs((song.duration as number) - (play.length as number));
    matches.sort(
      (a, b) => distance(a) - distance(b) || ((a.song_id as string) < (b.song_id as string) ? -1 : 1),
    );
    const agent = nullable(play.userAgent) as string | null;
    const time = timeRow(play.ts as number);
    return {
      start_time: play.ts,
      user_id: play.userId,
      level: nullable(play.level),
      song_id: matches[0]?.song_id ?? null,
      artist_id: matches[0]?.artist_id ?? null,
      session_id: nullable(play.sessionId),
      location: nullable(play.location),
      user_agent:
        agent !== null && agent.length >= 2 && agent.startsWith('"') && agent.endsWith('"')
          ? agent.slice(1, -1)
          : agent,
      year: time.year,
      month: time.month,
    };
  };
  // A play identical in (ts, userId, sessionId, itemInSession) to another is a line delivered
  // twice: loaded once, as one of them (the rules' order picks which; the model lets it be any).
  const playsByIdentity = new Map<string, Json[]>();
  for (const play of plays) {
    const identity = JSON.stringify([
      play.ts,
      play.userId,
      nullable(play.sessionId),
      nullable(play.itemInSession),
    ]);
    playsByIdentity.set(identity, [...(playsByIdentity.get(identity) ?? []), play]);
  }
  const songplayCandidates = [...playsByIdentity.values()].map((same) => rowsOf(same.map(songplayOf)));

  return {
    loaded,
    rejected,
    blank,
    userCandidates,
    songplayCandidates,
    tables: {
      songs: songs.map((song) => ({
        song_id: song.song_id,
        title: nullable(song.title),
        artist_id: song.artist_id,
        year: nullable(song.year),
        duration: nullable(song.duration),
      })),
      artists: [...byArtist.values()].map((song) => ({
        artist_id: song.artist_id,
        name: nullable(song.artist_name),
        location: nullable(song.artist_location),
        latitude: nullable(song.artist_latitude),
        longitude: nullable(song.artist_longitude),
      })),
      time: [...new Set(plays.map((play) => play.ts as number))].map(timeRow),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the lake back: DuckDB for the files, the folder names for the partition values.

const COLUMNS: Record<string, string[]> = {
  songs: ["song_id", "title", "duration"],
  artists: ["artist_id", "name", "location", "latitude", "longitude"],
  users: ["user_id", "first_name", "last_name", "gender", "level"],
  time: ["epoch_ms(start_time) AS start_time", "hour", "day", "week", "weekday"],
  songplays: [
    "songplay_id",
    "epoch_ms(start_time) AS start_time",
    "user_id",
    "level",
    "song_id",
    "artist_id",
    "session_id",
    "location",
    "user_agent",
  ],
};
const PARTITION_TYPES: Record<string, Record<string, (text: string) => unknown>> = {
  songs: { year: Number, artist_id: String },
  time: { year: Number, month: Number },
  songplays: { year: Number, month: Number },
};

async function readLake(output: string): Promise<Record<string, Json[]>> {
  const tables = Object.keys(COLUMNS);
  // A table without rows has no data file, which DuckDB would take for a mistake.
  const written = await Promise.all(
    tables.map(async (table) => (await listFiles(join(output, table, "**/*.parquet"))).length > 0),
  );
  const results = await queries(
    tables.map((table, index) =>
      written[index]
        ? `SELECT ${COLUMNS[table]!.join(", ")}, filename FROM read_parquet(${literal(`${output}/${table}/**/*.parquet`)}, hive_partitioning = false, filename = true, union_by_name = true)`
        : "SELECT 1 WHERE false",
    ),
  );
  const lake: Record<string, Json[]> = {};
  tables.forEach((table, index) => {
    lake[table] = results[index]!.map(({ filename, ...row }) => {
      const relative = (filename as string).slice(`${output}/${table}/`.length);
      const parts = partitionValues(relative);
      const typed: Json = {};
      for (const [name, convert] of Object.entries(PARTITION_TYPES[table] ?? {})) {
        typed[name] = parts[name] === null || parts[name] === undefined ? null : convert(parts[name]!);
      }
      const plain: Json = {};
      for (const [name, value] of Object.entries(row))
        plain[name] = typeof value === "bigint" ? Number(value) : value;
      return { ...plain, ...typed };
    });
  });
  return lake;
}

/** Rows as sorted canonical text, so that two tables compare as multisets. */
/** Whether `rows` holds exactly one row of each group's candidates (a matching, found by search). */
function isOnePerGroup(rows: readonly string[], groups: readonly (readonly string[])[]): boolean {
  if (rows.length !== groups.length) return false;
  const left = new Map<string, number>();
  for (const row of rows) left.set(row, (left.get(row) ?? 0) + 1);
  // Groups whose candidates are all one row first: they leave no choice.
  const ordered = [...groups].sort((a, b) => new Set(a).size - new Set(b).size);
  const take = (index: number): boolean => {
    if (index === ordered.length) return true;
    for (const row of new Set(ordered[index])) {
      const count = left.get(row) ?? 0;
      if (count === 0) continue;
      left.set(row, count - 1);
      if (take(index + 1)) return true;
      left.set(row, count);
    }
    return false;
  };
  return take(0);
}

function rowsOf(rows: readonly Json[], columns?: readonly string[]): string[] {
  return rows
    .map((row) => {
      const names = columns ?? Object.keys(row).sort();
      return JSON.stringify(names.map((name) => [name, row[name] ?? null]));
    })
    .sort();
}

async function writeInput(
  folder: string,
  songTexts: readonly string[],
  logs: readonly (readonly string[])[],
) {
  for (const [index, text] of songTexts.entries()) {
    const file = join(folder, "song_data/A/B", `TR${String(index).padStart(3, "0")}.json`);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  // The first log file lies on "another disk", linked into log_data/ as a folder.
  for (const [index, lines] of logs.entries()) {
    const where = index === 0 ? join(folder, "..", "elsewhere", "2018-11") : join(folder, "log_data/2018/11");
    await mkdir(where, { recursive: true });
    await writeFile(join(where, `2018-11-0${index + 1}-events.json`), lines.join("\n"));
  }
  await mkdir(join(folder, "log_data/linked"), { recursive: true });
  await symlink(join(folder, "..", "elsewhere", "2018-11"), join(folder, "log_data/linked/2018-11"));
  // Odd files: an empty log, a gzip-compressed log (read: one Home event), a log compressed in a
  // form that is not read, and a misnamed folder (neither read, both named).
  await writeFile(join(folder, "log_data/empty.json"), "");
  await writeFile(join(folder, "log_data/2018-12-01-events.json.gz"), gzipSync('{"ts":1,"page":"Home"}\n'));
  await writeFile(join(folder, "log_data/2018-12-02-events.json.bz2"), "BZh9");
  await mkdir(join(folder, "log-data"), { recursive: true });
  await writeFile(join(folder, "log-data/2018-11-30-events.json"), '{"ts":1,"page":"Home"}\n');
}

/** Lines of the gzip-compressed log beside the generated ones: read, but not a play. */
const GZIP_LINES = 1;

describe("the string pools a play's strings come from", () => {
  it("give each value as normalized, null as null, past their limit too", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.option(fc.constantFrom("a", "b", "c", "d", "e", '"agent"', ""), { nil: null }), {
          maxLength: 40,
        }),
        (limit, values) => {
          const pool = new StringPool(limit, (value) => `<${value}>`);
          for (const value of values) assert.equal(pool.of(value), value === null ? null : `<${value}>`);
        },
      ),
    );
  });
});

describe("a user's latest play", () => {
  it("is the play of largest [ts, sessionId, itemInSession], ties by the whole play, however the plays are split and merged", () => {
    const play = fc.record({
      ts: fc.integer({ min: 0, max: 3 }),
      sessionId: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
      itemInSession: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
      level: fc.constantFrom("free", "paid"),
    });
    fc.assert(
      fc.property(fc.array(play, { minLength: 1, maxLength: 30 }), fc.nat(30), (plays, cut) => {
        // The model: the library's maxBy of the rank as an array, which the combine stands in for.
        const model = maxBy<(typeof plays)[number]>((one) => [one.ts, one.sessionId, one.itemInSession]);
        const fold = <A, V>(combiner: Combiner<V, A, V>, values: readonly V[]) =>
          values.reduce((accumulator, value) => combiner.add(accumulator, value), combiner.create());
        const combiner = latestPlay<(typeof plays)[number]>();
        const [left, right] = [plays.slice(0, cut), plays.slice(cut)];
        const merged = combiner.extract(combiner.merge(fold(combiner, left), fold(combiner, right)));
        const expected = model.extract(fold(model, plays));
        // Compared as plain objects: plays alike in every field may differ in prototype alone.
        assert.deepEqual({ ...merged }, { ...expected });
        const reversed = combiner.extract(fold(combiner, [...plays].reverse()));
        assert.deepEqual({ ...reversed }, { ...merged }, "whatever the order");
      }),
    );
  });
});

describe("Sparkify: every input record accounted for", () => {
  it("loads, rejects with a reason or skips every record, and the tables equal the model of the rules", async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(input, async ({ songs, logs }) => {
        await withTempDir(async (folder) => {
          const raw = join(folder, "raw");
          await writeInput(raw, songs, logs);
          const output = join(folder, "lake");
          // Every eighth run on the worker pool; the rest on the direct runner, the reference.
          const pool = runs++ % 8 === 0;
          const result = await sparkify(
            { input: raw, output, allowEmpty: true, maxRejected: { percent: 100 } },
            pool ? { threads: 2 } : { runner: "direct" },
          );
          const expected = model(songs, logs);
          const lines = logs.flat().length + songs.length + GZIP_LINES;
          assert.ok(result.metrics, "a full load always runs");
          assert.equal(result.metrics.recordsSeen + expected.blank, lines, "every line is read, or blank");
          assert.equal(result.metrics.rejected, expected.rejected, "rejected");
          assert.equal(
            result.metrics.recordsSeen,
            expected.loaded + expected.rejected + GZIP_LINES,
            "loaded + rejected",
          );
          assert.deepEqual(result.skipped, [
            "log-data/2018-11-30-events.json",
            "log_data/2018-12-02-events.json.bz2",
          ]);

          const rejectedLines = (await readdir(join(output, "_rejected")))
            .filter((name) => name.endsWith(".jsonl"))
            .map(async (name) => (await readFile(join(output, "_rejected", name), "utf8")).split("\n"));
          const rejected = (await Promise.all(rejectedLines))
            .flat()
            .filter((text) => text !== "")
            .map((text) => JSON.parse(text) as { text: string; reason: string; source: string });
          assert.equal(rejected.length, expected.rejected, "_rejected/ holds every rejected record");
          for (const record of rejected) {
            assert.ok(
              record.reason.length > 0 && record.source.startsWith(raw),
              JSON.stringify(record).slice(0, 300),
            );
            const origin = [...songs, ...logs.flat()];
            assert.ok(
              origin.includes(record.text) || record.text.startsWith("(a value nested too deeply"),
              `the rejected text is the input's: ${record.text.slice(0, 200)}`,
            );
          }

          const lake = await readLake(output);
          for (const table of ["songs", "artists", "time"]) {
            assert.deepEqual(rowsOf(lake[table]!), rowsOf(expected.tables[table]!), table);
          }
          // songplay_id: unique, ts x 2048 + n with n numbering the plays of each millisecond.
          const ids = lake.songplays!.map((row) => row.songplay_id as number);
          assert.equal(new Set(ids).size, ids.length, "songplay_id is unique");
          const perTs = new Map<number, number[]>();
          for (const row of lake.songplays!) {
            const list = perTs.get(row.start_time as number) ?? [];
            list.push((row.songplay_id as number) - (row.start_time as number) * 2048);
            perTs.set(row.start_time as number, list);
          }
          for (const [ts, ranks] of perTs) {
            assert.deepEqual(
              ranks.sort((a, b) => a - b),
              ranks.map((_, index) => index),
              `ids of ts ${ts}`,
            );
          }
          assert.ok(
            isOnePerGroup(
              rowsOf(lake.songplays!.map(({ songplay_id: _id, ...row }) => row)),
              expected.songplayCandidates,
            ),
            `songplays: one row per play, a line delivered twice loaded once: ${JSON.stringify(lake.songplays).slice(0, 600)}`,
          );
          assert.equal(lake.users!.length, expected.userCandidates.size, "one user row per user");
          for (const row of lake.users!) {
            const candidates = rowsOf(expected.userCandidates.get(row.user_id as string) ?? []);
            assert.ok(candidates.includes(rowsOf([row])[0]!), `user ${row.user_id}: ${JSON.stringify(row)}`);
          }
        });
      }),
      { numRuns: 24 },
    );
  });
});

function runCommand(args: string[]) {
  const result = spawnSync(process.execPath, [command, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the sparkify command on an input that is not what it expects", () => {
  it("fails naming what it looked for, never replacing good tables with empty ones, unless told --allow-empty", async () => {
    await withTempDir(async (folder) => {
      const good = join(folder, "good");
      await writeInput(
        good,
        ['{"song_id":"SOA","artist_id":"AR1","title":"Hello","artist_name":"Adele"}'],
        [['{"ts":1541000000000,"page":"NextSong","userId":"1","song":"Hello","artist":"Adele"}']],
      );
      const output = join(folder, "lake");
      const first = runCommand(["--input", good, "--output", output, "--quiet", "--threads", "1"]);
      assert.equal(first.status, 0, first.stderr);
      assert.match(
        first.stdout,
        /skipped +2 file\(s\) not read: log-data\/2018-11-30-events\.json, log_data\/2018-12-02-events\.json\.bz2/,
      );
      const before = await readLake(output);
      assert.equal(before.songplays!.length, 1);

      // Logs in a misnamed folder: no log_data/ at all.
      const misnamed = join(folder, "misnamed");
      await mkdir(join(misnamed, "song_data"), { recursive: true });
      await writeFile(join(misnamed, "song_data/TR1.json"), '{"song_id":"SOB","artist_id":"AR2"}');
      await mkdir(join(misnamed, "log-data"), { recursive: true });
      await writeFile(
        join(misnamed, "log-data/events.json"),
        '{"ts":1541000000000,"page":"NextSong","userId":"1"}\n',
      );
      // Logs where they belong, but every file empty.
      const empty = join(folder, "empty");
      await mkdir(join(empty, "song_data"), { recursive: true });
      await writeFile(join(empty, "song_data/TR1.json"), '{"song_id":"SOB","artist_id":"AR2"}');
      await mkdir(join(empty, "log_data"), { recursive: true });
      await writeFile(join(empty, "log_data/events.json"), "\n\n");
      const cases: [string, RegExp][] = [
        [
          misnamed,
          /^sparkify: error: found no events \(no file matches .*misnamed\/log_data\/\*\*\/\*\.\{json,json\.gz\}\); not read: log-data\/events\.json \(--allow-empty, or allowEmpty: true, runs without them\)\n$/,
        ],
        [
          empty,
          /^sparkify: error: 'read log_data' read no record: .*empty\/log_data\/\*\*\/\*\.\{json,json\.gz\} holds only empty files\n$/,
        ],
      ];
      for (const [raw, message] of cases) {
        const run = runCommand(["--input", raw, "--output", output, "--quiet", "--mode", "overwrite"]);
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr, message);
        assert.deepEqual(await readLake(output), before, "the good tables are left as they were");
      }

      const allowed = runCommand([
        "--input",
        empty,
        "--output",
        output,
        "--quiet",
        "--mode",
        "overwrite",
        "--allow-empty",
      ]);
      assert.equal(allowed.status, 0, allowed.stderr);
      const after = await readLake(output);
      assert.equal(after.songplays!.length, 0);
      assert.equal(after.songs!.length, 1);
    });
  });
});
