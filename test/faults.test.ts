import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { RejectedRecord, SourceReadContext } from "../src/index.js";
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { jsonLines, listFiles, s3Client } from "../src/io/index.js";
import { openStagedFile, writeStaged } from "../src/io/staging.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { eventInputSchema } from "../src/pipelines/sparkify-schemas.js";
import { TABLE_COLUMNS } from "../bench/sparkify-duckdb.js";
import {
  conditionalS3Settings,
  conditionalS3Unavailable,
  downloadPrefix,
  freshBucket,
  objectListing,
  s3Settings,
  s3Unavailable,
} from "./support/s3.js";
import { plainItems, writeItems } from "./fixtures/lake-pipelines.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { tableDigests } from "./support/digests.js";
import { type SmallDisk, withSmallDisk } from "./support/small-disk.js";
import { withTempDir } from "./support/temp.js";
import { sparkify as sparkifyLibrary } from "../src/pipelines/sparkify-load.js";
import { forEachInLanes } from "../src/io/in-lanes.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const command = join(root, "dist/pipelines/sparkify.js");
const TABLES = Object.keys(TABLE_COLUMNS);

function sparkify(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [command, "--quiet", ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

/**
 * Runs the command without blocking this process (which may be serving it, as the proxy does, or
 * running another beside it).
 */
function sparkifyAsync(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [command, "--quiet", ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("exit", (status, signal) => resolve({ status, signal, stderr }));
  });
}

/**
 * The commit-step tests take two steps at a time: each runs a few commands over an output of its
 * own, and the steps do not meet.
 */
const STEPS_AT_ONCE = 2;

const digests = tableDigests;

/** Steps of a local commit at which the kill and failure tests stop it. */
const LOCAL_COMMIT_STEPS = [
  "journal-written",
  "table-moved-away:artists",
  "table-moved-in:artists",
  "table-moved-away:songs",
  "table-moved-in:users",
  "success-written",
];
/** Steps of an S3 commit after its journal is written. */
const S3_COMMIT_STEPS_AFTER_JOURNAL = [
  "upload-completed:1",
  "uploads-completed",
  "previous-deleted",
  "success-written",
];

/**
 * Runs an overwrite and kills it with SIGKILL after `delay` ms, or, if it gets that far first, as
 * its commit starts, before the journal: either way it dies before its commit, whatever the
 * machine's speed. (Killed once its journal is written instead, a run this fast left a journal that
 * the next run over the output finished: the tables were then the new ones.) Resolves to the
 * signal that ended it.
 */
function killedBeforeCommit(args: string[], delay: number): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, [command, "--quiet", ...args, "--mode", "overwrite"], {
    env: { ...process.env, SLUICE_TEST_KILL_AT_COMMIT_STEP: "commit-started" },
    stdio: "ignore",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), delay);
  return new Promise((resolve) =>
    child.on("exit", (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    }),
  );
}

async function twoInputs(folder: string): Promise<{ oldInput: string; newInput: string }> {
  const oldInput = join(folder, "old-input");
  const newInput = join(folder, "new-input");
  await generateSparkifyInput({ songs: 60, events: 1500, output: oldInput, seed: 1 });
  await generateSparkifyInput({ songs: 80, events: 2500, output: newInput, seed: 2 });
  return { oldInput, newInput };
}

/** The table digests of a local run over `input`: what any other run over it must give. */
async function digestsOfLocalRun(input: string, output: string): Promise<Record<string, string>> {
  const run = sparkify(["--input", input, "--output", output]);
  assert.equal(run.status, 0, run.stderr);
  return digests(output);
}

