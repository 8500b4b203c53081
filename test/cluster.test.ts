/**
 * The cluster runner, on a real Redis and real `sluice worker` processes: the same answers as the
 * direct and pool runners, and the faults of a cluster made to happen (a worker killed or frozen in
 * each kind of task, a user function that throws, the driver killed before and during its commit,
 * Redis or the S3 server gone mid-run, no worker at all, a worker that does not see a local output).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { cluster } from "../src/cluster/index.js";
import { newRunId } from "../src/index.js";
import { listObjects } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { type CatalogueCase, catalogue, hotKey } from "./fixtures/catalogue.js";
import { readsModuleState, setMinimum } from "./fixtures/module-state.js";
import { differentInWorkers, otherFunctionInWorkers } from "./fixtures/unsafe-pipelines.js";
import { NUMBERS_KEYED, type PausingOptions, type Phase, pausing } from "./fixtures/cluster-pipelines.js";
import {
  freshQueue,
  jobsInQueue,
  runAlive,
  redisUnavailable,
  redisUrl,
  startRedis,
  sluiceCommand,
  startWorkers,
  type WorkerProcess,
  withWorkers,
  waitFor,
} from "./support/cluster.js";
import { tableDigests } from "./support/digests.js";
import { multiset, normalizeGroups } from "./support/model.js";
import { downloadPrefix, freshBucket, s3Settings, s3Unavailable } from "./support/s3.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const unavailable = redisUnavailable || s3Unavailable;
const redis = redisUrl!;
const SIZE = 2000;

/** The Sparkify command, quiet, to its end. */
function sparkifyCommand(args: string[]) {
  return spawnSync(process.execPath, [join(root, "dist/pipelines/sparkify.js"), "--quiet", ...args], {
    encoding: "utf8",
    timeout: 300_000,
  });
}

/** The Sparkify command's flags for the cluster runner on the suite's Redis. */
function clusterFlags(queue: string, shuffle: string): string[] {
  return ["--runner", "cluster", "--redis", redis, "--queue", queue, "--shuffle", shuffle];
}

/** The rows the `pausing` pipeline must write: per key (n mod 97), the sum of its numbers. */
function expectedTotals(size: number): string[] {
  const totals = new Map<number, number>();
  for (let index = 0; index < size; index++) totals.set(index % 97, (totals.get(index % 97) ?? 0) + index);
  return multiset([...totals].map(([key, total]) => ({ key, total })));
}

/** The rows of the lake's `totals` table. */
async function totalsIn(output: string): Promise<string[]> {
  const folder = join(output, "totals");
  const rows: unknown[] = [];
  for (const name of await readdir(folder)) {
    if (!name.endsWith(".jsonl")) continue;
    for (const line of (await readFile(join(folder, name), "utf8")).split("\n"))
      if (line) rows.push(JSON.parse(line));
  }
  return multiset(rows);
}

/** What the run left in the output's staging folder (nothing, once it has ended). */
async function staged(output: string): Promise<string[]> {
  const folder = join(output, "_temporary");
  return existsSync(folder) ? readdir(folder, { recursive: true }) : [];
}

/** Keys under the run's shuffle prefix on S3. */
async function shuffleKeys(bucket: string, runId: string): Promise<string[]> {
  return (await listObjects(s3Settings, bucket, `shuffle/${runId}/`)).map((object) => object.key);
}

function pausingOptions(folder: string, more: Partial<PausingOptions> = {}): PausingOptions {
  return {
    size: SIZE,
    output: join(folder, "out"),
    mode: "overwrite",
    markers: join(folder, "markers"),
    ...more,
  };
}

/** The process id a phase's marker holds, once a task has reached it. */
async function markerPid(options: PausingOptions, phase: Phase): Promise<number> {
  const marker = join(options.markers, phase);
  await waitFor(() => existsSync(marker), 60_000, `a task to reach the ${phase} phase`);
  await waitFor(async () => (await readFile(marker, "utf8")).length > 0, 5000, "the marker's pid");
  return Number(await readFile(marker, "utf8"));
}

