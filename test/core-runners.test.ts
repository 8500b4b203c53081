import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { runInNewContext } from "node:vm";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { MIN_READ_TASK_BYTES, READ_TASK_BYTES, readTasksFor, type ShufflePlan } from "../src/core/plan.js";
import {
  collectOnRequest,
  fullCollection,
  stopCollectingOnRequest,
} from "../src/core/runner/heap-collections.js";
import {
  collectionRequests,
  type Growth,
  holdHeapGrowth,
  nextGrowth,
  sampleHeapGrowth,
} from "../src/core/runner/heap-growth.js";
import {
  applyHelperThreadFlags,
  helperThreadFlags,
  type V8HelperThreads,
} from "../src/core/runner/v8-helper-threads.js";
import {
  canonicalJson,
  defaultPartitionsFor,
  INPUT_BYTES_PER_PARTITION,
  type JobCommitter,
  type JoinType,
  PARTITIONS_PER_THREAD,
  Pipeline,
  runDirect,
  type Sink,
} from "../src/index.js";
import { threadTaskHeader, workerTaskHeader } from "../src/core/index.js";
import {
  type CatalogueCase,
  catalogue,
  collectedNumbers,
  dying,
  ELEMENTS_SEEN,
  failing,
  hotKey,
  joins,
  type Key,
  type Value,
  sizedInput,
  spilling,
  wordCount,
} from "./fixtures/catalogue.js";
import { withSmallDisk } from "./support/small-disk.js";
import { multiset, normalizeGroups } from "./support/model.js";

const keyArbitrary: fc.Arbitrary<Key> = fc.oneof(
  fc.integer({ min: 0, max: 6 }),
  fc.constantFrom("k", "ü", "🎵"),
  fc.record({ a: fc.integer({ min: 0, max: 1 }), b: fc.constantFrom("x") }),
);
const valueArbitrary: fc.Arbitrary<Value> = fc.oneof(
  fc.integer({ min: 0, max: 99 }),
  fc.string({ maxLength: 4 }),
);
const pairs = fc.array(fc.tuple(keyArbitrary, valueArbitrary), { maxLength: 300 });

describe("the same answer everywhere", () => {
  it("direct and pool runners give the same multiset with 1-4 threads, 1-64 partitions or the grouped default, batches of 1-10,000", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<CatalogueCase>(
          "groupByKey",
          "sum",
          "maxBy",
          "distinct",
          "coGroupByKey",
          "chain",
          "flatMap",
          "lookup",
          "lookupCombined",
          "combineGlobally",
          "top",
          "topPerKey",
          "slidingWindows",
          "sessionWindows",
          "withOutputs",
          "counters",
        ),
        pairs,
        fc.array(fc.tuple(keyArbitrary, fc.integer({ min: -50, max: 50 })), { maxLength: 300 }),
        fc.integer({ min: 1, max: 4 }),
        // Undefined: the default, many partitions read a contiguous group at a time by fewer tasks.
        fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
        fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 10_000 })),
        fc.integer({ min: 1, max: 8 }),
        async (which, generatedPairs, numbers, threads, partitions, batchSize, splits) => {
          const options = { case: which, pairs: generatedPairs, numbers, splits };
          const direct = await catalogue.run(options, { runner: "direct" });
          const pool = await catalogue.run(options, { runner: "pool", threads, partitions, batchSize });
          assert.deepEqual(
            multiset(pool.outputs.out.map(normalizeGroups)),
            multiset(direct.outputs.out.map(normalizeGroups)),
          );
          assert.deepEqual(pool.metrics.counters, direct.metrics.counters);
        },
      ),
      { numRuns: 25 },
    );
  });
});

function nestedLoopJoin(type: JoinType, left: [Key, Value][], right: [Key, Value][]): unknown[] {
  const out: unknown[] = [];
  const same = (a: Key, b: Key) => canonicalJson(a) === canonicalJson(b);
  for (const [leftKey, leftValue] of left) {
    const matches = right.filter(([rightKey]) => same(leftKey, rightKey));
    for (const [, rightValue] of matches) out.push([leftKey, [leftValue, rightValue]]);
    if (matches.length === 0 && (type === "left" || type === "full")) out.push([leftKey, [leftValue, null]]);
  }
  if (type === "right" || type === "full") {
    for (const [rightKey, rightValue] of right) {
      if (!left.some(([leftKey]) => same(leftKey, rightKey))) out.push([rightKey, [null, rightValue]]);
    }
  }
  return out;
}