describe("killed runs (SIGKILL) and stopped runs (SIGTERM), local output", () => {
  it("killed at each step of its commit: the next run finishes the commit first, and tables are all new", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      await forEachInLanes(LOCAL_COMMIT_STEPS, STEPS_AT_ONCE, async (step) => {
        const output = join(folder, `lake-${step.replace(/[^a-z]/g, "-")}`);
        assert.equal((await sparkifyAsync(["--input", oldInput, "--output", output])).status, 0);
        const killed = await sparkifyAsync(["--input", newInput, "--output", output, "--mode", "overwrite"], {
          SLUICE_TEST_KILL_AT_COMMIT_STEP: step,
        });
        assert.equal(killed.signal, "SIGKILL", `killed at ${step}`);
        assert.ok(existsSync(join(output, "_temporary")), "the journal is left for the next run");
        // The next run, even one that then refuses to write, first finishes the interrupted commit.
        const next = await sparkifyAsync(["--input", newInput, "--output", output]);
        assert.equal(next.status, 1);
        assert.match(next.stderr, /already exists/);
        assert.deepEqual(await digests(output), expected, `all tables new after a kill at ${step}`);
        assert.ok(!existsSync(join(output, "_temporary")), "no staged leftovers");
        for (const table of TABLES) assert.ok(existsSync(join(output, table, "_SUCCESS")));
      });
    });
  });

  it("killed at random points before its commit: the previous output stays exactly as it was", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const output = join(folder, "lake");
      assert.equal(sparkify(["--input", oldInput, "--output", output]).status, 0);
      const before = await digests(output);
      // A marker is empty: which file it is (inode, time) tells whether a run replaced it.
      const markers = () =>
        Promise.all(
          TABLES.map(async (table) => {
            const marker = await stat(join(output, table, "_SUCCESS"));
            return `${table} ${marker.ino} ${marker.mtimeMs}`;
          }),
        );
      const successBefore = await markers();
      for (const delay of [150, 400, 700, 1000]) {
        const signal = await killedBeforeCommit(["--input", newInput, "--output", output], delay);
        assert.equal(signal, "SIGKILL");
        assert.deepEqual(await digests(output), before, `killed after ${delay} ms`);
        assert.deepEqual(await markers(), successBefore, "no _SUCCESS of the killed run");
      }
      // The next run completes and leaves no staged files behind.
      assert.equal(sparkify(["--input", newInput, "--output", output, "--mode", "overwrite"]).status, 0);
      assert.ok(!existsSync(join(output, "_temporary")));
    });
  });

  it("SIGINT and SIGTERM stop a run cleanly: a message, a non-zero exit, the previous output intact, nothing staged", async () => {
    await withTempDir(async (folder) => {
      const oldInput = join(folder, "old-input");
      const bigInput = join(folder, "big-input");
      await generateSparkifyInput({ songs: 60, events: 1500, output: oldInput, seed: 1 });
      await generateSparkifyInput({ songs: 3000, events: 150_000, output: bigInput, seed: 2 });
      const output = join(folder, "lake");
      assert.equal(sparkify(["--input", oldInput, "--output", output]).status, 0);
      const before = await digests(output);
      const tempDir = join(folder, "temp");
      await mkdir(tempDir);
      const startRun = () => {
        const child = spawn(
          process.execPath,
          [
            command,
            "--quiet",
            "--input",
            bigInput,
            "--output",
            output,
            "--mode",
            "overwrite",
            "--temp-dir",
            tempDir,
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        let stderr = "";
        child.stderr.on("data", (chunk) => {
          stderr += chunk;
        });
        const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
          child.on("exit", (code) => resolve({ code, stderr })),
        );
        return { child, exit };
      };
      for (const [signal, status] of [
        ["SIGINT", 130],
        ["SIGTERM", 143],
      ] as const) {
        const { child, exit } = startRun();
        setTimeout(() => child.kill(signal), 1500);
        const { code, stderr } = await exit;
        assert.equal(code, status, signal);
        assert.equal(
          stderr,
          `sparkify: error: the run was stopped (${signal} received); nothing was committed\n`,
        );
        assert.deepEqual(await digests(output), before);
        assert.ok(!existsSync(join(output, "_temporary")));
        assert.deepEqual(await readdir(tempDir), [], "nothing is left in the temporary folder");
      }
      // Two SIGINTs in quick succession: the second stops at once, and still leaves no temporary
      // files. (Should the clean stop be over before the second arrives, the run is tried again.)
      let stoppedAtOnce = false;
      for (let attempt = 0; attempt < 3 && !stoppedAtOnce; attempt++) {
        const { child, exit } = startRun();
        setTimeout(() => {
          child.kill("SIGINT");
          // Apart, so that the two are delivered as two.
          setTimeout(() => child.kill("SIGINT"), 5);
        }, 1500);
        const { code, stderr } = await exit;
        assert.equal(code, 130);
        stoppedAtOnce = /^sparkify: SIGINT received again: stopping now\n/m.test(stderr);
        assert.deepEqual(await readdir(tempDir), [], "nothing is left in the temporary folder");
        assert.deepEqual(await digests(output), before);
      }
      assert.ok(stoppedAtOnce, "a second SIGINT stopped the run at once");
      const next = sparkify(["--input", oldInput, "--output", output, "--mode", "overwrite"]);
      assert.equal(next.status, 0, next.stderr);
      assert.ok(!existsSync(join(output, "_temporary")), "the next run removes what the stopped one staged");
    });
  });
});

