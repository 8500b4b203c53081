/**
 * One writer per output, for real: two commands writing one output at once, on local disk and on an
 * S3 server that honours conditional writes; a killed writer's lock, taken over once its lease ends.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { writeFile } from "node:fs/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { listFiles, parseLocation, s3Client } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { tableDigests } from "./support/digests.js";
import {
  conditionalS3Settings,
  conditionalS3Unavailable,
  downloadPrefix,
  freshBucket,
} from "./support/s3.js";
import { withTempDir } from "./support/temp.js";

const command = join(fileURLToPath(new URL("../..", import.meta.url)), "dist/pipelines/sparkify.js");

interface Finished {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Starts the command; `finished` resolves when it exits. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): { finished: Promise<Finished> } {
  const child = spawn(process.execPath, [command, "--quiet", "--threads", "1", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return {
    finished: new Promise((resolve) =>
      child.on("exit", (status, signal) => resolve({ status, signal, stderr })),
    ),
  };
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const REFUSED =
  /^sparkify: error: the output \S+ is being written by run (\S+) \(pid \d+ on \S+, its lease runs until \S+\); one run may write an output at a time\n$/;

for (const where of ["local", "s3"] as const) {
  const skip = where === "s3" ? conditionalS3Unavailable : undefined;
  describe(`one writer per output (${where === "local" ? "local disk" : "S3 with conditional writes"})`, {
    skip,
  }, () => {
    const s3Flags =
      where === "s3" ? ["--s3-endpoint", conditionalS3Settings.endpoint!, "--s3-path-style"] : [];
    const env = where === "s3" ? { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" } : {};
    const outputIn = async (folder: string, name: string) =>
      where === "local"
        ? join(folder, name)
        : `s3://${await freshBucket("lock", conditionalS3Settings)}/${name}`;
    const lockExists = (output: string) => async () =>
      where === "local"
        ? existsSync(join(output, "_lock.json"))
        : (await listFiles(output, conditionalS3Settings, { includeHidden: true })).some((file) =>
            file.uri.endsWith("/_lock.json"),
          );
    const digestsOf = async (output: string, folder: string, name: string) =>
      tableDigests(
        where === "local" ? output : await downloadPrefix(output, join(folder, name), conditionalS3Settings),
      );

    it("refuses a second writer at once, naming the run that writes, and lets the first finish", async () => {
      await withTempDir(async (folder) => {
        const input = join(folder, "input");
        // Large enough that the first writer is still writing when the second comes, 0.7 s after
        // its lock and a process start later, however fast the machine.
        await generateSparkifyInput({ songs: 200, events: 200_000, output: input, seed: 5 });
        const output = await outputIn(folder, "lake");
        const reference = join(folder, "reference");
        const alone = await start(["--input", input, "--output", reference]).finished;
        assert.equal(alone.status, 0, alone.stderr);

        // A lease of 300 ms, renewed every 100 ms: the second writer comes after two leases would
        // have run out, and is refused all the same, since the first renews its lease.
        const leased = { ...env, SLUICE_LOCK_LEASE_MS: "300" };
        const first = start(
          ["--input", input, "--output", output, "--mode", "overwrite", ...s3Flags],
          leased,
        );
        await until(lockExists(output), "the first writer's lock");
        await new Promise((resolve) => setTimeout(resolve, 700));
        const second = await start(
          ["--input", input, "--output", output, "--mode", "overwrite", ...s3Flags],
          leased,
        ).finished;
        assert.equal(second.status, 1, second.stderr);
        assert.match(second.stderr, REFUSED);
        const done = await first.finished;
        assert.equal(done.status, 0, done.stderr);
        assert.equal(await lockExists(output)(), false, "the lock is released");
        assert.deepEqual(await digestsOf(output, folder, "copy"), await tableDigests(reference));
      });
    });

    it("takes over a killed writer's lock at once on the same machine, and another machine's once its lease ends", async () => {
      await withTempDir(async (folder) => {
        const input = join(folder, "input");
        await generateSparkifyInput({ songs: 40, events: 800, output: input, seed: 6 });
        const reference = join(folder, "reference");
        assert.equal((await start(["--input", input, "--output", reference]).finished).status, 0);
        const output = await outputIn(folder, "lake");
        const killed = await start(["--input", input, "--output", output, ...s3Flags], {
          ...env,
          SLUICE_TEST_KILL_AT_COMMIT_STEP: "journal-written",
        }).finished;
        assert.equal(killed.signal, "SIGKILL");
        assert.ok(await lockExists(output)(), "the killed run's lock is left");
        const next = await start(
          ["--input", input, "--output", output, "--mode", "overwrite", ...s3Flags],
          env,
        ).finished;
        assert.equal(
          next.status,
          0,
          `its process is gone, so its lock is taken over at once: ${next.stderr}`,
        );
        assert.deepEqual(await digestsOf(output, folder, "copy"), await tableDigests(reference));

        // A lock of a run on another machine, which this one cannot see die: its lease is waited out.
        const lease = {
          runId: "20261130T000000-elsewhere",
          host: "another-machine",
          pid: 4242,
          // Long enough for the refused run to start and reach the lock on a loaded machine.
          expiresAt: Date.now() + 5000,
        };
        if (where === "local") await writeFile(join(output, "_lock.json"), JSON.stringify(lease));
        else {
          const location = parseLocation(`${output}/_lock.json`) as { bucket: string; key: string };
          await (await s3Client(conditionalS3Settings)).send(
            new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: JSON.stringify(lease) }),
          );
        }
        const refused = await start(
          ["--input", input, "--output", output, "--mode", "overwrite", ...s3Flags],
          env,
        ).finished;
        assert.equal(refused.status, 1);
        assert.match(refused.stderr, REFUSED);
        assert.match(refused.stderr, /run 20261130T000000-elsewhere \(pid 4242 on another-machine/);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, lease.expiresAt - Date.now()) + 100));
        const after = await start(
          ["--input", input, "--output", output, "--mode", "overwrite", ...s3Flags],
          env,
        ).finished;
        assert.equal(after.status, 0, after.stderr);
      });
    });
  });
}