// Each test has a time limit: a run that waits forever (a lost task nobody notices) fails it.
describe("the cluster runner", { skip: unavailable }, () => {
  let bucket: string;
  before(async () => {
    bucket = await freshBucket("cluster");
  });

  const runner = (queue: string, more: Partial<Parameters<typeof cluster>[0]> = {}) =>
    cluster({ redis, queue, shuffle: `s3://${bucket}/shuffle`, s3: s3Settings, slots: 2, ...more });

  it("gives every catalogue case the direct and pool runners' multiset, on fleets of one to three workers, any partitioning, shuffle on S3 or a shared folder", {
    timeout: 180_000,
  }, async () => {
    // Three fleets at once, on queues of their own: one worker of two threads, two and three of one.
    const fleets: { queue: string; workers: WorkerProcess[] }[] = [];
    try {
      for (const [count, concurrency] of [
        [1, 2],
        [2, 1],
        [3, 1],
      ] as const) {
        const queue = freshQueue();
        fleets.push({ queue, workers: await startWorkers(count, { redis, queue, concurrency }) });
      }
      await withTempDir(async (folder) => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom<CatalogueCase>(
              "groupByKey",
              "sum",
              "coGroupByKey",
              "lookup",
              "top",
              "sessionWindows",
              "withOutputs",
              "distinct",
              "counters",
            ),
            fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 99 })), {
              maxLength: 200,
            }),
            fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
            fc.integer({ min: 1, max: 6 }),
            fc.boolean(),
            fc.integer({ min: 0, max: 2 }),
            async (which, pairs, partitions, splits, onS3, fleet) => {
              const options = {
                case: which,
                pairs,
                numbers: pairs.map(([key, value]) => [key, value - 50] as [number, number]),
                splits,
              };
              const direct = await catalogue.run(options, { runner: "direct" });
              const expected = multiset(direct.outputs.out.map(normalizeGroups));
              const pool = await catalogue.run(options, {
                threads: 2,
                ...(partitions ? { partitions } : {}),
              });
              assert.deepEqual(multiset(pool.outputs.out.map(normalizeGroups)), expected);
              assert.deepEqual(pool.metrics.counters, direct.metrics.counters);
              const shuffle = onS3 ? `s3://${bucket}/shuffle` : join(folder, "shuffle");
              const clustered = await catalogue.run(options, {
                runner: runner(fleets[fleet]!.queue, { shuffle }),
                ...(partitions ? { partitions } : {}),
              });
              assert.deepEqual(multiset(clustered.outputs.out.map(normalizeGroups)), expected);
              assert.deepEqual(clustered.metrics.counters, direct.metrics.counters);
            },
          ),
          { numRuns: 12 },
        );
      });
    } finally {
      await Promise.all(fleets.flatMap((fleet) => fleet.workers.map((worker) => worker.stop())));
    }
  });

  it("serves many runs of several pipelines at once with one fleet, and fails the ones whose workers build another graph, run other code or read another value, saying so", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(2, { redis, concurrency: 2 }, async (queue) => {
      await withTempDir(async (folder) => {
        const options = pausingOptions(folder);
        await mkdir(options.markers, { recursive: true });
        const words = {
          case: "sum" as const,
          pairs: [
            [1, 2],
            [1, 3],
            [2, 5],
          ] as [number, number][],
          numbers: [],
          splits: 3,
        };
        // A value the main thread sets in the module after importing it: the workers' is the imported one.
        setMinimum(2);
        const [totals, sums, other, different, stale, otherCode] = await Promise.allSettled([
          pausing.run(options, { runner: runner(queue), batchSize: 4 }),
          catalogue.run(words, { runner: runner(queue) }),
          catalogue.run({ ...words, case: "groupByKey" }, { runner: runner(queue), partitions: 3 }),
          differentInWorkers.run({ values: [1, 2, 3] }, { runner: runner(queue) }),
          readsModuleState.run({ what: "variable", values: [1, 2, 3] }, { runner: runner(queue) }),
          // The same graph, other code in a worker (as another version of the module would be).
          otherFunctionInWorkers.run({ values: [1, 2, 3] }, { runner: runner(queue) }),
        ]).finally(() => setMinimum(0));
        assert.equal(totals.status, "fulfilled");
        assert.deepEqual(await totalsIn(options.output), expectedTotals(SIZE));
        assert.equal(sums.status, "fulfilled");
        assert.equal(other.status, "fulfilled");
        if (sums.status === "fulfilled" && other.status === "fulfilled") {
          const direct = await catalogue.run(words, { runner: "direct" });
          assert.deepEqual(multiset(sums.value.outputs.out), multiset(direct.outputs.out));
          const grouped = await catalogue.run({ ...words, case: "groupByKey" }, { runner: "direct" });
          assert.deepEqual(
            multiset(other.value.outputs.out.map(normalizeGroups)),
            multiset(grouped.outputs.out.map(normalizeGroups)),
          );
        }
        assert.equal(different.status, "rejected");
        assert.match(
          (different as PromiseRejectedResult).reason.message,
          /pipeline 'different-in-workers' .* built another graph in a worker than in the main thread/,
        );
        assert.equal(otherCode.status, "rejected");
        assert.match(
          (otherCode as PromiseRejectedResult).reason.message,
          /pipeline 'other-function-in-workers' .* built the same graph on a worker's machine as on the driver's, with other code in its functions: is the module another version there/,
        );
        assert.equal(stale.status, "rejected");
        assert.match(
          (stale as PromiseRejectedResult).reason.message,
          /pipeline 'reads-module-state' .*: transform 'at least the minimum' reads `minimum`, which is 2 on the main thread and 0 in a worker/,
        );
      });
    });
  });

  it("runs the Sparkify ETL to the pool runner's tables, songplay_id included, on the sample (to a local lake) and on generated data (to S3)", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(2, { redis, concurrency: 1 }, async (queue) => {
      await withTempDir(async (folder) => {
        const sample = join(root, "../shared/data/sparkify-sample");
        const generated = join(folder, "generated");
        await generateSparkifyInput({
          songs: 300,
          events: 12_000,
          days: 5,
          seed: 11,
          matchShare: 0.5,
          output: generated,
        });
        const inputs = existsSync(sample) ? [sample, generated] : [generated];
        for (const [index, input] of inputs.entries()) {
          const command = (output: string, more: string[]) =>
            sparkifyCommand(["--input", input, "--output", output, "--mode", "overwrite", ...more]);
          const pool = command(join(folder, `pool-${index}`), ["--threads", "2"]);
          assert.equal(pool.status, 0, pool.stderr);
          // The generated input's lake goes to S3 (staged multipart uploads the driver completes).
          const lake = index === inputs.length - 1 ? `s3://${bucket}/lake` : join(folder, `cluster-${index}`);
          const clustered = command(lake, [
            ...clusterFlags(queue, `s3://${bucket}/shuffle`),
            "--s3-endpoint",
            s3Settings.endpoint!,
            "--s3-path-style",
            "--region",
            "us-east-1",
          ]);
          assert.equal(clustered.status, 0, clustered.stderr);
          const local = lake.startsWith("s3://")
            ? await downloadPrefix(lake, join(folder, "downloaded"))
            : lake;
          assert.deepEqual(await tableDigests(local), await tableDigests(join(folder, `pool-${index}`)));
        }
      });
    });
  });

  it("loads day by day (--mode update, --compact) on the cluster to the tables of one full load", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(2, { redis, concurrency: 1 }, async (queue) => {
      await withTempDir(async (folder) => {
        const all = join(folder, "all");
        await generateSparkifyInput({ songs: 200, events: 6000, days: 4, seed: 3, output: all });
        const input = join(folder, "input");
        const days = join(input, "log_data/2018/11");
        await mkdir(days, { recursive: true });
        await cp(join(all, "song_data"), join(input, "song_data"), { recursive: true });
        const logs = (await readdir(join(all, "log_data/2018/11"))).sort();
        const cluster = clusterFlags(queue, join(folder, "shuffle"));
        for (const [index, more] of [
          [0, []],
          [2, ["--compact"]],
        ] as const) {
          for (const name of logs.slice(index, index + 2))
            await cp(join(all, "log_data/2018/11", name), join(days, name));
          const load = sparkifyCommand([
            "--input",
            input,
            "--output",
            join(folder, "lake"),
            "--mode",
            "update",
            ...more,
            ...cluster,
          ]);
          assert.equal(load.status, 0, load.stderr);
        }
        const full = sparkifyCommand([
          "--input",
          all,
          "--output",
          join(folder, "full"),
          "--mode",
          "overwrite",
        ]);
        assert.equal(full.status, 0, full.stderr);
        assert.deepEqual(await tableDigests(join(folder, "lake")), await tableDigests(join(folder, "full")));
      });
    });
  });

  for (const phase of ["map", "read", "sink"] as const) {
    it(`finishes with the same rows when the worker running a ${phase === "sink" ? "sink that has written" : `${phase} task`} is killed (SIGKILL)`, {
      timeout: 180_000,
    }, async () => {
      await withWorkers(2, { redis, concurrency: 1 }, async (queue, workers) => {
        await withTempDir(async (folder) => {
          const options = pausingOptions(folder, { pauseAt: phase, pauseMs: 60_000 });
          await mkdir(options.markers, { recursive: true });
          const runId = newRunId();
          const run = pausing.run(options, { runner: runner(queue), batchSize: 4, runId });
          const pid = await markerPid(options, phase);
          assert.ok(
            workers.some((worker) => worker.pid === pid),
            "a worker process reached the phase",
          );
          process.kill(pid, "SIGKILL");
          await run;
          assert.deepEqual(await totalsIn(options.output), expectedTotals(SIZE));
          assert.deepEqual(await staged(options.output), []);
          assert.deepEqual(await shuffleKeys(bucket, runId), [], "the run's shuffle objects are removed");
          assert.deepEqual(
            (await jobsInQueue(redis, queue)).filter((id) => id.startsWith(runId)),
            [],
          );
        });
      });
    });
  }

  it("ignores a worker stopped past its lease (SIGSTOP) whose task ran elsewhere, when it resumes (SIGCONT): no row twice, no object left", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(2, { redis, concurrency: 1 }, async (queue, workers) => {
      await withTempDir(async (folder) => {
        const options = pausingOptions(folder, { pauseAt: "map", pauseMs: 1500, readMs: 250 });
        await mkdir(options.markers, { recursive: true });
        const runId = newRunId();
        const run = pausing.run(options, { runner: runner(queue), batchSize: 4, runId });
        const pid = await markerPid(options, "map");
        process.kill(pid, "SIGSTOP");
        // The lease (2 s) runs out; the task runs again on the other worker and succeeds there.
        // (each worker logs the tasks it ran, by job id: run, stage, task, attempt)
        const secondAttempt = new RegExp(`${runId}\\.s0\\.t\\d+\\.a2: `);
        await waitFor(
          () => workers.some((worker) => worker.pid !== pid && secondAttempt.test(worker.output())),
          30_000,
          "the task's second attempt",
        );
        await new Promise((resolve) => setTimeout(resolve, 1000));
        process.kill(pid, "SIGCONT");
        const { metrics } = await run;
        assert.deepEqual(await totalsIn(options.output), expectedTotals(SIZE));
        // The stopped attempt's count is not the run's: each number counted once.
        assert.deepEqual(metrics.counters, { [NUMBERS_KEYED]: SIZE });
        // The resumed worker finishes its attempt after the run: it must not leave its object.
        await new Promise((resolve) => setTimeout(resolve, 3000));
        assert.deepEqual(await shuffleKeys(bucket, runId), []);
        assert.deepEqual(await staged(options.output), []);
      });
    });
  });

  it("fails without a retry when a user function throws, naming the transform and the record, and removes what it staged", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(2, { redis, concurrency: 1 }, async (queue) => {
      await withTempDir(async (folder) => {
        const options = pausingOptions(folder, { throwAt: 1234 });
        await mkdir(options.markers, { recursive: true });
        const runId = newRunId();
        await assert.rejects(
          pausing.run(options, { runner: runner(queue), batchSize: 4, runId }),
          (error: Error) => {
            assert.match(error.message, /'key numbers'/);
            assert.match(error.message, /1234/);
            assert.match(error.message, /cannot take 1234/);
            return true;
          },
        );
        const throws = (await readFile(join(options.markers, "throws"), "utf8")).trim().split("\n");
        assert.equal(throws.length, 1, "the task ran once");
        assert.equal(existsSync(join(options.output, "totals")), false);
        assert.deepEqual(await staged(options.output), []);
        assert.deepEqual(await shuffleKeys(bucket, runId), []);
      });
    });
  });

  it("fails a group too large for the workers' heaps naming what held it, or the worker it killed, and --heap either way", {
    timeout: 180_000,
  }, async () => {
    await withWorkers(1, { redis, concurrency: 2, heap: "64MiB" }, async (queue, [worker]) => {
      assert.match(worker!.output(), /with 2 thread\(s\) of 64 MiB of heap each, as /);
      await withTempDir(async (folder) => {
        await assert.rejects(
          hotKey.run(
            { records: 1_000_000 },
            { runner: runner(queue, { shuffle: folder, workerWaitMs: 5000 }) },
          ),
          (error: Error) => {
            // Node ends a thread past its heap limit with an error, or on some allocations aborts
            // the whole process (nodejs/node#47224): the worker's own output says which happened.
            const died = worker!.process.exitCode !== null || worker!.process.signalCode !== null;
            if (died) {
              assert.match(worker!.output(), /heap out of memory/);
              assert.match(
                error.message,
                /every sluice worker on queue '[^']+' on redis:\S+ stopped while this run's tasks were under way, and none came back for 5 s: their logs say why \(a worker whose thread runs out of memory can die with it: give workers a larger --heap\); start some with `sluice worker /,
              );
            } else {
              assert.match(
                error.message,
                /^stage 1 \('plays by user > .*'\) failed on partitions .*memory.*\(each worker's heap is limited: start the cluster's workers with a larger --heap \(sluice worker --heap 2GiB\); 'plays by user' holds all the values of a key at once: /,
              );
            }
            return true;
          },
        );
      });
    });
  });

  for (const when of ["before", "during"] as const) {
    it(`recovers after a driver killed ${when} its commit, and leaves no job of the dead run in the queue`, {
      timeout: 180_000,
    }, async () => {
      await withWorkers(2, { redis, concurrency: 1 }, async (queue) => {
        await withTempDir(async (folder) => {
          const options = pausingOptions(folder, when === "before" ? { pauseAt: "map", pauseMs: 1000 } : {});
          await mkdir(options.markers, { recursive: true });
          const deadRun = newRunId();
          const settings = { options, redis, queue, shuffle: `s3://${bucket}/shuffle`, s3: s3Settings };
          const driver: ChildProcess = spawn(
            process.execPath,
            [
              join(root, "build/test/fixtures/cluster-driver.js"),
              JSON.stringify({ ...settings, runId: deadRun }),
            ],
            {
              stdio: "ignore",
              env: {
                ...process.env,
                ...(when === "during" ? { SLUICE_TEST_KILL_AT_COMMIT_STEP: "journal-written" } : {}),
              },
            },
          );
          const exited = new Promise((resolve) =>
            driver.on("exit", (code, signal) => resolve(signal ?? code)),
          );
          if (when === "before") {
            await markerPid(options, "map");
            driver.kill("SIGKILL");
          }
          assert.equal(await exited, "SIGKILL");
          if (when === "during")
            assert.ok(existsSync(join(options.output, "_temporary")), "the commit had begun");
          // The dead run's lease (3 s here) runs out: from then on it is known dead.
          await waitFor(
            async () => !(await runAlive(redis, queue, deadRun)),
            10_000,
            "the dead run's lease to end",
          );
          // The next run: recovers the output from the journal (or finds it untouched) and runs in full.
          const next = spawnSync(
            process.execPath,
            [
              join(root, "build/test/fixtures/cluster-driver.js"),
              JSON.stringify({ ...settings, options: { ...options, pauseAt: undefined }, runId: newRunId() }),
            ],
            { encoding: "utf8", timeout: 120_000 },
          );
          assert.equal(next.status, 0, next.stderr);
          assert.deepEqual(await totalsIn(options.output), expectedTotals(SIZE));
          assert.deepEqual(
            (await jobsInQueue(redis, queue)).filter((id) => id.startsWith(deadRun)),
            [],
          );
          assert.deepEqual(await shuffleKeys(bucket, deadRun), []);
        });
      });
    });
  }

  it("fails in one line when Redis stops mid-run, commits nothing and leaves the previous output as it was", {
    timeout: 180_000,
  }, async () => {
    const server = await startRedis();
    const queue = freshQueue();
    const workers = await startWorkers(2, { redis: server.url, queue, concurrency: 1 });
    try {
      await withTempDir(async (folder) => {
        const options = pausingOptions(folder, { pauseAt: "read", pauseMs: 60_000 });
        await mkdir(options.markers, { recursive: true });
        await pausing.run({ ...options, size: 500, pauseAt: undefined }, { runner: "direct" });
        const before = await totalsIn(options.output);
        const run = pausing.run(options, {
          runner: runner(queue, { redis: server.url, redisTimeoutMs: 2000 }),
          batchSize: 4,
        });
        await markerPid(options, "read");
        server.stop();
        await assert.rejects(run, (error: Error) => {
          assert.match(error.message, /lost Redis at redis:\/\/127\.0\.0\.1/);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        });
        assert.deepEqual(await totalsIn(options.output), before);
      });
    } finally {
      for (const worker of workers) worker.process.kill("SIGKILL");
      server.stop();
    }
  });

  it("fails in one line when the S3 server holding the shuffle stops mid-run, and leaves the previous output as it was", {
    timeout: 180_000,
  }, async () => {
    await withTempDir(async (folder) => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const s3Server = spawn(
        process.execPath,
        ["--openssl-legacy-provider", join(root, "scripts/s3-server.mjs"), String(port), join(folder, "s3")],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      await new Promise<void>((resolve) =>
        s3Server.stdout!.on("data", (chunk) => String(chunk).includes("listening") && resolve()),
      );
      const s3 = { ...s3Settings, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2, timeoutMs: 3000 };
      const ownBucket = await freshBucket("shuffle-down", s3);
      await withWorkers(2, { redis, concurrency: 1 }, async (queue) => {
        const options = pausingOptions(folder, { pauseAt: "read", pauseMs: 3000 });
        await mkdir(options.markers, { recursive: true });
        await pausing.run({ ...options, size: 500, pauseAt: undefined }, { runner: "direct" });
        const before = await totalsIn(options.output);
        const run = pausing.run(options, {
          runner: runner(queue, { shuffle: `s3://${ownBucket}/shuffle`, s3 }),
          batchSize: 4,
        });
        await markerPid(options, "read");
        s3Server.kill("SIGKILL");
        await assert.rejects(run, (error: Error) => {
          assert.match(
            error.message,
            // Refused once the server is gone, or reset with a request under way: either said so.
            /s3:\/\/shuffle-down-[^ ]*\/shuffle\/.*(cannot connect to|lost the connection to) the S3 endpoint/,
          );
          assert.doesNotMatch(error.message, /\n/);
          return true;
        });
        assert.deepEqual(await totalsIn(options.output), before);
        assert.deepEqual(await staged(options.output), []);
      }).finally(() => s3Server.kill("SIGKILL"));
    });
  });

  it("fails saying how to start workers when none listens on the queue, instead of waiting forever", {
    timeout: 180_000,
  }, async () => {
    await withTempDir(async (folder) => {
      const queue = freshQueue();
      await assert.rejects(
        pausing.run(pausingOptions(folder), { runner: runner(queue, { workerWaitMs: 1500 }), batchSize: 4 }),
        new RegExp(
          `no sluice worker has taken tasks from queue '${queue}'.*sluice worker --redis ${redis.replace(/[/.]/g, "\\$&")} --queue ${queue}`,
        ),
      );
      assert.equal(existsSync(join(folder, "out", "totals")), false);
      assert.deepEqual(await jobsInQueue(redis, queue), []);
    });
  });

  it("has a command of its own: usage for -h and for bad arguments (exit 2), one line for a Redis it cannot reach (exit 1), a clean stop on SIGTERM (exit 0)", {
    timeout: 60_000,
  }, async () => {
    const sluice = (args: string[]) =>
      spawnSync(process.execPath, [sluiceCommand, ...args], { encoding: "utf8", timeout: 30_000 });
    const help = sluice(["-h"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: sluice worker --redis URL/);
    assert.ok(
      help.stdout.split("\n").every((line) => line.length <= 80),
      "the usage fits 80 columns",
    );
    for (const [args, message] of [
      [[], /say what to run: sluice worker/],
      [["worker"], /--redis is required/],
      [["worker", "--redis", "localhost:6379"], /--redis must look like redis:\/\/host:6379/],
      [["worker", "--redis", redis, "--concurrency", "0"], /--concurrency must be a positive integer/],
      [
        ["worker", "--redis", redis, "--lease-ms", "999"],
        /--lease-ms must be an integer of at least 1,000, got '999'/,
      ],
      [["worker", "--redis", redis, "--heap", "10MiB"], /--heap must be at least 64MiB, got '10MiB'/],
      [
        ["worker", "--redis", redis, "--heap", "lots"],
        /--heap must be a size such as 512MB or 1GiB, got 'lots'/,
      ],
      [["serve", "--redis", redis], /unknown command 'serve'/],
      [["worker", "--redis"], /^sluice: --redis needs a value\n/],
      [
        ["worker", "--redis", redis, "--concurency", "2"],
        /unknown option '--concurency' \(did you mean '--concurrency'\?\)/,
      ],
    ] as const) {
      const run = sluice([...args]);
      assert.equal(run.status, 2, args.join(" "));
      assert.match(run.stderr, message);
      assert.match(run.stderr, /\n\nUsage: sluice worker/);
    }
    const unreachable = sluice(["worker", "--redis", "redis://127.0.0.1:1"]);
    assert.equal(unreachable.status, 1);
    assert.match(
      unreachable.stderr,
      /^sluice worker: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED[^\n]*\n$/,
    );
    const [worker] = await startWorkers(1, { redis, queue: freshQueue() });
    const exited = new Promise((resolve) => worker!.process.on("exit", (code) => resolve(code)));
    worker!.process.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  it("fails the tasks a worker of another sluice build takes, naming both builds", {
    timeout: 60_000,
  }, async () => {
    await withTempDir(async (folder) => {
      // Another build of sluice beside this one (under the project, so that it finds the same
      // dependencies): the same code, another version and commit.
      const other = join(root, "build", `other-sluice-${process.pid}`);
      try {
        await cp(join(root, "dist"), join(other, "dist"), { recursive: true });
        await writeFile(
          join(other, "package.json"),
          JSON.stringify({ name: "sluice", version: "0.0.1", type: "module" }),
        );
        await writeFile(join(other, "dist", "build-info.json"), JSON.stringify({ commit: "other" }));
        const queue = freshQueue();
        const [worker] = await startWorkers(1, {
          redis,
          queue,
          command: join(other, "dist/cluster/sluice.js"),
        });
        try {
          await assert.rejects(
            pausing.run(pausingOptions(folder), { runner: runner(queue), batchSize: 4 }),
            /worker \S+ runs sluice version 0\.0\.1 \(build other\) and the driver on \S+ sluice version \d+\.\d+\.\d+.*: run workers from the same image/,
          );
        } finally {
          await worker!.stop();
        }
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    });
  });

  it("refuses a local output that a worker does not see at the same path (a worker in a mount namespace of its own)", {
    timeout: 180_000,
  }, async () => {
    const probe = spawnSync("unshare", ["--mount", "--propagation", "private", "true"]);
    assert.equal(
      probe.status,
      0,
      `this test makes a mount namespace with unshare (root, util-linux): ${probe.stderr}`,
    );
    await withTempDir(async (folder) => {
      const hidden = join(folder, "hidden");
      await mkdir(hidden, { recursive: true });
      const queue = freshQueue();
      // The worker sees an empty tmpfs where this process sees the output's parent folder.
      const workers = await startWorkers(1, {
        redis,
        queue,
        wrap: [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          `mount -t tmpfs none ${hidden} && exec "$0" "$@"`,
        ],
      });
      try {
        const options = pausingOptions(folder, { output: join(hidden, "out") });
        await mkdir(options.markers, { recursive: true });
        await assert.rejects(
          pausing.run(options, { runner: runner(queue), batchSize: 4 }),
          new RegExp(
            `the folder ${hidden.replace(/[/.]/g, "\\$&")}/out on .* is not the one this worker .* sees at that path: a local folder works on the cluster runner only where every machine mounts the same one`,
          ),
        );
      } finally {
        await Promise.all(workers.map((worker) => worker.stop()));
      }
    });
  });
});