describe("commit steps that fail by themselves, local output", () => {
  it("a step that fails (at every step, and a table folder that cannot be renamed): the commit is undone, the tables all old", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      await forEachInLanes(LOCAL_COMMIT_STEPS, STEPS_AT_ONCE, async (step) => {
        const output = join(folder, `lake-${step.replace(/[^a-z]/g, "-")}`);
        assert.equal((await sparkifyAsync(["--input", oldInput, "--output", output])).status, 0);
        const before = await digests(output);
        const failed = await sparkifyAsync(["--input", newInput, "--output", output, "--mode", "overwrite"], {
          SLUICE_TEST_FAIL_AT_COMMIT_STEP: step,
        });
        assert.equal(failed.status, 1, `failed at ${step}`);
        assert.match(
          failed.stderr,
          new RegExp(
            `^sparkify: error: the commit failed and was undone, the previous tables are as they were: .*injected failure after commit step ${step}\n$`,
          ),
        );
        assert.deepEqual(await digests(output), before, `all tables old after a failure at ${step}`);
        assert.ok(!existsSync(join(output, "_temporary")), "nothing staged is left");
        for (const table of TABLES) assert.ok(existsSync(join(output, table, "_SUCCESS")));
        const next = await sparkifyAsync(["--input", newInput, "--output", output, "--mode", "overwrite"]);
        assert.equal(next.status, 0, next.stderr);
        assert.deepEqual(await digests(output), expected);
      });

      // For real: an immutable users/ folder, which cannot be renamed away (EPERM).
      const output = join(folder, "lake-immutable");
      assert.equal(sparkify(["--input", oldInput, "--output", output]).status, 0);
      const before = await digests(output);
      const immutable = spawnSync("chattr", ["+i", join(output, "users")], { encoding: "utf8" });
      assert.equal(immutable.status, 0, `chattr +i: ${immutable.stderr}`);
      try {
        const failed = sparkify(["--input", newInput, "--output", output, "--mode", "overwrite"]);
        assert.equal(failed.status, 1);
        assert.match(
          failed.stderr,
          /^sparkify: error: the commit failed and was undone, the previous tables are as they were: cannot write \S+\/users: the operation is not permitted \(EPERM\)\n$/,
        );
        assert.deepEqual(await digests(output), before, "all tables old");
        assert.ok(!existsSync(join(output, "_temporary")), "nothing staged is left");
      } finally {
        spawnSync("chattr", ["-i", join(output, "users")]);
      }
    });
  });

  it("a commit that can be neither finished nor undone keeps its journal, and the next run finishes it", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      const output = join(folder, "lake");
      assert.equal(sparkify(["--input", oldInput, "--output", output]).status, 0);
      // songs/ is moved away, then the run cannot move the staged songs in: an immutable staging
      // folder (its parent, _temporary/<run>, cannot lose it) stops both the step and its undo.
      const child = spawn(
        process.execPath,
        [command, "--quiet", "--input", newInput, "--output", output, "--mode", "overwrite"],
        {
          env: { ...process.env, SLUICE_TEST_KILL_AT_COMMIT_STEP: "table-moved-away:songs" },
          stdio: "ignore",
        },
      );
      await new Promise((resolve) => child.on("exit", resolve));
      const runs = (await readdir(join(output, "_temporary"))).filter((name) => !name.startsWith("."));
      assert.equal(runs.length, 1);
      const staging = join(output, "_temporary", runs[0]!);
      const locked = spawnSync("chattr", ["+i", staging], { encoding: "utf8" });
      assert.equal(locked.status, 0, locked.stderr);
      try {
        const blocked = sparkify(["--input", newInput, "--output", output, "--mode", "overwrite"]);
        assert.equal(blocked.status, 1);
        assert.match(
          blocked.stderr,
          /^sparkify: error: the commit of run \S+, interrupted earlier, cannot be finished: .*\(EPERM\); its journal stays in \S+ until it can\n$/,
        );
        assert.ok(existsSync(join(staging, "_journal.json")), "the journal is kept");
        assert.ok(existsSync(join(staging, "_old", "songs")), "the old songs table is kept");
      } finally {
        spawnSync("chattr", ["-i", staging]);
      }
      const next = sparkify(["--input", newInput, "--output", output]);
      assert.equal(next.status, 1);
      assert.match(next.stderr, /already exists/);
      assert.deepEqual(await digests(output), expected, "the next run finished the commit: all tables new");
    });
  });

  it("never removes or replaces what it did not write: a file or a foreign folder where a table goes fails the run, in every mode", async () => {
    await withTempDir(async (folder) => {
      const { oldInput } = await twoInputs(folder);
      const output = join(folder, "lake");
      await mkdir(output, { recursive: true });
      await writeFile(join(output, "songs"), "a user's file");
      for (const mode of ["error-if-exists", "overwrite"]) {
        const run = sparkify(["--input", oldInput, "--output", output, "--mode", mode]);
        assert.equal(run.status, 1, mode);
        assert.match(
          run.stderr,
          /^sparkify: error: \S+\/lake\/songs is a file, not a table folder; sluice replaces only tables it wrote/,
        );
        assert.equal(await readFile(join(output, "songs"), "utf8"), "a user's file");
      }
      await rm(join(output, "songs"));
      await mkdir(join(output, "users"));
      await writeFile(join(output, "users", "export.csv"), "id\n1\n");
      const run = sparkify(["--input", oldInput, "--output", output, "--mode", "overwrite"]);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /users holds files but no _SUCCESS, so it is not a table sluice wrote/);
      assert.equal(await readFile(join(output, "users", "export.csv"), "utf8"), "id\n1\n");
    });
  });

  it("an output that is a file, or lies below one, fails in one sentence and leaves the file as it was", async () => {
    await withTempDir(async (folder) => {
      const { oldInput } = await twoInputs(folder);
      const output = join(folder, "lake");
      await writeFile(output, "a user's file");
      // The file itself is refused with the usage, before the run.
      const onFile = sparkify(["--input", oldInput, "--output", output]);
      assert.equal(onFile.status, 2);
      assert.match(
        onFile.stderr,
        /^sparkify: --output must be a folder or s3:\/\/bucket\/prefix for the tables, and \S+\/lake is a file\n/,
      );
      // A folder below it is found when the run takes its lock.
      const below = sparkify(["--input", oldInput, "--output", join(output, "tables")]);
      assert.equal(below.status, 1);
      // Nothing could be staged below a file: no line about staged output left behind.
      assert.match(
        below.stderr,
        /^sparkify: error: cannot write \S+\/lake\/tables\/_lock\.json: a part of the path is a file, not a folder \(ENOTDIR\)\n$/,
      );
      assert.equal(await readFile(output, "utf8"), "a user's file");
    });
  });
  it("an output whose folder cannot be made (under /proc, below a dangling link) fails in one sentence, never spins", async () => {
    await withTempDir(async (folder) => {
      const { oldInput } = await twoInputs(folder);
      await symlink(join(folder, "unmounted-disk"), join(folder, "lake-link"));
      const cases: [string, RegExp][] = [
        // procfs answers ENOENT for a folder made in an existing folder: Node's recursive mkdir
        // then makes the parent (EEXIST) and the child again, forever.
        [
          "/proc/sluice-lake",
          /^sparkify: error: cannot write \/proc\/sluice-lake\/_lock\.json: \/proc exists but no folder can be made in it \(ENOENT: .*\)\n$/,
        ],
        [
          join(folder, "lake-link", "lake"),
          /^sparkify: error: cannot write \S+\/lake-link\/lake\/_lock\.json: \S+\/lake-link is a symbolic link to \S+\/unmounted-disk, which does not exist\n$/,
        ],
      ];
      for (const [output, message] of cases) {
        // Killed, not stopped: a run that spins would take a SIGTERM as a request to stop cleanly.
        const run = spawnSync(
          process.execPath,
          [command, "--quiet", "--input", oldInput, "--output", output],
          {
            encoding: "utf8",
            timeout: 60_000,
            killSignal: "SIGKILL",
          },
        );
        assert.equal(run.signal, null, `${output}: still running after a minute`);
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr, message);
      }
    });
  });

  it("folders are made level by level in both of its forms, ending where a level cannot be made", () => {
    const script = `
      import { makeFolders, makeFoldersSync } from ${JSON.stringify(join(root, "build/src/io/folders.js"))};
      const outcome = (attempt) => { try { attempt(); return "made"; } catch (error) { return error.message; } };
      console.log(JSON.stringify([
        await makeFolders("/proc/sluice-async/a").then(() => "made", (error) => error.message),
        outcome(() => makeFoldersSync("/proc/sluice-sync/a")),
      ]));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    assert.equal(run.signal, null, "still running after 30 s");
    const [asynchronous, blocking] = JSON.parse(run.stdout) as [string, string];
    assert.match(
      asynchronous,
      /^\/proc exists but no folder can be made in it \(ENOENT: .*'\/proc\/sluice-async'\)$/,
    );
    assert.match(
      blocking,
      /^\/proc exists but no folder can be made in it \(ENOENT: .*'\/proc\/sluice-sync'\)$/,
    );
  });
});

describe("killed runs (SIGKILL), S3 output", { skip: s3Unavailable }, () => {
  const s3Flags = () => ["--s3-endpoint", s3Settings.endpoint!, "--s3-path-style"];

  it("killed at each step of its commit: the next run finishes the commit first, and tables are all new", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      const bucket = await freshBucket("killed-commit");
      const steps = ["journal-written", ...S3_COMMIT_STEPS_AFTER_JOURNAL];
      await forEachInLanes(steps, STEPS_AT_ONCE, async (step, index) => {
        const output = `s3://${bucket}/lake-${index}`;
        const first = await sparkifyAsync(["--input", oldInput, "--output", output, ...s3Flags()]);
        assert.equal(first.status, 0, first.stderr);
        const killed = await sparkifyAsync(
          ["--input", newInput, "--output", output, "--mode", "overwrite", ...s3Flags()],
          {
            SLUICE_TEST_KILL_AT_COMMIT_STEP: step,
          },
        );
        assert.equal(killed.signal, "SIGKILL", `killed at ${step}`);
        const journals = (await objectListing(bucket, `lake-${index}/_temporary/`)).filter((entry) =>
          entry.includes("/_journal.json "),
        );
        assert.equal(journals.length, 1, "the journal is left for the next run");
        // The next run, even one that then refuses to write, first finishes the interrupted commit.
        const next = await sparkifyAsync(["--input", newInput, "--output", output, ...s3Flags()]);
        assert.equal(next.status, 1);
        assert.match(next.stderr, /already exists/);
        const copy = await downloadPrefix(output, join(folder, `copy-${index}`));
        assert.deepEqual(await digests(copy), expected, `all tables new after a kill at ${step}`);
        assert.deepEqual(await objectListing(bucket, `lake-${index}/_temporary/`), [], "no journal left");
        for (const table of TABLES) {
          const marker = await objectListing(bucket, `lake-${index}/${table}/_SUCCESS`);
          assert.equal(marker.length, 1, `${table}/_SUCCESS`);
        }
      });
    });
  });

  it("a commit step that fails keeps the journal and the uploads, and the next run finishes the commit", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      const bucket = await freshBucket("failed-commit");
      // A failure right after the journal is written is met once: the run takes the steps again.
      const once = `s3://${bucket}/lake-once`;
      assert.equal(sparkify(["--input", oldInput, "--output", once, ...s3Flags()]).status, 0);
      const retried = sparkify(["--input", newInput, "--output", once, "--mode", "overwrite", ...s3Flags()], {
        SLUICE_TEST_FAIL_AT_COMMIT_STEP: "journal-written",
      });
      assert.equal(retried.status, 0, retried.stderr);
      assert.deepEqual(await digests(await downloadPrefix(once, join(folder, "copy-once"))), expected);
      // A step that fails every time it is taken.
      await forEachInLanes(S3_COMMIT_STEPS_AFTER_JOURNAL, STEPS_AT_ONCE, async (step, index) => {
        const output = `s3://${bucket}/lake-${index}`;
        const first = await sparkifyAsync(["--input", oldInput, "--output", output, ...s3Flags()]);
        assert.equal(first.status, 0, first.stderr);
        const failed = await sparkifyAsync(
          ["--input", newInput, "--output", output, "--mode", "overwrite", ...s3Flags()],
          {
            SLUICE_TEST_FAIL_AT_COMMIT_STEP: step,
          },
        );
        assert.equal(failed.status, 1, `failed at ${step}`);
        assert.match(
          failed.stderr,
          new RegExp(
            `^sparkify: error: the commit failed \\(injected failure after commit step ${step}\\); its journal is kept at s3://${bucket}/lake-${index}/_temporary/\\S+/_journal\\.json, and the next run over this output finishes the commit first\n$`,
          ),
        );
        const journals = (await objectListing(bucket, `lake-${index}/_temporary/`)).filter((entry) =>
          entry.includes("/_journal.json "),
        );
        assert.equal(journals.length, 1, "the journal is kept");
        const next = await sparkifyAsync(["--input", newInput, "--output", output, ...s3Flags()]);
        assert.equal(next.status, 1);
        assert.match(next.stderr, /already exists/);
        const copy = await downloadPrefix(output, join(folder, `copy-${index}`));
        assert.deepEqual(await digests(copy), expected, `all tables new after a failure at ${step}`);
        assert.deepEqual(await objectListing(bucket, `lake-${index}/_temporary/`), [], "no journal left");
      });
    });
  });

  it("killed at random points before its commit: the previous output stays exactly as it was", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const bucket = await freshBucket("killed-early");
      const output = `s3://${bucket}/lake`;
      assert.equal(sparkify(["--input", oldInput, "--output", output, ...s3Flags()]).status, 0);
      const objectsBefore = await objectListing(bucket, "lake/");
      const rowsBefore = await digests(await downloadPrefix(output, join(folder, "before")));
      for (const delay of [200, 600, 1200]) {
        const signal = await killedBeforeCommit(
          ["--input", newInput, "--output", output, ...s3Flags()],
          delay,
        );
        assert.equal(signal, "SIGKILL");
        // What a killed run leaves is bookkeeping only: its staging and its lock.
        const tables = (await objectListing(bucket, "lake/")).filter(
          (entry) => !entry.startsWith("lake/_temporary/") && !entry.startsWith("lake/_lock.json "),
        );
        assert.deepEqual(
          tables,
          objectsBefore,
          `every object as it was, _SUCCESS included, after ${delay} ms`,
        );
        const rows = await digests(await downloadPrefix(output, join(folder, `after-${delay}`)));
        assert.deepEqual(rows, rowsBefore);
      }
      // The next run completes: the journal of the last killed run is rolled back or forward, and
      // nothing of the killed runs stays visible.
      const next = sparkify(["--input", newInput, "--output", output, "--mode", "overwrite", ...s3Flags()]);
      assert.equal(next.status, 0, next.stderr);
      assert.deepEqual(await objectListing(bucket, "lake/_temporary/"), []);
      assert.deepEqual(
        await digests(await downloadPrefix(output, join(folder, "final"))),
        await digestsOfLocalRun(newInput, join(folder, "reference")),
      );
    });
  });
});