describe("joins", () => {
  it("inner, left, right and full outer joins equal a nested-loop join (one-sided keys, many-to-many)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<JoinType>("inner", "left", "right", "full"),
        fc.array(fc.tuple(keyArbitrary, valueArbitrary), { maxLength: 40 }),
        fc.array(fc.tuple(keyArbitrary, valueArbitrary), { maxLength: 40 }),
        fc.integer({ min: 1, max: 16 }),
        async (type, left, right, partitions) => {
          const { outputs } = await joins.run(
            { type, left, right, splits: 3, partitions },
            { runner: "direct" },
          );
          assert.deepEqual(multiset(outputs.out), multiset(nestedLoopJoin(type, left, right)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a join on the pool equals the direct runner's", async () => {
    const left: [Key, Value][] = Array.from({ length: 500 }, (_, index) => [index % 37, index]);
    const right: [Key, Value][] = Array.from({ length: 300 }, (_, index) => [(index * 7) % 53, `r${index}`]);
    for (const type of ["inner", "left", "right", "full"] as const) {
      const pool = await joins.run({ type, left, right, splits: 4 }, { threads: 2 });
      assert.deepEqual(multiset(pool.outputs.out), multiset(nestedLoopJoin(type, left, right)));
    }
  });
});

describe("bounded memory", () => {
  it("a groupByKey whose shuffle exceeds the memory budget spills to disk, gives the right answer, and cleans up", async () => {
    const tempDir = await mkdtemp(join(tmpdir(), "sluice-spill-test-"));
    try {
      const size = 60_000;
      const keys = 97;
      const expected = Array.from({ length: keys }, (_, key) => {
        let count = 0;
        let length = 0;
        for (let index = key; index < size; index += keys) {
          count++;
          length += `value-${index}-${"x".repeat(index % 17)}`.length;
        }
        return [key, count, length];
      });
      for (const runner of ["direct", "pool"] as const) {
        const { outputs, metrics } = await spilling.run(
          { size, keys },
          { runner, threads: 2, memoryBudget: 64 * 1024, batchSize: 500, tempDir },
        );
        const spilled = metrics.stages.reduce((total, stage) => total + stage.bytesSpilled, 0);
        const shuffled = metrics.stages.reduce((total, stage) => total + stage.bytesShuffled, 0);
        assert.ok(shuffled > 1024 * 1024, `shuffle of ${shuffled} bytes should exceed the 64 KiB budget`);
        assert.ok(spilled > 0, `${runner}: expected a spill, metrics say ${spilled} bytes`);
        assert.deepEqual(multiset(outputs.out), multiset(expected));
        assert.deepEqual(await readdir(tempDir), [], "the spill folder is removed after the run");
      }
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
  });
});

describe("read tasks sized from the shuffle", () => {
  it("one task per READ_TASK_BYTES, never more than the most, and never fewer than the fewest while each gets MIN_READ_TASK_BYTES", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 256 }),
        fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
        fc.array(fc.integer({ min: 0, max: 4 * 1024 * 1024 * 1024 }), { minLength: 2, maxLength: 2 }),
        (fewestWanted, readTasks, maxTasks, [smaller, larger]) => {
          const [low, high] = [Math.min(smaller!, larger!), Math.max(smaller!, larger!)];
          const shuffle = { readTasks, minReadTasks: Math.min(fewestWanted, readTasks) } as ShufflePlan;
          const most = Math.min(readTasks, maxTasks ?? Number.POSITIVE_INFINITY);
          // The fewest-tasks bound gives way where a task would get less than MIN_READ_TASK_BYTES.
          const fewest =
            Math.min(most, shuffle.minReadTasks) === most
              ? most
              : Math.min(most, shuffle.minReadTasks, Math.max(1, Math.ceil(high / MIN_READ_TASK_BYTES)));
          const tasks = readTasksFor(shuffle, high, maxTasks);
          assert.ok(tasks >= fewest && tasks <= most, `${tasks} outside ${fewest}..${most}`);
          // Enough tasks for the bytes, unless the most allowed are fewer; no more than needed.
          if (tasks < most) assert.ok(tasks * READ_TASK_BYTES >= high);
          if (tasks > fewest) assert.ok((tasks - 1) * READ_TASK_BYTES < high);
          assert.ok(readTasksFor(shuffle, low, maxTasks) <= tasks, "more bytes never mean fewer tasks");
        },
      ),
    );
  });

  it("a shuffle of a few rows is read by one task; partitions set by hand by one task each", async () => {
    const options = {
      case: "groupByKey" as const,
      pairs: [
        [1, "a"],
        ["k", 2],
      ] as [Key, Value][],
      numbers: [],
      splits: 3,
    };
    const sized = await catalogue.run(options, { runner: "pool", threads: 2 });
    // The last stage reads the shuffle: a task per thread would only add fixed costs.
    assert.equal(sized.metrics.stages.at(-1)!.tasks, 1);
    const byHand = await catalogue.run(options, { runner: "pool", threads: 2, partitions: 12 });
    assert.equal(byHand.metrics.stages.at(-1)!.tasks, 12);
    // Past 32 tasks per thread, partitions set by hand are read in contiguous groups.
    const many = await catalogue.run(options, { runner: "pool", threads: 2, partitions: 10_000 });
    assert.equal(many.metrics.stages.at(-1)!.tasks, 64);
    assert.deepEqual(
      multiset(many.outputs.out.map(normalizeGroups)),
      multiset(sized.outputs.out.map(normalizeGroups)),
    );
    await assert.rejects(
      catalogue.run(options, { runner: "pool", threads: 2, partitions: 10_001 }),
      /partitions must be at most 10,000/,
    );
  });
});

