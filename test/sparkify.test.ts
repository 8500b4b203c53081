import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { listFiles } from "../src/io/index.js";
import { matchKey, matchKeyParts } from "../src/pipelines/sparkify-rules.js";
import { formatCount } from "../src/cli/support.js";
import { downloadPrefix, freshBucket, s3Settings, s3Unavailable } from "./support/s3.js";
import { generateSparkifyInput, INPUT_SHAPES } from "../src/pipelines/sparkify-generator.js";
import { literal, queries, query } from "./support/duckdb.js";
import {
  differenceQuery,
  outputStatements,
  referenceStatements,
  TABLE_COLUMNS,
} from "../bench/sparkify-duckdb.js";
import { tableDigests } from "./support/digests.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const command = join(root, "dist/pipelines/sparkify.js");
const sample = join(root, "../shared/data/sparkify-sample");
const sampleMissing = existsSync(join(sample, "log_data"))
  ? undefined
  : `the real sample is not at ${sample}`;

function sparkify(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [command, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Compares every table with the SQL reference; returns the first differences found, if any. */
async function compareWithReference(input: string, output: string): Promise<Record<string, unknown[]>> {
  const songFiles = (await listFiles(join(input, "song_data/**/*.json"))).map((file) => file.uri);
  const logFiles = (await listFiles(join(input, "log_data/**/*.json"))).map((file) => file.uri);
  const tables = Object.keys(TABLE_COLUMNS);
  const results = await queries([
    ...referenceStatements(songFiles, logFiles),
    ...outputStatements(output),
    ...tables.map((table) => differenceQuery(table, TABLE_COLUMNS[table]!)),
    ...tables.map(
      (table) =>
        `SELECT (SELECT count(*) FROM ref_${table}) AS expected, (SELECT count(*) FROM out_${table}) AS actual`,
    ),
  ]);
  const differences: Record<string, unknown[]> = {};
  const counts = results.slice(-tables.length);
  const diffs = results.slice(-2 * tables.length, -tables.length);
  tables.forEach((table, index) => {
    const [count] = counts[index]!;
    if (diffs[index]!.length > 0 || count!.expected !== count!.actual)
      differences[table] = [count, ...diffs[index]!];
  });
  return differences;
}

describe("Sparkify rules", () => {
  it("give two (title, artist) pairs the same match key exactly when they are equal, none with a null, and the pair back from its key", () => {
    // Strings built from the characters the key itself uses, so that a pair could only be
    // mistaken for another through them.
    const part = fc.option(fc.string({ unit: fc.constantFrom("1", "2", ":", "-", "a", "é"), maxLength: 5 }));
    fc.assert(
      fc.property(
        fc.tuple(part, part),
        fc.tuple(part, part),
        ([title, artist], [otherTitle, otherArtist]) => {
          const key = matchKey(title, artist);
          if (title === null || artist === null) {
            assert.equal(key, null);
            return;
          }
          const same = title === otherTitle && artist === otherArtist;
          assert.equal(key === matchKey(otherTitle, otherArtist), same);
          // Plays are looked up by title and compared by artist: the pair comes back from its key.
          assert.deepEqual(matchKeyParts(key as string), [title, artist]);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe("Sparkify song matching", () => {
  it("gives a play the song of its title and its artist, never one of the same title by another artist", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      const songs: [string, string, string, string, number][] = [
        ["SOA", "AR1", "Hello", "Adele", 200],
        ["SOB", "AR2", "Hello", "Coldplay", 200],
        ["SOC", "AR3", "Yellow", "Coldplay", 260],
      ];
      for (const [songId, artistId, title, artistName, duration] of songs) {
        await mkdir(join(input, "song_data/A"), { recursive: true });
        await writeFile(
          join(input, "song_data/A", `${songId}.json`),
          JSON.stringify({ song_id: songId, artist_id: artistId, title, artist_name: artistName, duration }),
        );
      }
      // The same title by three artists: two with a song of that title, one without.
      const plays: [string, string | null][] = [
        ["Hello", "Adele"],
        ["Hello", "Coldplay"],
        ["Hello", "Muse"],
        ["Yellow", "Adele"],
        ["Yellow", null],
      ];
      await mkdir(join(input, "log_data/2018/11"), { recursive: true });
      await writeFile(
        join(input, "log_data/2018/11/2018-11-01-events.json"),
        plays
          .map(([song, artist], index) =>
            JSON.stringify({
              ts: 1_541_030_400_000 + index * 1000,
              page: "NextSong",
              userId: "7",
              song,
              artist,
              length: 200,
              sessionId: 1,
              itemInSession: index,
            }),
          )
          .join("\n"),
      );
      const output = join(folder, "lake");
      const run = sparkify(["--input", input, "--output", output, "--quiet"]);
      assert.equal(run.status, 0, run.stderr);
      const rows = await query(
        `select start_time, song_id, artist_id from read_parquet(${literal(`${output}/songplays/**/*.parquet`)}) order by start_time`,
      );
      assert.deepEqual(
        rows.map((row) => [row.song_id, row.artist_id]),
        [
          ["SOA", "AR1"],
          ["SOB", "AR2"],
          [null, null],
          [null, null],
          [null, null],
        ],
      );
    });
  });
});

describe("Sparkify on the real sample", { skip: sampleMissing }, () => {
  it("gives the known figures, read back with DuckDB, and every row as the SQL reference computes it", async () => {
    await withTempDir(async (folder) => {
      const output = join(folder, "lake");
      const summaryFile = join(folder, "summary.json");
      const run = sparkify([
        "--input",
        sample,
        "--output",
        output,
        "--threads",
        "2",
        "--quiet",
        "--summary-json",
        summaryFile,
      ]);
      assert.equal(run.status, 0, run.stderr);
      const [songs, artists, users, time, songplays, matched, types, agents] = await queries([
        `SELECT count(*) AS n, count(DISTINCT (year, artist_id)) AS partitions FROM read_parquet(${literal(`${output}/songs/**/*.parquet`)}, hive_partitioning = true)`,
        `SELECT count(*) AS n FROM read_parquet(${literal(`${output}/artists/*.parquet`)})`,
        `SELECT count(*) AS n, count(*) FILTER (level = 'free') AS free, count(*) FILTER (level = 'paid') AS paid FROM read_parquet(${literal(`${output}/users/*.parquet`)})`,
        `SELECT count(*) AS n, min(week) AS first_week, max(week) AS last_week, count(DISTINCT day) AS days FROM read_parquet(${literal(`${output}/time/**/*.parquet`)}, hive_partitioning = true)`,
        `SELECT count(*) AS n, count(DISTINCT songplay_id) AS ids, count(song_id) AS with_song FROM read_parquet(${literal(`${output}/songplays/**/*.parquet`)}, hive_partitioning = true)`,
        `SELECT song_id, artist_id, strftime(start_time, '%Y-%m-%dT%H:%M:%S.%g') AS at, user_id, level, session_id FROM read_parquet(${literal(`${output}/songplays/**/*.parquet`)}, hive_partitioning = true) WHERE song_id IS NOT NULL`,
        `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${literal(`${output}/songplays/**/*.parquet`)}, hive_partitioning = false))`,
        `SELECT count(*) FILTER (starts_with(user_agent, '"')) AS quoted FROM read_parquet(${literal(`${output}/songplays/**/*.parquet`)})`,
      ]);
      assert.deepEqual(songs, [{ n: 71n, partitions: 69n }]);
      assert.deepEqual(artists, [{ n: 69n }]);
      assert.deepEqual(users, [{ n: 96n, free: 74n, paid: 22n }]);
      assert.deepEqual(time, [{ n: 6813n, first_week: 44, last_week: 48, days: 30n }]);
      assert.deepEqual(songplays, [{ n: 6820n, ids: 6820n, with_song: 1n }]);
      assert.deepEqual(matched, [
        {
          song_id: "SOZCTXZ12AB0182364",
          artist_id: "AR5KOSW1187FB35FF4",
          at: "2018-11-21T21:56:47.796",
          user_id: "15",
          level: "paid",
          session_id: 818n,
        },
      ]);
      assert.deepEqual(Object.fromEntries(types!.map((row) => [row.column_name, row.column_type])), {
        songplay_id: "BIGINT",
        start_time: "TIMESTAMP WITH TIME ZONE",
        user_id: "VARCHAR",
        level: "VARCHAR",
        song_id: "VARCHAR",
        artist_id: "VARCHAR",
        session_id: "BIGINT",
        location: "VARCHAR",
        user_agent: "VARCHAR",
      });
      assert.deepEqual(agents, [{ quoted: 0n }]);
      assert.deepEqual(await readdir(join(output, "songplays")), ["_SUCCESS", "year=2018"]);
      assert.deepEqual(await readdir(join(output, "songplays", "year=2018")), ["month=11"]);
      for (const table of ["songs", "artists", "users", "time", "songplays"]) {
        assert.ok((await readdir(join(output, table))).includes("_SUCCESS"), `${table}/_SUCCESS`);
      }
      assert.deepEqual(await compareWithReference(sample, output), {});
      const summary = JSON.parse(await readFile(summaryFile, "utf8"));
      assert.equal(summary.tables.songplays.rows, 6820);
      // The plays the run matched, counted as it ran: the one DuckDB finds with a song.
      assert.deepEqual(summary.matchedPlays, { matched: 1, plays: 6820 });
      assert.equal(summary.rejected.records, 0);
      assert.equal(summary.recordsRead, 8056 + 71);
    });
  });

  it("gives the same rows, songplay_id included, on the direct runner and with 1 or 3 threads", async () => {
    await withTempDir(async (folder) => {
      const outputs = [
        ["--runner", "direct"],
        ["--threads", "1", "--partitions", "1"],
        ["--threads", "3", "--partitions", "17"],
      ].map((args, index) => {
        const output = join(folder, `run${index}`);
        const run = sparkify(["--input", sample, "--output", output, "--quiet", ...args]);
        assert.equal(run.status, 0, run.stderr);
        return output;
      });
      const digests = await Promise.all(outputs.map(tableDigests));
      assert.deepEqual(digests[1], digests[0]);
      assert.deepEqual(digests[2], digests[0]);
    });
  });
});

describe("Sparkify on generated input", () => {
  it("holds every table's rows to the SQL reference across New Year, and rejects bad records with their origin", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      await generateSparkifyInput({
        songs: 300,
        events: 6000,
        output: input,
        seed: 7,
        startDate: "2018-12-27",
        days: 9,
        matchShare: 0.5,
      });
      // Bad records in their own files, so that the reference (which reads only good files) needs no rules for them.
      await mkdir(join(input, "log_data/2019/01"), { recursive: true });
      const badLines = [
        '{"ts": "yesterday", "page": "NextSong"}',
        "{not json",
        '{"ts": 1546300800000}',
        "",
        "   ",
      ];
      await writeFile(join(input, "log_data/2019/01/zz-broken-events.json"), badLines.join("\n"));
      // Generated song paths use letters only: a folder of digits cannot hold a generated song.
      await mkdir(join(input, "song_data/0/0/0"), { recursive: true });
      await writeFile(join(input, "song_data/0/0/0/TR000BROKEN.json"), '{"song_id": "SOBROKEN", "title": ');
      const output = join(folder, "lake");
      const run = sparkify([
        "--input",
        input,
        "--output",
        output,
        "--threads",
        "2",
        "--quiet",
        "--max-rejected",
        "10",
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /rejected\s+4, in .*_rejected\//);

      // The reference reads the same files minus the broken ones.
      const { rm } = await import("node:fs/promises");
      await rm(join(input, "log_data/2019/01/zz-broken-events.json"));
      await rm(join(input, "song_data/0"), { recursive: true });
      assert.deepEqual(await compareWithReference(input, output), {});

      const [newYear] = await queries([
        `SELECT year, month, week, weekday FROM read_parquet(${literal(`${output}/time/**/*.parquet`)}, hive_partitioning = true) WHERE day = 31 LIMIT 1`,
      ]);
      assert.deepEqual(
        newYear,
        [{ year: 2018n, month: 12n, week: 1, weekday: 1 }],
        "2018-12-31 is in ISO week 1, calendar year 2018",
      );
      const partitions = (await readdir(join(output, "songplays"))).sort();
      assert.deepEqual(partitions, ["_SUCCESS", "year=2018", "year=2019"]);
      const matched = await query(
        `SELECT count(song_id) AS n FROM read_parquet(${literal(`${output}/songplays/**/*.parquet`)})`,
      );
      assert.ok(Number(matched[0]!.n) > 1000, "about half the plays match a song");

      const rejectedFiles = (await readdir(join(output, "_rejected"))).filter((name) =>
        name.endsWith(".jsonl"),
      );
      const rejected = (
        await Promise.all(rejectedFiles.map((name) => readFile(join(output, "_rejected", name), "utf8")))
      )
        .join("")
        .trim()
        .split("\n")
        .map(
          (line) =>
            JSON.parse(line) as {
              text: string;
              source: string;
              line?: number;
              offset?: number;
              reason: string;
            },
        )
        .sort((a, b) => a.source.localeCompare(b.source) || (a.line ?? 0) - (b.line ?? 0));
      assert.deepEqual(
        rejected.map((record) => [
          record.source.slice(input.length + 1),
          record.line,
          record.reason.split(" (")[0],
        ]),
        [
          ["log_data/2019/01/zz-broken-events.json", 1, `'ts' is "yesterday", expected an integer`],
          ["log_data/2019/01/zz-broken-events.json", 2, "not valid JSON"],
          ["log_data/2019/01/zz-broken-events.json", 3, "'page' is missing, a value is required"],
          ["song_data/0/0/0/TR000BROKEN.json", 1, "not valid JSON"],
        ],
      );
      assert.equal(rejected[1]!.text, "{not json");
      assert.equal(rejected[1]!.offset, badLines[0]!.length + 1);
    });
  });
});

describe("Sparkify on every input shape", () => {
  it("holds every table's rows to the SQL reference on each of the generator's shapes (multi-day and hourly files, month-end peaks, escaped artist ids, long unicode text, bursts)", async () => {
    await withTempDir(async (folder) => {
      for (const [name, shape] of Object.entries(INPUT_SHAPES)) {
        const input = join(folder, name, "input");
        const output = join(folder, name, "lake");
        await generateSparkifyInput({ songs: 300, events: 4000, output: input, seed: 11, ...shape });
        const run = sparkify(["--input", input, "--output", output, "--threads", "2", "--quiet"]);
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(await compareWithReference(input, output), {}, `${name} shape`);
      }
    });
  });
});

describe("Sparkify on S3", { skip: s3Unavailable }, () => {
  it("reads from and writes to S3 the same rows, songplay_id included, as a local run over the same input", async () => {
    await withTempDir(async (folder) => {
      const bucket = await freshBucket("sparkify");
      const options = { songs: 120, events: 3000, seed: 11, matchShare: 0.4 };
      await generateSparkifyInput({ ...options, output: join(folder, "input") });
      await generateSparkifyInput({ ...options, output: `s3://${bucket}/raw`, s3: s3Settings });
      const local = join(folder, "local");
      assert.equal(sparkify(["--input", join(folder, "input"), "--output", local, "--quiet"]).status, 0);
      const s3Flags = ["--s3-endpoint", s3Settings.endpoint!, "--s3-path-style"];
      const run = sparkify([
        "--input",
        `s3://${bucket}/raw`,
        "--output",
        `s3://${bucket}/lake`,
        "--quiet",
        ...s3Flags,
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, "", "a quiet run that succeeds prints nothing on stderr");
      const copy = await downloadPrefix(`s3://${bucket}/lake`, join(folder, "copy"));
      assert.deepEqual(await tableDigests(copy), await tableDigests(local));
      const successes = (await listFiles(`s3://${bucket}/lake`, s3Settings)).length;
      assert.ok(successes > 0);
    });
  });
});

describe("the sparkify command", () => {
  it("prints its usage for --help and -h, naming its bin, and a usage error with exit 2 for bad arguments", () => {
    const help = sparkify(["--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: sparkify \[options\]\n/);
    const wide = help.stdout.split("\n").filter((line) => line.length > 80);
    assert.deepEqual(wide, [], "the usage fits a terminal of 80 columns");
    assert.equal(sparkify(["-h"]).stdout, help.stdout);
    for (const args of [
      ["--threads", "zero"],
      ["--mode", "append"],
      ["--bogus"],
      ["--max-rejected", "lots"],
      ["--memory-budget", "12 parsecs"],
      ["--v8-helper-threads", "off"],
      ["--heap-growth-below", "a lot"],
    ]) {
      const run = sparkify(args);
      assert.equal(run.status, 2, args.join(" "));
      assert.match(run.stderr, /^sparkify: .+\n\nUsage:/);
    }
  });

  it("refuses values that cannot help, and paths it cannot use, before the run starts, saying why", async () => {
    await withTempDir(async (folder) => {
      const file = join(folder, "events.json");
      await writeFile(file, "{}\n");
      const cases: [string[], RegExp][] = [
        [["--threads", "0x10"], /^sparkify: --threads must be a positive integer, got '0x10'\n/],
        [["--threads", "-5"], /^sparkify: --threads must be a positive integer, got '-5'\n/],
        [["--partitions", "-1"], /^sparkify: --partitions must be a positive integer, got '-1'\n/],
        [
          ["--threads", "1000"],
          /^sparkify: --threads must be at most \d+ \(4 per core on this machine's \d+\): more workers only add memory/,
        ],
        [["--partitions", "100000"], /^sparkify: --partitions must be at most 10,000, got '100000'\n/],
        [["--s3-requests", "0"], /^sparkify: --s3-requests must be a positive integer, got '0'\n/],
        [["--s3-requests", "5000"], /^sparkify: --s3-requests must be at most 1,000, got '5000'\n/],
        // A value left out, last or before another option; a misspelt option, with the one meant.
        [["--threads"], /^sparkify: --threads needs a value\n/],
        [["--input", "--output", join(folder, "out")], /^sparkify: --input needs a value\n/],
        [["--thread", "2"], /^sparkify: unknown option '--thread' \(did you mean '--threads'\?\)\n/],
        [["--redis", "redis://queue:6379"], /^sparkify: --redis applies to --runner cluster only\n/],
        [["--runner", "cluster"], /^sparkify: --runner cluster needs --redis URL \(redis:\/\/host:6379\)\n/],
        [
          ["--runner", "cluster", "--redis", "queue:6379", "--shuffle", folder],
          /^sparkify: --redis must look like redis:\/\/host:6379, got 'queue:6379'\n/,
        ],
        [
          ["--runner", "cluster", "--redis", "redis://queue:6379"],
          /^sparkify: --runner cluster needs --shuffle s3:\/\/bucket\/prefix \(or a shared folder\)\n/,
        ],
        [
          ["--runner", "cluster", "--redis", "redis://queue:6379", "--shuffle", folder, "--slots", "0"],
          /^sparkify: --slots must be a positive integer, got '0'\n/,
        ],
        [
          ["--max-rejected", "101%"],
          /^sparkify: --max-rejected must be a percentage of at most 100%, got '101%'\n/,
        ],
        [
          ["--input", file, "--output", join(folder, "out")],
          /^sparkify: --input must be a folder, zip archive or s3:\/\/bucket\/prefix holding song_data\/ and log_data\/, and \S+events\.json is a file\n/,
        ],
        [
          ["--output", file],
          /^sparkify: --output must be a folder or s3:\/\/bucket\/prefix for the tables, and \S+events\.json is a file\n/,
        ],
        [
          ["--temp-dir", join(folder, "missing"), "--output", join(folder, "out")],
          /^sparkify: --temp-dir \S+missing is not a folder\n/,
        ],
        [
          ["--summary-json", join(folder, "missing", "summary.json"), "--output", join(folder, "out")],
          /^sparkify: --summary-json \S+summary\.json cannot be written \(its folder is not writable or does not exist\)\n/,
        ],
      ];
      for (const [args, message] of cases) {
        const run = sparkify(args);
        assert.equal(run.status, 2, `${args.join(" ")}: ${run.stderr}`);
        assert.match(run.stderr, message);
        assert.ok(!existsSync(join(folder, "out")), "nothing is written");
      }
    });
  });

  it("fails in one line, without a stack trace, on an existing output, a missing input, or an output inside the input", async () => {
    await withTempDir(async (folder) => {
      const output = join(folder, "lake");
      assert.equal(sparkify(["--output", output, "--quiet"]).status, 0);
      const cases: [string[], RegExp][] = [
        [
          ["--output", output, "--quiet"],
          /the output table 'artists' already exists at .*; choose another output or use --mode overwrite/,
        ],
        [
          ["--input", join(folder, "nothing"), "--output", join(folder, "x")],
          /found no songs \(no file matches .*nothing\/song_data\/\*\*\/\*\.\{json,json\.gz\}\) and no events \(no file matches .*nothing\/log_data\/\*\*\/\*\.\{json,json\.gz\}\)/,
        ],
        [
          ["--input", folder, "--output", join(folder, "inside")],
          /must not be the same as, inside or above --input/,
        ],
      ];
      for (const [args, message] of cases) {
        const run = sparkify(args);
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, message);
        assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
      }
    });
  });

  it("writes its summary as JSON to stdout with --summary-json -, the table going to stderr", async () => {
    await withTempDir(async (folder) => {
      const run = sparkify(["--output", join(folder, "lake"), "--summary-json", "-", "--quiet"]);
      assert.equal(run.status, 0, run.stderr);
      const summary = JSON.parse(run.stdout) as { status: string; tables: Record<string, { rows: number }> };
      assert.equal(summary.status, "succeeded");
      assert.ok(summary.tables.songplays!.rows > 0);
      assert.match(run.stderr, /^table\s+rows\s+partitions/);
    });
  });

  it("writes a summary for a failed run too, with its error, to a file or to stdout", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      await generateSparkifyInput({ songs: 20, events: 300, output: input, seed: 3 });
      await appendFile(join(input, "log_data/2018/11/2018-11-02-events.json"), "\n{broken\n{broken again\n");
      const file = join(folder, "summary.json");
      const args = ["--input", input, "--output", join(folder, "lake"), "--quiet", "--max-rejected", "1"];
      const toFile = sparkify([...args, "--summary-json", file]);
      assert.equal(toFile.status, 1);
      const toStdout = sparkify([...args, "--summary-json", "-"]);
      assert.equal(toStdout.status, 1);
      for (const text of [await readFile(file, "utf8"), toStdout.stdout]) {
        const summary = JSON.parse(text) as Record<string, unknown>;
        assert.equal(summary.status, "failed");
        assert.equal(summary.exitCode, 1);
        assert.match(String(summary.error), /^2 record\(s\) rejected, more than the limit of 1/);
        assert.ok((summary.recordsRead as number) > 0, "what was read before the failure");
      }
    });
  });

  it("fails when more records are rejected than allowed, and commits nothing", async () => {
    await withTempDir(async (folder) => {
      const input = join(folder, "input");
      await generateSparkifyInput({ songs: 20, events: 300, output: input, seed: 3 });
      await appendFile(join(input, "log_data/2018/11/2018-11-02-events.json"), "\n{broken\n{broken again\n");
      const output = join(folder, "lake");
      const run = sparkify(["--input", input, "--output", output, "--quiet", "--max-rejected", "1"]);
      assert.equal(run.status, 1, `exit ${run.status}, signal ${run.signal}, stderr: ${run.stderr}`);
      assert.match(
        run.stderr,
        /^sparkify: error: 2 record\(s\) rejected, more than the limit of 1; first: .*2018-11-02-events\.json line \d+: not valid JSON/,
      );
      assert.ok(!existsSync(output) || (await readdir(output)).length === 0, "nothing committed");
    });
  });

  it("writes counts as en-US does, thousands separated by commas", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.double({ noNaN: true, min: -1e15, max: 1e15 })),
        (count) => {
          // A count rounded to minus zero is written 0, not -0.
          assert.equal(formatCount(count), (Math.round(count) || 0).toLocaleString("en-US"));
        },
      ),
    );
  });

  it("prints the plan with --explain", () => {
    const run = sparkify(["--explain", "--output", "/tmp/unused"]);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^plan: 7 stage\(s\), 5 shuffle\(s\)/);
    assert.match(run.stdout, /latest play per user/);
    assert.match(run.stdout, /shuffle write: 'songs by artist\/key' -> 'songs by artist'/);
    assert.match(run.stdout, /table write: 'key songs by title' -> 'match plays to songs'/);
  });
});