describe("disk trouble (a small tmpfs in a private mount namespace)", () => {
  const sparkifyOn = (disk: SmallDisk, args: string[]) =>
    disk.run(process.execPath, [command, "--quiet", ...args]);

  it("a disk that fills: one clear line, a non-zero exit, the previous output intact, nothing staged", async () => {
    await withTempDir(async (folder) => {
      const oldInput = join(folder, "old-input");
      const bigInput = join(folder, "big-input");
      await generateSparkifyInput({ songs: 60, events: 1500, output: oldInput, seed: 1 });
      await generateSparkifyInput({ songs: 600, events: 20_000, output: bigInput, seed: 2 });
      await withSmallDisk(folder, "1500k", async (disk) => {
        const output = join(disk.path, "lake");
        const first = sparkifyOn(disk, ["--input", oldInput, "--output", output]);
        assert.equal(first.status, 0, first.stderr);
        const before = await digests(join(disk.outside, "lake"));
        const full = sparkifyOn(disk, ["--input", bigInput, "--output", output, "--mode", "overwrite"]);
        assert.equal(full.status, 1);
        assert.match(
          full.stderr,
          /^sparkify: error: .*cannot write \/\S+\/lake\/\S+: no space left on the device \(ENOSPC\)\n$/,
        );
        assert.deepEqual(await digests(join(disk.outside, "lake")), before);
        assert.ok(!existsSync(join(disk.outside, "lake", "_temporary")), "no staged leftovers");
      });
    });
  });

  it("a staged file whose disk fills while its writer waits for room: the writer goes on, the close names the failure", {
    // A writer left waiting for a drain that never comes would hang the run: this bounds the wait.
    timeout: 60_000,
  }, async () => {
    await withTempDir(async (folder) => {
      await withSmallDisk(folder, "2m", async (disk) => {
        const root = { kind: "local", path: disk.outside } as const;
        const staged = await openStagedFile(root, "run-1", "_sluice/loaded", "part-run-1.jsonl", {});
        const line = `${JSON.stringify({ path: "x".repeat(200) })}\n`;
        // 24 MiB in texts of 1 MiB: past the 2 MiB disk, past the staged file's buffer.
        for (let text = 0; text < 24; text++)
          await writeStaged(staged.stream, line.repeat((1 << 20) / line.length));
        await assert.rejects(staged.close(), /cannot write \/\S+: no space left on the device \(ENOSPC\)/);
      });
    });
  });

  it("an output folder that cannot be written: one clear line, a non-zero exit, the previous output intact", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      await withSmallDisk(folder, "8m", async (disk) => {
        const output = join(disk.path, "lake");
        const first = sparkifyOn(disk, ["--input", oldInput, "--output", output]);
        assert.equal(first.status, 0, first.stderr);
        const before = await digests(join(disk.outside, "lake"));
        disk.makeReadOnly();
        const refused = sparkifyOn(disk, ["--input", newInput, "--output", output, "--mode", "overwrite"]);
        assert.equal(refused.status, 1);
        assert.equal(
          refused.stderr,
          `sparkify: error: cannot write ${output}/_lock.json: the file system is read-only (EROFS)\n`,
        );
        assert.deepEqual(await digests(join(disk.outside, "lake")), before);
      });
    });
  });
});