describe("shuffle partitions sized from the input", () => {
  it("one per INPUT_BYTES_PER_PARTITION of input, between the fewest and the most per thread; the most when the size is unknown", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 45 }), { minLength: 2, maxLength: 2 }),
        (parallelism, [smaller, larger]) => {
          const [low, high] = [Math.min(smaller!, larger!), Math.max(smaller!, larger!)];
          const most = Math.max(40, PARTITIONS_PER_THREAD.most * parallelism);
          const fewest = PARTITIONS_PER_THREAD.fewest * parallelism;
          const partitions = defaultPartitionsFor(parallelism, high);
          assert.ok(partitions >= fewest && partitions <= most, `${partitions} outside ${fewest}..${most}`);
          if (partitions > fewest && partitions < most) {
            assert.equal(partitions, Math.ceil(high / INPUT_BYTES_PER_PARTITION));
          }
          assert.ok(
            defaultPartitionsFor(parallelism, low) <= partitions,
            "more input never means fewer partitions",
          );
          assert.equal(defaultPartitionsFor(parallelism, undefined), most);
        },
      ),
    );
  });

  it("a run cuts its shuffles by the size its sources list, and the answer does not depend on it", async () => {
    const folder = await mkdtemp(join(tmpdir(), "sluice-sized-"));
    try {
      const file = join(folder, "numbers.jsonl");
      await writeFile(file, `${Array.from({ length: 20 }, (_, index) => index).join("\n")}\n`);
      const partitionsOf = (result: { metrics: { shuffles: { partitions: number }[] } }) =>
        result.metrics.shuffles.map((shuffle) => shuffle.partitions);
      const runs = [
        // A small file: the fewest partitions per thread.
        [{ file }, { runner: "direct" }, [16]],
        [{ file }, { runner: "pool", threads: 2 }, [32]],
        // Two splits of 1 GiB each: one partition per 16 MiB.
        [{ bytesPerSplit: 2 ** 30 }, { runner: "direct" }, [128]],
        [{ bytesPerSplit: 2 ** 30 }, { runner: "pool", threads: 2 }, [128]],
        // Two splits of 100 GiB each: the most per thread.
        [{ bytesPerSplit: 100 * 2 ** 30 }, { runner: "pool", threads: 2 }, [320]],
        // An array of records states no size: the most per thread.
        [{}, { runner: "direct" }, [160]],
        [{}, { runner: "pool", threads: 2 }, [320]],
        // Set by hand: as set, whatever the input.
        [{ file }, { runner: "pool", threads: 2, partitions: 12 }, [12]],
      ] as const;
      for (const [options, runOptions, expected] of runs) {
        const result = await sizedInput.run(options, runOptions);
        assert.deepEqual(partitionsOf(result), expected, JSON.stringify([options, runOptions]));
        const groups = new Map(result.outputs.out.map(([key, values]) => [key, values]));
        assert.deepEqual(
          [...groups.keys()].sort(),
          [0, 1, 2],
          `every remainder once, ${JSON.stringify([options, runOptions])}`,
        );
        for (const [key, values] of groups) {
          assert.deepEqual(
            values,
            // Every source of the fixture reads the numbers 0 to 19.
            Array.from({ length: 20 }, (_, index) => index).filter((value) => value % 3 === key),
          );
        }
      }
      // A source of one's own that states an unusable size gets a message, not a broken plan.
      await assert.rejects(
        sizedInput.run({ bytesPerSplit: -1 }, { runner: "direct" }),
        /numbers of a stated size: bytesOf gave -1 for a split; it must give the bytes the split covers/,
      );
      // A plan shown before its input is listed says what a run may choose.
      const shown = sizedInput.explain({ file }, { runner: "pool", threads: 2 });
      assert.match(shown, /\(group, 32 to 320 partitions, sized from the input when the run lists it\)/);
      assert.match(shown, /\(hash of key into 32 to 320 partitions\)/);
      assert.match(sizedInput.explain({ file }, { partitions: 12 }), /\(group, 12 partitions\)/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("failures", () => {
  it("a throwing user function fails the job with its message, the transform's name and the record's origin", async () => {
    for (const runner of ["direct", "pool"] as const) {
      await assert.rejects(
        failing.run({ size: 10_000, failAt: 4321 }, { runner, threads: 2 }),
        (error: Error) => {
          assert.match(error.message, /transform 'check number' failed on element 4321: cannot handle 4321/);
          return true;
        },
      );
    }
  });

  it("collect outputs past maxCollectBytes fail the run saying so, on both runners; below it they are whole", async () => {
    for (const runner of ["direct", "pool"] as const) {
      await assert.rejects(
        collectedNumbers.run({ count: 100_000 }, { runner, threads: 2, maxCollectBytes: 50_000 }),
        /^SluiceError: the run's collect outputs passed maxCollectBytes \(50,000 bytes of encoded records\) at 'all numbers': collected records are held in this process's memory; write a large output to a sink instead, or raise maxCollectBytes$/,
        runner,
      );
      const { outputs } = await collectedNumbers.run(
        { count: 100_000 },
        { runner, threads: 2, maxCollectBytes: 2 ** 20 },
      );
      assert.equal(outputs.numbers.length, 100_000, runner);
    }
  });

  it("a sink of your own whose committer's abort returns nothing, or a list, keeps the run's own error", async () => {
    const runWith = (abort: () => unknown) => {
      const p = new Pipeline();
      const sink: Sink<number> = {
        name: "kept",
        // Written as plain JavaScript would: an abort that is not async, or returns no list.
        committer: {
          id: "kept",
          setup: async () => {},
          commit: async () => {},
          abort,
        } as unknown as JobCommitter,
        openWriter: async () => ({ write: async () => {}, close: async () => null, abort: async () => {} }),
      };
      p.fromArray([1, 2, 3])
        .map((value) => {
          if (value === 2) throw new Error("two is refused");
          return value;
        }, "refuse two")
        .write(sink);
      return runDirect(p, {});
    };
    for (const abort of [() => undefined, async () => undefined, () => null]) {
      await assert.rejects(runWith(abort), (error: Error) => {
        assert.match(error.message, /transform 'refuse two' failed on array element 1: two is refused$/);
        return true;
      });
    }
    await assert.rejects(
      runWith(async () => ["s3://bucket/staged/part-0"]),
      /two is refused; staged output that could not be removed: s3:\/\/bucket\/staged\/part-0$/,
    );
    await assert.rejects(
      runWith(() => {
        throw new Error("the store is gone");
      }),
      /two is refused; staged output that could not be removed: the store is gone$/,
    );
  });

  it("the process exits when a pool job fails (no worker keeps it alive)", () => {
    const script = fileURLToPath(new URL("./fixtures/fail-and-exit.js", import.meta.url));
    const child = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(child.signal, null, "the process ended by itself, before the timeout");
    assert.equal(child.status, 3);
    assert.match(child.stderr, /transform 'check number' failed on element 123456: cannot handle 123456/);
  });

  it("metrics report records in and out per stage and the run's wall time", async () => {
    const progress: number[] = [];
    const { metrics } = await spilling.run(
      { size: 1000, keys: 10 },
      {
        runner: "direct",
        onProgress: (snapshot) => progress.push(snapshot.stages.filter((s) => s.state === "done").length),
      },
    );
    assert.equal(metrics.stages.length, 2);
    assert.equal(metrics.stages[0]!.recordsIn, 1000);
    assert.equal(metrics.stages[1]!.recordsIn, 10);
    assert.equal(metrics.stages[1]!.recordsOut, 10);
    assert.ok(metrics.stages[0]!.bytesShuffled > 0);
    assert.ok(metrics.wallMs > 0);
    assert.ok(progress.length >= 3 && progress.at(-1) === 2, `progress: ${progress}`);
  });
});

describe("what fails is never retried as a dead worker", () => {
  const words = "the cat saw the dog and the bird saw the cat".split(" ");
  const expected = multiset(
    [...new Set(words)].map((word) => [word, words.filter((other) => other === word).length]),
  );

  it("an onProgress that throws at its Nth call fails the run in one line, or the run gives exactly the right answer", async () => {
    for (const runner of ["direct", "pool"] as const) {
      for (let failAt = 1; failAt <= 14; failAt++) {
        let calls = 0;
        const onProgress = () => {
          calls++;
          if (calls === failAt) throw new Error(`boom at call ${failAt}`);
        };
        try {
          const { outputs } = await wordCount.run(
            { words, splits: 4 },
            { runner, threads: 2, partitions: 3, onProgress },
          );
          assert.ok(calls < failAt, `${runner}: a run whose callback threw at call ${failAt} succeeded`);
          assert.deepEqual(multiset(outputs.counts), expected, `${runner}, failing at call ${failAt}`);
        } catch (error) {
          assert.equal(
            (error as Error).message,
            `the onProgress callback failed: boom at call ${failAt}`,
            `${runner}, failing at call ${failAt}`,
          );
        }
      }
    }
  });

  it("a spill disk that fills fails the run at once naming the cause, with no retries on fresh workers", async () => {
    const folder = await mkdtemp(join(tmpdir(), "sluice-full-spill-"));
    try {
      await withSmallDisk(folder, "256k", async (disk) => {
        for (const runner of ["direct", "pool"] as const) {
          await assert.rejects(
            spilling.run(
              { size: 60_000, keys: 97 },
              { runner, threads: 2, memoryBudget: 64 * 1024, batchSize: 500, tempDir: disk.outside },
            ),
            (error: Error) => {
              assert.match(error.message, /ENOSPC|no space left/i, runner);
              assert.doesNotMatch(
                error.message,
                /on fresh workers/,
                `${runner}: a full disk is not a dead worker`,
              );
              assert.equal(error.message.split("\n").length, 1, "one line");
              return true;
            },
          );
          assert.deepEqual(await readdir(disk.outside), [], `${runner}: the spill folder is removed`);
        }
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("dying workers", () => {
  const expected = Array.from({ length: 10 }, (_, key) => {
    let total = 0;
    for (let index = key; index < 3000; index += 10) total += index;
    return [key, total];
  });

  it("a task whose worker exits is retried on a fresh worker, and the job gives the right answer", async () => {
    const tempDir = await mkdtemp(join(tmpdir(), "sluice-dying-"));
    try {
      const marker = join(tempDir, "died-once");
      const { outputs, metrics } = await dying.run({ mode: "exit-once", marker }, { threads: 2 });
      assert.ok(existsSync(marker), "a worker did die");
      assert.deepEqual(multiset(outputs.out), multiset(expected));
      // The dead worker's count went with it: each element counted once.
      assert.deepEqual(metrics.counters, { [ELEMENTS_SEEN]: 3000 });
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
  });

  it("a worker that dies at any moment of its task (first element, last, between splits) costs a retry, never a wrong answer", async () => {
    for (const at of [0, 1, 999, 1000, 1777, 2999]) {
      const tempDir = await mkdtemp(join(tmpdir(), "sluice-dying-"));
      try {
        const marker = join(tempDir, "died-once");
        const { outputs, metrics } = await dying.run({ mode: "exit-once", marker, at }, { threads: 2 });
        assert.ok(existsSync(marker), `a worker did die at element ${at}`);
        assert.deepEqual(multiset(outputs.out), multiset(expected), `died at element ${at}`);
        assert.deepEqual(metrics.counters, { [ELEMENTS_SEEN]: 3000 }, `counted once, died at element ${at}`);
      } finally {
        await rm(tempDir, { recursive: true, force: true });
      }
    }
  });

  it("a task that kills its worker every time, or exhausts its heap, fails the job naming the stage and the split", async () => {
    const tempDir = await mkdtemp(join(tmpdir(), "sluice-dying-"));
    try {
      const marker = join(tempDir, "died");
      await assert.rejects(dying.run({ mode: "exit-always", marker }, { threads: 2 }), (error: Error) => {
        assert.match(
          error.message,
          /^stage 0 \('numbers > maybe die'\) failed on generated records 0\.\.999 3 time\(s\), on fresh workers: /,
        );
        return true;
      });
      await assert.rejects(
        dying.run(
          { mode: "oom", marker },
          { threads: 2, taskAttempts: 2, workerResourceLimits: { maxOldGenerationSizeMb: 48 } },
        ),
        (error: Error) => {
          assert.match(
            error.message,
            /failed on generated records 0\.\.999 2 time\(s\), on fresh workers: .*memory.*raise workerResourceLimits\.maxOldGenerationSizeMb\)$/i,
          );
          return true;
        },
      );
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
  });

  it("a group or a sort too large for a worker's heap fails naming the transform that holds it and what to use instead", async () => {
    const small = await hotKey.run({ records: 1000 }, { threads: 2 });
    assert.deepEqual(small.outputs.sizes, [["hot", 1000]]);
    const sorted = await hotKey.run({ records: 1000, holder: "sort" }, { threads: 2 });
    assert.deepEqual(sorted.outputs.sizes, [["sorted", 1000 * 1000 + 2890]]);
    const script = fileURLToPath(new URL("./fixtures/hot-key-run.js", import.meta.url));
    const holders = {
      group:
        /^stage 1 \('plays by user > .*'\) failed on partitions .*: .*memory.*\(each worker's heap is limited: raise workerResourceLimits\.maxOldGenerationSizeMb; 'plays by user' holds all the values of a key at once: a key with very many values needs combinePerKey, and a task with many keys more partitions\)\n$/i,
      sort: /^stage 0 \('padded > by text > .*'\) failed on generated records .*: .*memory.*\(each worker's heap is limited: raise workerResourceLimits\.maxOldGenerationSizeMb; 'by text' holds all of a task's records\)\n$/i,
    };
    for (const [holder, message] of Object.entries(holders)) {
      const child = spawnSync(process.execPath, [script, holder], { encoding: "utf8", timeout: 120_000 });
      if (child.signal === "SIGABRT") {
        // Node aborted the whole process on the thread's allocation (nodejs/node#47224), saying why.
        assert.match(child.stderr, /heap out of memory/, holder);
      } else {
        assert.equal(child.status, 3, child.stderr);
        assert.match(child.stderr, message);
      }
    }
  });

  it("workers whose pipeline module fails to load fail the job at once with the reason, not retried (it would fail alike)", async () => {
    process.env.SLUICE_TEST_THROW_AT_WORKER_START = "1";
    try {
      await assert.rejects(
        dying.run({ mode: "none", marker: "" }, { threads: 2, taskAttempts: 2 }),
        (error: Error) => {
          assert.match(
            error.message,
            /the workers could not build pipeline 'dying' from \S+catalogue\.js: this worker cannot start$/,
          );
          assert.doesNotMatch(error.message, /time\(s\), on fresh workers/);
          return true;
        },
      );
    } finally {
      delete process.env.SLUICE_TEST_THROW_AT_WORKER_START;
    }
    const { outputs } = await dying.run({ mode: "none", marker: "" }, { threads: 2 });
    assert.deepEqual(multiset(outputs.out), multiset(expected));
  });
});

describe("task messages to worker threads", () => {
  it("carry the run's options as bytes shared by every task, made once per run, not as a copy of the JSON per task", () => {
    // A file list such as a driver lists: megabytes of JSON, with text beyond ASCII.
    const options = {
      files: Array.from({ length: 20_000 }, (_, index) => [`s3://b/ü/🎵/${index}.json`, index]),
    };
    const header = workerTaskHeader({
      location: { module: import.meta.url, name: "catalogue" },
      options,
      planSettings: { defaultPartitions: 4 },
      fingerprint: "f",
      moduleState: [],
      preloads: [],
    });
    const shared = threadTaskHeader(header);
    assert.ok(!("optionsJson" in shared), "the JSON text is not in the message");
    assert.ok(shared.options instanceof SharedArrayBuffer);
    assert.deepEqual(JSON.parse(Buffer.from(shared.options).toString("utf8")), options);
    assert.equal(shared.buildKey, header.buildKey);
    assert.equal(shared.fingerprint, "f");
  });

  it("a pool run whose options hold megabytes gives the right answer from every thread", async () => {
    // The catalogue's options are its data: 60,000 pairs of keys beyond ASCII, read by 12 tasks.
    const pairs = Array.from({ length: 60_000 }, (_, index): [Key, Value] => [
      ["k", "ü", "🎵"][index % 3]!,
      index,
    ]);
    const options = { case: "groupByKey" as const, pairs, numbers: [], splits: 12 };
    const direct = await catalogue.run(options, { runner: "direct" });
    const pool = await catalogue.run(options, { runner: "pool", threads: 2 });
    assert.equal(pool.metrics.stages[0]!.tasks, 12);
    const groups = multiset(pool.outputs.out.map(normalizeGroups));
    assert.deepEqual(groups, multiset(direct.outputs.out.map(normalizeGroups)));
    assert.equal(pool.outputs.out.length, 3);
  });
});

describe("V8's helper threads", () => {
  const spellings = [
    "--no-parallel-scavenge",
    "--parallel_scavenge",
    "--no-concurrent-recompilation",
    "--single-threaded-gc",
    "--single-threaded",
  ];
  const unrelated = [
    "",
    "--max-old-space-size=512",
    "--enable-source-maps",
    "--no-warnings",
    "--parallel-scavenge-task-trace",
  ];

  it("are kept off only by `auto`, only while every core has a worker, and never against a flag node was started with", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<V8HelperThreads>("auto", "on"),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 16 }),
        fc.option(fc.constantFrom(...spellings), { nil: undefined }),
        fc.shuffledSubarray(unrelated),
        (setting, threads, cores, userFlag, otherFlags) => {
          const startFlags = userFlag === undefined ? otherFlags : [...otherFlags, userFlag];
          const userDecided = userFlag !== undefined;
          const flags = helperThreadFlags(setting, threads, cores, startFlags.join(" "));
          const expected = setting === "auto" && threads >= cores && !userDecided;
          assert.deepEqual(flags.length > 0, expected, `${setting} ${threads}/${cores} [${startFlags}]`);
          if (expected) assert.deepEqual(flags, ["--no-parallel-scavenge", "--no-concurrent-recompilation"]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("are turned off once for overlapping pools and back on when the last of them stops", () => {
    const set: string[] = [];
    const threads = availableParallelism();
    const first = applyHelperThreadFlags("auto", threads, (flag) => set.push(flag));
    const second = applyHelperThreadFlags("auto", threads + 1, (flag) => set.push(flag));
    const fewer = applyHelperThreadFlags("auto", threads - 1, (flag) => set.push(flag));
    assert.deepEqual(set, ["--no-parallel-scavenge", "--no-concurrent-recompilation"]);
    first();
    first();
    fewer();
    assert.equal(set.length, 2, "still held by the second pool");
    second();
    assert.deepEqual(set.slice(2), ["--parallel-scavenge", "--concurrent-recompilation"]);
  });
});

describe("heap growth below a line of resident memory", () => {
  it("is fast below the line, V8's at and above it, and between 90% and the line stays as it was", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Growth>("fast", "v8"),
        fc.integer({ min: 0, max: 4 * 2 ** 30 }),
        fc.integer({ min: 1, max: 4 * 2 ** 30 }),
        (present, resident, line) => {
          const next = nextGrowth(present, resident, line);
          if (resident >= line) assert.equal(next, "v8");
          else if (resident < line * 0.9) assert.equal(next, "fast");
          else assert.equal(next, present);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("follows the memory of overlapping pools under the lowest line, and is V8's again when the last one stops", () => {
    const set: string[] = [];
    let resident = 100;
    const hooks = { setFlags: (flag: string) => set.push(flag), residentBytes: () => resident };
    const fast = "--heap-growing-percent=300";
    const v8 = "--heap-growing-percent=0";
    assert.deepEqual(holdHeapGrowth(0, hooks)(), undefined, "no line, nothing held");
    assert.deepEqual(set, []);
    const requestsBefore = Atomics.load(collectionRequests, 0);
    const high = holdHeapGrowth(1000, hooks);
    assert.deepEqual(set, [fast]);
    const low = holdHeapGrowth(500, hooks);
    resident = 480;
    assert.equal(sampleHeapGrowth(), "fast", "below the lowest line");
    resident = 500;
    assert.equal(sampleHeapGrowth(), "v8", "at the lowest line");
    resident = 460;
    assert.equal(sampleHeapGrowth(), "v8", "not yet 10% below it");
    low();
    assert.equal(sampleHeapGrowth(), "fast", "the higher line rules once the lower pool stops");
    assert.deepEqual(set, [fast, v8, fast]);
    low();
    assert.equal(set.length, 3, "a second release changes nothing");
    high();
    assert.deepEqual(set.slice(3), [v8]);
    assert.equal(Atomics.load(collectionRequests, 0) - requestsBefore, 1, "one request per return to V8's");
    resident = 0;
    assert.equal(sampleHeapGrowth(), "v8", "nothing held: V8's factor, whatever the memory");
    assert.equal(set.length, 4);
  });

  it("a worker collects once per request, counted in shared memory that each task brings a view of", async () => {
    const memory = new SharedArrayBuffer(4);
    let collections = 0;
    try {
      collectOnRequest(new Int32Array(memory), () => collections++);
      await sleep(250);
      assert.equal(collections, 0, "nothing requested yet");
      Atomics.add(new Int32Array(memory), 0, 1);
      // A later task's view of the same memory, after the request: the request still stands.
      collectOnRequest(new Int32Array(memory), () => collections++);
      await sleep(250);
      assert.equal(collections, 1);
      Atomics.add(new Int32Array(memory), 0, 1);
      await sleep(250);
      assert.equal(collections, 2);
    } finally {
      stopCollectingOnRequest();
    }
  });

  it("a full collection is one, now, and leaves `gc` unexposed to the contexts made after it", async () => {
    let full = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if (
          (entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR
        )
          full++;
    });
    observer.observe({ entryTypes: ["gc"] });
    try {
      await sleep(100);
      const before = full;
      fullCollection();
      fullCollection();
      // Node reports a collection after it, from the event loop.
      await sleep(200);
      assert.equal(full - before, 2, `${full - before} full collections for two`);
    } finally {
      observer.disconnect();
    }
    assert.equal(runInNewContext("typeof gc"), "undefined");
  });

  /** Full collections of a worker with a 1 GiB heap that keeps a million objects while making five. */
  async function fullCollectionsOfAWorker(): Promise<number> {
    const worker = new Worker(
      `const { PerformanceObserver, constants } = require("node:perf_hooks");
      const { parentPort } = require("node:worker_threads");
      let full = 0;
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries())
          if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
      });
      observer.observe({ entryTypes: ["gc"] });
      const kept = [];
      for (let i = 0; i < 5e6; i++) {
        kept.push({ i, text: "x" + i });
        if (kept.length > 1e6) kept.splice(0, 5e5);
      }
      setTimeout(() => parentPort.postMessage(full), 50);`,
      { eval: true, resourceLimits: { maxOldGenerationSizeMb: 1024 } },
    );
    try {
      return await new Promise<number>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
    } finally {
      await worker.terminate();
    }
  }

  it("lets V8 collect a worker's heap less often while held, and as often as before once released", async () => {
    const before = await fullCollectionsOfAWorker();
    const release = holdHeapGrowth(Number.MAX_SAFE_INTEGER);
    let held: number;
    try {
      held = await fullCollectionsOfAWorker();
    } finally {
      release();
    }
    const after = await fullCollectionsOfAWorker();
    assert.ok(held < before, `held: ${held} full collections, before: ${before}`);
    assert.ok(after > held, `after: ${after} full collections, held: ${held}`);
  });
});