describe("hostile input", () => {
  const line = fc.oneof(
    fc.constant(""),
    fc.constant("   "),
    fc.constant("{not json"),
    fc.constant('{"ts": 1541105830796, "page": "NextSong", "userId": "7"'),
    fc
      .record({
        ts: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
        page: fc.oneof(fc.string(), fc.integer()),
      })
      .map((value) => JSON.stringify(value)),
    fc
      .record({
        ts: fc.integer({ min: 0 }),
        page: fc.constantFrom("NextSong", "Home"),
        sessionId: fc.oneof(fc.integer(), fc.string()),
      })
      .map((value) => JSON.stringify(value)),
    fc
      .integer({ min: 1, max: 60 })
      .map((depth) => `{"ts": 1, "page": "x", "deep": ${"[".repeat(depth)}${"]".repeat(depth)}}`),
    fc.string({ unit: "grapheme", maxLength: 30 }),
    fc.constant(`{"ts": 2, "page": "${"x".repeat(5000)}"}`),
  );
  const lineBytes = fc.oneof(
    { weight: 8, arbitrary: line.map((text) => Buffer.from(text)) },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 20 })
        .map((bytes) => Buffer.from(bytes.map((byte) => (byte === 10 ? 0xff : byte)))),
    },
  );

  it("every line is loaded, rejected with its origin and reason, or skipped as blank: none lost, none twice", async () => {
    await withTempDir(async (folder) => {
      let fileIndex = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(lineBytes, { maxLength: 40 }),
          fc.boolean(),
          fc.constantFrom("\n", "\r\n"),
          fc.integer({ min: 1, max: 300 }),
          async (lines, byteOrderMark, lineEnd, splitBytes) => {
            const file = join(folder, `hostile-${fileIndex++}.json`);
            const parts: Buffer[] = byteOrderMark ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
            for (const [index, bytes] of lines.entries()) {
              parts.push(index > 0 ? Buffer.concat([Buffer.from(lineEnd), bytes]) : bytes);
            }
            await writeFile(file, Buffer.concat(parts));
            const rejected: RejectedRecord[] = [];
            let seen = 0;
            const context: SourceReadContext = {
              batchSize: 7,
              reject: (record) => rejected.push(record),
              addBytesRead: () => undefined,
              addRecordsSeen: (count) => {
                seen += count;
              },
            };
            const source = jsonLines(file, { schema: eventInputSchema, splitBytes, maxRecordBytes: 4000 });
            let loaded = 0;
            for (const split of await source.splits())
              for await (const batch of source.read(split, context)) loaded += batch.records.length;
            const blank = lines.filter((bytes) => /^[ \t\r]*$/.test(bytes.toString("latin1"))).length;
            assert.equal(loaded + rejected.length + blank, lines.length);
            assert.equal(seen, loaded + rejected.length);
            for (const record of rejected) {
              assert.equal(record.source, file);
              assert.ok(record.reason.length > 0);
              assert.equal(typeof record.offset, "number");
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  });
});

describe("secrets", { skip: s3Unavailable }, () => {
  it("credentials never appear in output, errors, summaries or rejected records", async () => {
    await withTempDir(async (folder) => {
      // s3rver accepts only its own key pair, which is distinctive enough to search for.
      const secretKey = "S3RVER";
      const accessKey = "S3RVER";
      const env = {
        AWS_ACCESS_KEY_ID: accessKey,
        AWS_SECRET_ACCESS_KEY: secretKey,
      };
      const bucket = await freshBucket("secrets");
      const input = `s3://${bucket}/raw`;
      const { generateSparkifyInput: generate } = await import("../src/pipelines/sparkify-generator.js");
      await generate({ songs: 20, events: 300, output: input, s3: s3Settings, seed: 5 });
      const s3Flags = ["--s3-endpoint", s3Settings.endpoint!, "--s3-path-style"];
      const summary = join(folder, "summary.json");
      const runs = [
        sparkify(
          [
            "--input",
            input,
            "--output",
            `s3://${bucket}/lake`,
            ...s3Flags,
            "--summary-json",
            summary,
            "--max-rejected",
            "100%",
          ],
          env,
        ),
        sparkify(
          ["--input", "s3://no-such-bucket-anywhere/raw", "--output", `s3://${bucket}/lake2`, ...s3Flags],
          env,
        ),
        sparkify(["--input", input, "--output", `s3://${bucket}/lake`, ...s3Flags], env),
      ];
      assert.equal(runs[0]!.status, 0, runs[0]!.stderr);
      assert.equal(runs[1]!.status, 1);
      assert.equal(runs[2]!.status, 1);
      const texts = [...runs.flatMap((run) => [run.stdout, run.stderr]), await readFile(summary, "utf8")];
      for (const text of texts) {
        for (const secret of [secretKey, accessKey, "Authorization", "X-Amz-Signature", "X-Amz-Credential"]) {
          assert.ok(!text.includes(secret), `${secret} leaked into: ${text.slice(0, 200)}`);
        }
      }
    });
  });
});

describe("S3 misbehaving (a fault-injecting proxy in front of the local S3 server)", {
  skip: s3Unavailable,
}, () => {
  it("503s, 500s, bodies cut off and stalled: the job retries or resumes and writes exactly the fault-free output", async () => {
    await withTempDir(async (folder) => {
      const bucket = await freshBucket("faults");
      await generateSparkifyInput({
        songs: 60,
        events: 4000,
        output: `s3://${bucket}/raw`,
        s3: s3Settings,
        seed: 9,
      });
      const clean = join(folder, "clean");
      await sparkifyLibrary({ input: `s3://${bucket}/raw`, output: clean, s3: s3Settings }, { threads: 2 });
      // Only the first request for a URL may go wrong, so that every retry and resumption
      // succeeds whatever order the threads' requests arrive in (a retry's own index is chance).
      const requests = new Map<string, number>();
      const proxy = await startFaultProxy(s3Settings.endpoint!, ({ method, url, index }) => {
        if (method !== "GET") return "pass";
        const seen = requests.get(url) ?? 0;
        requests.set(url, seen + 1);
        if (seen > 0) return "pass";
        if (url.includes("list-type=2")) return index % 4 === 1 ? "slowdown" : "pass";
        // Object reads: about one in four goes wrong, in four ways.
        if (index % 11 === 3) return "reset-mid-body";
        if (index % 13 === 5) return "slowdown";
        if (index % 17 === 7) return "internal";
        if (index % 29 === 9) return "stall";
        return "pass";
      });
      try {
        const faulty = join(folder, "faulty");
        const settings = { ...s3Settings, endpoint: proxy.endpoint, timeoutMs: 1000 };
        await sparkifyLibrary({ input: `s3://${bucket}/raw`, output: faulty, s3: settings }, { threads: 2 });
        for (const fault of ["slowdown", "internal", "reset-mid-body", "stall"] as const) {
          assert.ok(
            proxy.injected[fault] > 0,
            `the proxy injected ${fault}: ${JSON.stringify(proxy.injected)}`,
          );
        }
        assert.deepEqual(await digests(faulty), await digests(clean));
      } finally {
        await proxy.close();
      }
    });
  });

  it("permanent errors (no such bucket, refused credentials) fail at once in one line naming the bucket", async () => {
    const proxy = await startFaultProxy(s3Settings.endpoint!, () => "pass");
    try {
      const s3Flags = ["--s3-endpoint", proxy.endpoint, "--s3-path-style"];
      const missing = await sparkifyAsync([
        "--input",
        "s3://no-such-bucket-here/raw",
        "--output",
        "/tmp/unused-sluice-output",
        ...s3Flags,
      ]);
      assert.equal(missing.status, 1);
      assert.match(
        missing.stderr,
        /^sparkify: error: s3:\/\/no-such-bucket-here\/raw: the bucket 'no-such-bucket-here' does not exist\n$/,
      );
      const afterMissing = proxy.requests;
      assert.ok(afterMissing <= 4, `${afterMissing} requests: no pointless retries`);
      const bucket = await freshBucket("refused");
      const refused = await sparkifyAsync(
        ["--input", `s3://${bucket}/raw`, "--output", "/tmp/unused-sluice-output", ...s3Flags],
        {
          AWS_ACCESS_KEY_ID: "AKIANOTAVALIDKEY",
          AWS_SECRET_ACCESS_KEY: "not-the-secret",
        },
      );
      assert.equal(refused.status, 1);
      assert.match(
        refused.stderr,
        new RegExp(`^sparkify: error: s3://${bucket}/raw: the credentials were refused`),
      );
      assert.ok(
        proxy.requests - afterMissing <= 4,
        `${proxy.requests - afterMissing} requests: no pointless retries`,
      );
    } finally {
      await proxy.close();
    }
  });

  it("a failed run lists the staged uploads S3 would not let it remove", async () => {
    const bucket = await freshBucket("leftovers");
    const proxy = await startFaultProxy(s3Settings.endpoint!, ({ method }) =>
      method === "DELETE" ? "forbidden" : "pass",
    );
    try {
      const items = plainItems(3000);
      await assert.rejects(
        writeItems.run(
          {
            items,
            output: `s3://${bucket}/out`,
            mode: "overwrite",
            s3: { ...s3Settings, endpoint: proxy.endpoint },
            failAtId: 2900,
            splits: 4,
          },
          { threads: 2, batchSize: 100 },
        ),
        (error: Error) => {
          assert.match(
            error.message,
            /item 2900 is poisoned; staged output that could not be removed: s3:\/\/leftovers-[^ ]+\/out\/items\/part-[^ ]+\.parquet \(multipart upload [^)]+\)/,
          );
          return true;
        },
      );
      assert.ok(proxy.injected.forbidden > 0);
    } finally {
      await proxy.close();
    }
  });
  it("a commit over a slow link completes its staged uploads 16 at a time (or --s3-requests), and the lake is a local run's", async () => {
    await withTempDir(async (folder) => {
      const { oldInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(oldInput, join(folder, "reference"));
      const bucket = await freshBucket("slow-link");
      for (const [flags, atOnce] of [
        [[], 16],
        [["--s3-requests", "4"], 4],
      ] as const) {
        // Each request held 40 ms, as a round trip to a distant region takes: one completion after
        // another would make a commit of the songs table's 17,000 folders take minutes of waiting.
        const proxy = await startFaultProxy(s3Settings.endpoint!, () => "pass", {
          latencyMs: 40,
          kindOf: ({ method, url }) =>
            method === "POST" && url.includes("uploadId=") ? "complete" : undefined,
        });
        try {
          const output = `s3://${bucket}/lake-${atOnce}`;
          const run = await sparkifyAsync([
            "--input",
            oldInput,
            "--output",
            output,
            "--s3-endpoint",
            proxy.endpoint,
            "--s3-path-style",
            ...flags,
          ]);
          assert.equal(run.status, 0, run.stderr);
          assert.equal(proxy.mostAtOnce.complete, atOnce, JSON.stringify(proxy.mostAtOnce));
          assert.deepEqual(
            await digests(await downloadPrefix(output, join(folder, `copy-${atOnce}`))),
            expected,
          );
        } finally {
          await proxy.close();
        }
      }
    });
  });
});

describe("a failed run on S3 (moto_server, which lists open multipart uploads)", {
  skip: conditionalS3Unavailable,
}, () => {
  it("leaves no multipart upload open: neither those of the tasks that finished nor those of the files the failing task had closed or open", async () => {
    const bucket = await freshBucket("no-open-uploads", conditionalS3Settings);
    const items = plainItems(50_000);
    // Two tasks of 25,000 items, one after the other: the first stages its three files; the
    // second flushes its first 20,480 rows (five batches of 4,096, past the sink's buffer of
    // 20,000) into three files, one open at a time (each closed, its upload staged, as the next
    // opens), then fails on item 49,000, in its next batch, with the last file's upload open.
    await assert.rejects(
      writeItems.run(
        {
          items,
          output: `s3://${bucket}/out`,
          mode: "overwrite",
          partitionBy: ["small"],
          maxOpenFiles: 1,
          s3: conditionalS3Settings,
          failAtId: 49_000,
          splits: 2,
        },
        { threads: 1 },
      ),
      /item 49000 is poisoned/,
    );
    const client = await s3Client(conditionalS3Settings);
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.deepEqual(
      (listing.Uploads ?? []).map((upload) => upload.Key),
      [],
      "every upload the run opened is aborted",
    );
    assert.deepEqual(
      await listFiles(`s3://${bucket}/out/items`, conditionalS3Settings),
      [],
      "no file visible",
    );
  });

  it("a commit killed right after its journal is finished by the next run before that run aborts killed runs' uploads", async () => {
    await withTempDir(async (folder) => {
      const { oldInput, newInput } = await twoInputs(folder);
      const expected = await digestsOfLocalRun(newInput, join(folder, "reference"));
      const bucket = await freshBucket("journal-then-clean-up", conditionalS3Settings);
      const output = `s3://${bucket}/lake`;
      const flags = ["--s3-endpoint", conditionalS3Settings.endpoint!, "--s3-path-style"];
      const first = await sparkifyAsync(["--input", oldInput, "--output", output, ...flags]);
      assert.equal(first.status, 0, first.stderr);
      // Killed with every file staged and journalled, none completed: all its uploads are open,
      // and every one is the interrupted commit's to complete, not a killed run's to abort.
      const killed = await sparkifyAsync(
        ["--input", newInput, "--output", output, "--mode", "overwrite", ...flags],
        { SLUICE_TEST_KILL_AT_COMMIT_STEP: "journal-written" },
      );
      assert.equal(killed.signal, "SIGKILL");
      const client = await s3Client(conditionalS3Settings);
      const openUploads = async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
      assert.ok((await openUploads()).length > 0, "the killed commit's uploads are open");
      const next = await sparkifyAsync(["--input", newInput, "--output", output, ...flags]);
      assert.equal(next.status, 1);
      assert.match(next.stderr, /already exists/);
      assert.deepEqual(await openUploads(), [], "completed by the finished commit, none left");
      const copy = await downloadPrefix(output, join(folder, "copy"), conditionalS3Settings);
      assert.deepEqual(await digests(copy), expected, "every table the killed run's, whole");
    });
  });

  it("the next run aborts the uploads a killed run left open under the output, and no one else's", async () => {
    const bucket = await freshBucket("abandoned-uploads", conditionalS3Settings);
    const client = await s3Client(conditionalS3Settings);
    // What a killed run leaves: its files' uploads, opened (one with a part sent), never completed.
    const killedRun = "20261201T101010-abcdef";
    const abandoned = [
      `out/items/small=0/part-s0t00003-${killedRun}.parquet`,
      `out/items/small=1/part-s0t00003-${killedRun}-1.parquet`,
      `out/_sluice/state/part-s1t00000-${killedRun}.jsonl`,
    ];
    // Uploads of someone else's: beside the lake, and inside it under names no run gives a file.
    const foreign = [
      "out/notes/draft.txt",
      "out/items/part-0001.parquet",
      "elsewhere/part-s0t00003-x.parquet",
    ];
    for (const key of [...abandoned, ...foreign]) {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      if (key === abandoned[0])
        await client.send(
          new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: "half a file" }),
        );
    }
    const items = plainItems(30);
    await writeItems.run(
      {
        items,
        output: `s3://${bucket}/out`,
        mode: "overwrite",
        partitionBy: ["small"],
        s3: conditionalS3Settings,
      },
      { runner: "direct" },
    );
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.deepEqual(
      (listing.Uploads ?? []).map((upload) => upload.Key).sort(),
      [...foreign].sort(),
      "the killed run's uploads are aborted, the others stay",
    );
    assert.equal(
      (await listFiles(`s3://${bucket}/out/items`, conditionalS3Settings)).length,
      9,
      "a file a task and partition",
    );
  });
});
