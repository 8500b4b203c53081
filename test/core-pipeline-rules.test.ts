/**
 * The rules of pipeline modules, enforced: the first plausible mistakes end at once with a line
 * that says what to do, on a real pool, never a hang, a runaway or a silently wrong answer.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  type Collected,
  coGroupByKey,
  column,
  count,
  definePipeline,
  fixed,
  flatten,
  max,
  type PCollection,
  type PipelineDefinition,
  mean,
  min,
  Pipeline,
  runDirect,
  SluiceError,
  schema,
  sum,
  TransformError,
} from "../src/index.js";
import {
  differentInWorkers,
  driverOnlyListing,
  graphFromDriverOnly,
  type Mistake,
  mistakes,
  type NotJsonCase,
  notJson,
  foldsInPlace,
  generateThrows,
  partitionOfThrows,
  throwsOnOne,
} from "./fixtures/unsafe-pipelines.js";
import {
  gettersCalled,
  type HeldCase,
  holdsModuleState,
  inheritsFromAnotherModule,
  keepsACache,
  readsModuleState,
  type StateCase,
  setMinimum,
  settings,
} from "./fixtures/module-state.js";
import { setFactor, talliedSoFar } from "./fixtures/module-state-config.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("the rules of pipeline modules", () => {
  it("a module that runs its own pipeline when imported fails once, saying what to do, instead of starting pools in its workers", () => {
    const run = spawnSync(process.execPath, [join(root, "build/test/fixtures/self-running.js")], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(run.signal, null, "ended by itself");
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /the workers could not build pipeline 'self-running' from .*self-running\.js: pipeline 'self-running' was run while a worker imported .*self-running\.js: a module that defines a pipeline is imported by every worker, so it must not run one when imported/m,
    );
    assert.doesNotMatch(run.stderr, /time\(s\), on fresh workers/, "not retried");
  });

  it("refuses a second pipeline of the same name in a module", () => {
    const module = "file:///pipelines/duplicate-names.js";
    definePipeline({ module, name: "count" }, () => ({}));
    assert.throws(
      () => definePipeline({ module, name: "count" }, () => ({})),
      /a pipeline named 'count' is already defined in file:\/\/\/pipelines\/duplicate-names\.js: names must be unique within a module/,
    );
    definePipeline({ module, name: "other" }, () => ({}));
  });

  it("refuses, when defined, a module workers could not import: a relative path, none, or no name", () => {
    for (const module of ["./word-count.js", "pipelines/word-count.js", undefined, 42]) {
      assert.throws(
        () => definePipeline({ module, name: "relative" } as never, () => ({})),
        /^SluiceError: pipeline 'relative': module must be the URL of the module that defines it, import\.meta\.url \(workers import it from there\), and it is /,
      );
    }
    assert.throws(
      () => definePipeline({ module: import.meta.url } as never, () => ({})),
      /^SluiceError: definePipeline takes \{ module: import\.meta\.url, name: "a name" \} first, and its name is undefined$/,
    );
    // A URL or an absolute path is what a worker can import.
    definePipeline({ module: "/srv/etl/pipelines.js", name: "absolute" }, () => ({}));
    definePipeline({ module: "file:///srv/etl/pipelines.js", name: "url" }, () => ({}));
  });

  it("fails before any task when a worker builds another graph than the main thread", async () => {
    await assert.rejects(
      differentInWorkers.run({ values: [1, 2, 3] }, { threads: 2 }),
      /pipeline 'different-in-workers' .* built another graph in a worker than in the main thread/,
    );
    // The direct runner builds once, in this thread: the same pipeline runs there.
    const { outputs } = await differentInWorkers.run({ values: [1, 2, 3] }, { runner: "direct" });
    assert.deepEqual(outputs.values.sort(), [2, 3, 4]);
  });

  it("options named driver-only do not reach the workers; a graph that depends on them fails before any task", async () => {
    const options = { values: [1, 2, 3], listing: ["a.json", "b.json"] };
    const pool = await driverOnlyListing.run(options, { threads: 2 });
    assert.deepEqual(
      pool.outputs.values.sort(([a], [b]) => a - b),
      [
        [1, -1],
        [2, -1],
        [3, -1],
      ],
      "the workers built without the listing",
    );
    const direct = await driverOnlyListing.run(options, { runner: "direct" });
    assert.deepEqual(
      direct.outputs.values.map(([, count]) => count),
      [2, 2, 2],
    );
    await assert.rejects(
      graphFromDriverOnly.run(options, { threads: 2 }),
      /pipeline 'graph-from-driver-only' .* built another graph in a worker than in the main thread: .*driverOnlyOptions/,
    );
    assert.throws(
      () =>
        definePipeline({ module: "file:///pipelines/driver-only.js", name: "bad" }, () => ({}), {
          driverOnlyOptions: "listing" as unknown as string[],
        }),
      /pipeline 'bad': driverOnlyOptions must be a list of option names, got "listing"/,
    );
  });

  for (const runner of ["direct", "pool"] as const) {
    it(`a user function's exception reaches the caller as a TransformError with its cause and stack (${runner})`, async () => {
      await assert.rejects(
        throwsOnOne.run({ values: [1, 2, 3, 4], bad: 3 }, runner === "pool" ? { threads: 2 } : { runner }),
        (error: unknown) => {
          assert.ok(error instanceof TransformError, String(error));
          assert.equal(error.transformName, "check value");
          assert.match(error.message, /transform 'check value' failed on .*: bad value 3$/);
          const cause = error.cause as Error;
          assert.equal(cause.name, "RangeError");
          assert.equal(cause.message, "bad value 3");
          assert.match(
            String(cause.stack),
            /unsafe-pipelines\.js/,
            "the stack reaches into the user's module",
          );
          return true;
        },
      );
    });
  }

  for (const runner of ["direct", "pool"] as const) {
    const run = (what: NotJsonCase) =>
      notJson.run({ what, values: [1, 2, 3, 4] }, runner === "pool" ? { threads: 2 } : { runner });
    it(`refuses records and accumulators that JSON would change, naming what and where, the same way on ${runner}`, async () => {
      const cases = [
        ["date", /'group them' must be JSON values, .* and hold a Date in a value at \.at: convert it first/],
        ["map", /'group them' must be JSON values, .* and hold a Map in a value at \.seen: /],
        // Bytes (a binary Parquet column is read as Buffers), and typed arrays.
        [
          "bytes",
          /'group them' must be JSON values, .* and hold a Buffer in a value at \.blob: convert them first: bytes to text with Buffer\.from\(bytes\)\.toString\("base64"\)/,
        ],
        ["floats", /hold a Float64Array in a value at \.ratios: convert them first: .*Array\.from\(values\)/],
        ["nan", /'group them' must be JSON values, .* and hold NaN in a value at \.ratio: /],
        [
          "set-accumulator",
          /'distinct per parity' must be JSON values, .* and hold a Set in an accumulator: /,
        ],
        // Keys, also where they cannot be hashed, and where they are only routed by or looked up.
        ["bigint key", /'group them' must be JSON values, .* and hold a bigint in a key: convert it first/],
        ["function key", /'sum them' must be JSON values, .* and hold a function in a key: convert it first/],
        ["Map key", /'spread them' must be JSON values, .* and hold a Map in a key: convert it first/],
        [
          "undefined key",
          /'look them up' must be JSON values, .* and hold undefined in a key: a function returned nothing there/,
        ],
      ] as const;
      for (const [what, message] of cases) await assert.rejects(run(what), message, what);
      const { outputs } = await run("plain");
      assert.equal((outputs.out as unknown[]).length, 1);
    });

    it(`refuses options that are not JSON before anything runs (${runner})`, async () => {
      await assert.rejects(
        notJson.run(
          { what: "plain", values: [1], predicate: () => true } as never,
          runner === "pool" ? { threads: 1 } : { runner },
        ),
        /pipeline 'not-json': its options must be JSON values, .* and hold a function at options\.predicate/,
      );
    });
  }

  it("does not retry a pipeline module that cannot be imported", async () => {
    const missing = definePipeline({ module: "file:///nowhere/pipeline.js", name: "missing" }, (p) => ({
      values: p.fromArray([1, 2]).collect(),
    }));
    await assert.rejects(missing.run({}, { threads: 1 }), (error: Error) => {
      assert.match(
        error.message,
        /the workers could not build pipeline 'missing' from file:\/\/\/nowhere\/pipeline\.js/,
      );
      assert.doesNotMatch(error.message, /time\(s\), on fresh workers/);
      return true;
    });
  });

  // Its own time limit: without the check, this run would wait for ever.
  it("fails a run whose module's import never ends in the workers, saying so, instead of waiting for ever", {
    timeout: 30_000,
  }, async () => {
    const { waitsInWorkers } = await import("./fixtures/waits-in-workers.js");
    const previous = process.env.SLUICE_WORKER_IMPORT_MS;
    process.env.SLUICE_WORKER_IMPORT_MS = "1500";
    try {
      await assert.rejects(
        waitsInWorkers.run({}, { threads: 2 }),
        /the workers could not build pipeline 'waits-in-workers' from \S+: importing \S+waits-in-workers\.js in a worker had not finished after 1\.5 s: does its top level await something a worker never gets/,
      );
    } finally {
      if (previous === undefined) delete process.env.SLUICE_WORKER_IMPORT_MS;
      else process.env.SLUICE_WORKER_IMPORT_MS = previous;
    }
    // The direct runner imports nothing again: the same pipeline runs there.
    assert.deepEqual((await waitsInWorkers.run({}, { runner: "direct" })).outputs.values, [1, 2, 3]);
  });
});

describe("a newcomer's mistakes end in a message that says what to do, never a wrong answer", () => {
  for (const runner of ["direct", "pool"] as const) {
    it(`refuses each mistake with its own message, the same way on ${runner}`, async () => {
      const run = (mistake: Mistake) =>
        mistakes.run(
          { mistake, values: [1, 2, 3, 4, 5, 6] },
          runner === "pool" ? { threads: 2 } : { runner },
        );
      const cases: [Mistake, RegExp][] = [
        [
          "sum of strings",
          /sum\(\) takes numbers, and a value is "\d" \(a string\): convert the values first/,
        ],
        [
          "mean with nulls",
          /mean\(\) takes numbers, and a value is null: .* filter out the ones that are not numbers/,
        ],
        [
          "flatMap of a number",
          /transform 'forgot the brackets' failed on .*: flatMap's function must return an iterable .* and it returned \d \(a number\): to emit one record, return \[record\]/,
        ],
        [
          "flatMap of a string",
          /transform 'map meant' failed on .*: flatMap's function must return an iterable of records .* and it returned a string: to emit it as one record, return \[text\] \(or use map\); for its characters, return \[\.\.\.text\]/,
        ],
        [
          "groupByKey of numbers",
          /the records going into 'group them' must be \[key, value\] pairs, and one is \d \(a number\): key them first/,
        ],
        [
          "join of triples",
          /the records going into 'join them\/coGroup' must be \[key, value\] pairs, and one is an array of 3/,
        ],
        [
          "mapValues of numbers",
          /transform 'double them' failed on .*: the records going into 'double them' must be \[key, value\] pairs, and one is \d \(a number\): key them first/,
        ],
        [
          "map returning a Promise",
          /the records collected from 'collect\(look it up\)' must be JSON values, .* and hold a Promise in a record at \.looked: a function called something asynchronous and returned its Promise there, .* do the asynchronous work in a source, or before the pipeline/,
        ],
        [
          "map without return",
          /the records collected from 'collect\(pair them\)' must be JSON values, .* and one is undefined: a function returned nothing there \(an arrow function's body in braces needs `return`\)/,
        ],
        [
          "fold without return",
          /the function that folds two values into one returned undefined: it must return their combination \(an arrow function's body in braces needs `return`\)/,
        ],
        [
          "filter without return",
          /transform 'above two' failed on .*: filter's predicate returned undefined: it returns true to keep a record and false to drop it \(a body in braces needs a return/,
        ],
        [
          "a path given to read",
          /^read takes a source .* and it was given "input\/\*\.json" \(a string\): to read the JSON lines under that path, p\.read\(jsonLines\("input\/\*\.json"\)\)/,
        ],
        [
          "a source given to write",
          /^write takes a sink .* and it was given the source \S*output \(a source is read with p\.read\(source\)\)$/,
        ],
        [
          "a table written twice",
          /^'pairs' is written twice in this pipeline \(the first by 'write the rows'\): a table is written once; flatten what goes into it first/,
        ],
        [
          "collected from another pipeline",
          /output 'out' was collected from another pipeline than the one run/,
        ],
        ["forgot to collect", /output 'out' is a collection, not its records: call \.collect\(\) on it/],
        [
          "changed a record another transform reads",
          /transform 'tag it' failed on .*: Cannot assign to read only property 'seen' .*\(a record that more than one transform reads is frozen, as is one object a function returns for several records, so that none of them changes what another sees: return a changed copy instead/,
        ],
        [
          "changed a record emitted to two outputs",
          /transform 'count it' failed on .*: Cannot assign to read only property 'n' .*\(a record that more than one transform reads is frozen/,
        ],
        [
          "changed a record emitted twice",
          /transform 'double it' failed on .*: Cannot assign to read only property 'n' .*\(a record that more than one transform reads is frozen/,
        ],
        [
          "changed an object a map returns for every record",
          /transform 'count it' failed on .*: Cannot assign to read only property 'n' .*\(a record that more than one transform reads is frozen, as is one object a function returns for several records/,
        ],
        [
          "changed an object a withOutputs emits for every record",
          /transform 'count it' failed on .*: Cannot assign to read only property 'n' .*\(a record that more than one transform reads is frozen, as is one object a function returns for several records/,
        ],
        [
          "changed an object a flatMap emits for every record",
          /transform 'count it' failed on .*: Cannot assign to read only property 'n' .*\(a record that more than one transform reads is frozen, as is one object a function returns for several records/,
        ],
        [
          "added to values another transform reads",
          /transform 'pad them' failed on .*: Cannot add property \d+, object is not extensible \(a record that more than one transform reads is frozen/,
        ],
      ];
      for (const [mistake, message] of cases) {
        await assert.rejects(run(mistake), (error: unknown) => {
          assert.ok(error instanceof SluiceError, `${mistake}: ${String(error)}`);
          assert.match(error.message, message, mistake);
          return true;
        });
      }
      const { outputs } = await run("none");
      assert.deepEqual(
        (outputs.out as [number, number][]).sort(([a], [b]) => a - b),
        [
          [0, 9],
          [1, 5],
          [2, 7],
        ],
      );
    });
  }

  it("numeric combiners refuse any value that is not a number, wherever it falls among the numbers", async () => {
    const notANumber = fc.constantFrom<unknown>("1", "", null, true, [1], { n: 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 20 }),
        fc.nat(),
        notANumber,
        fc.constantFrom(["sum", sum], ["min", min], ["max", max], ["mean", mean]),
        async (numbers, at, bad, [name, combiner]) => {
          const values: unknown[] = [...numbers];
          values.splice(at % (numbers.length + 1), 0, bad);
          const p = new Pipeline();
          const combined = p
            .fromArray(
              values.map((value, index) => [index % 2, value] as const),
              { splits: 3 },
            )
            .combinePerKey(combiner() as never);
          await assert.rejects(
            runDirect(p, { out: combined.collect() }),
            new RegExp(`${name}\\(\\) takes numbers, and a value is `),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the mean of no values is null, as SQL's AVG, and the other numeric combiners keep theirs", async () => {
    const p = new Pipeline();
    const none = p.fromArray<number>([]);
    const { outputs } = await runDirect(p, {
      mean: none.combineGlobally(mean()).collect(),
      sum: none.combineGlobally(sum()).collect(),
      max: none.combineGlobally(max()).collect(),
    });
    assert.deepEqual(outputs, { mean: [null], sum: [0], max: [null] });
  });

  it("collections of two pipelines are not combined: the transform that would mix them says so when it is built", () => {
    const one = new Pipeline();
    const other = new Pipeline();
    const left = one.fromArray<readonly [number, string]>([[1, "a"]]);
    const right = other.fromArray<readonly [number, string]>([[1, "b"]]);
    const message = (transform: string) =>
      new RegExp(
        `^SluiceError: ${transform}: the collection at 1 belongs to another pipeline than the first; build every collection of a run on one Pipeline$`,
      );
    assert.throws(() => left.join(right), message("join"));
    assert.throws(() => flatten([left, right]), message("flatten"));
    assert.throws(() => coGroupByKey([left, right]), message("coGroupByKey"));
    assert.throws(() => left.lookup(right), message("lookup"));
    assert.throws(
      () => flatten([left, [1, "c"] as never]),
      /^SluiceError: flatten takes collections, and the one at 1 is not one$/,
    );
    // Within one pipeline the same transforms are built.
    const own = one.fromArray<readonly [number, string]>([[1, "c"]]);
    assert.doesNotThrow(() => [
      left.join(own),
      flatten([left, own]),
      coGroupByKey([left, own]),
      left.lookup(own),
    ]);
  });

  it("runDirect takes an object of named outputs, and says so when given anything else", async () => {
    const p = new Pipeline();
    const values = p.fromArray([1, 2]);
    const collected = values.collect();
    const refused: [unknown, RegExp][] = [
      [
        collected,
        /^SluiceError: runDirect's outputs must be an object of named outputs \(\{ name: collection\.collect\(\) \}\), not one collected collection$/,
      ],
      [values, /, not a collection$/],
      [[collected], /, not an array of 1$/],
      [
        { values },
        /^SluiceError: output 'values' is a collection, not its records: call \.collect\(\) on it/,
      ],
    ];
    for (const [outputs, message] of refused) await assert.rejects(runDirect(p, outputs as never), message);
    assert.deepEqual((await runDirect(p, { values: collected })).outputs, { values: [1, 2] });
    // A pipeline that only writes has no outputs to name.
    assert.deepEqual((await runDirect(p, undefined as never)).outputs, {});
  });

  it("fromArray reads any iterable in its order, and refuses a string or a value that is not iterable", async () => {
    const p = new Pipeline();
    const { outputs } = await runDirect(p, {
      set: p.fromArray(new Set([3, 1, 3, 2])).collect(),
      entries: p.fromArray(new Map([["a", 1]]).entries()).collect(),
      generated: p
        .fromArray(
          (function* () {
            yield* [5, 6];
          })(),
        )
        .collect(),
    });
    assert.deepEqual(outputs, { set: [3, 1, 2], entries: [["a", 1]], generated: [5, 6] });
    assert.throws(
      () => p.fromArray("a line" as never),
      /^SluiceError: fromArray takes the records in an array \(or another iterable\), and it was given a string: for one record, fromArray\(\[text\]\)/,
    );
    assert.throws(() => p.fromArray(5 as never), /and it was given 5 \(a number\)$/);
    assert.throws(() => p.fromArray(undefined as never), /and it was given undefined$/);
    // An iterable's own RangeError goes on as it is.
    assert.throws(
      () =>
        p.fromArray(
          (function* () {
            yield 1;
            throw new RangeError("out of tickets");
          })(),
        ),
      /^RangeError: out of tickets$/,
    );
  });

  it("fromArray given an endless iterable fails once the array cannot grow, saying what to use instead", () => {
    const p = new Pipeline();
    // Numbers: about a gigabyte of heap before V8's largest array, and a few seconds.
    const endless = (function* () {
      for (let index = 0; ; index++) yield index;
    })();
    assert.throws(
      () => p.fromArray(endless),
      /^SluiceError: fromArray reads its iterable whole when the pipeline is built, and this one had not ended when the array reached the largest length JavaScript gives it \(an endless generator\?\): give it a finite one, or make the records in tasks with generate\(count, \(index\) => record\)$/,
    );
  });

  it("a transform refuses an async function or something that is not a function when it is built", () => {
    const p = new Pipeline();
    const values = p.fromArray([1, 2, 3]);
    const async = async (value: number) => value > 1;
    const asyncMessage = (transform: string) =>
      new RegExp(
        `^SluiceError: ${transform} was given an async function: .* do the asynchronous work in a source, or before the pipeline$`,
      );
    assert.throws(() => values.filter(async as never), asyncMessage("filter"));
    assert.throws(() => values.map(async), asyncMessage("map"));
    assert.throws(() => values.keyBy(async), asyncMessage("keyBy"));
    assert.throws(() => values.withOutputs(["big"], async () => {}), asyncMessage("withOutputs"));
    assert.throws(
      () =>
        values.flatMap(async function* (value: number) {
          yield value;
        } as never),
      asyncMessage("flatMap"),
    );
    assert.throws(
      () => values.map(undefined as never),
      /^SluiceError: map takes a function, and it was given undefined$/,
    );
    assert.throws(
      () => values.filter("x > 1" as never),
      /^SluiceError: filter takes a function, and it was given "x > 1" \(a string\)$/,
    );
    for (const splits of [0, 1.5, -1]) {
      assert.throws(
        () => p.fromArray([1], { splits }),
        /^SluiceError: splits must be a whole number of 1 or more, got /,
      );
      assert.throws(
        () => p.generate(1, () => 1, { splits }),
        /^SluiceError: splits must be a whole number of 1 or more, got /,
      );
      // A count or a partition count that is no whole number, or too small, is refused as well.
      assert.throws(
        () => values.repartition(splits),
        /^SluiceError: repartition's partition count must be a whole number of 1 or more, got /,
      );
      assert.throws(
        () => values.coalesce(splits),
        /^SluiceError: coalesce's partition count must be a whole number of 1 or more, got /,
      );
      assert.throws(
        () => values.map((value) => [value, 1] as const).groupByKey({ partitions: splits }),
        /^SluiceError: partitions must be a whole number of 1 or more, got /,
      );
    }
    for (const count of [-1, 1.5, Number.NaN, "10"])
      assert.throws(
        () => p.generate(count as never, (index) => index),
        /^SluiceError: generate's count must be a whole number of 0 or more, got /,
      );
    assert.throws(
      () => p.generate(3, "index" as never),
      /^SluiceError: generate takes a function of the index, and it was given "index" \(a string\)$/,
    );
    assert.equal(p.generate(0, (index) => index).name, "generate");
  });

  it("a combine refuses what is not a combiner when it is built, and takes a function of two values as one", async () => {
    const p = new Pipeline();
    const keyed = p
      .fromArray([1, 2, 3, 4, 5, 6, 7], { splits: 3 })
      .map((value) => [value % 2, value] as const);
    assert.throws(
      () => keyed.combinePerKey(sum as never),
      /^SluiceError: combinePerKey takes a combiner, and was given sum itself: call it, sum\(\)$/,
    );
    assert.throws(
      () => p.fromArray([1]).combineGlobally(count as never),
      /^SluiceError: combineGlobally takes a combiner, and was given count itself: call it, count\(\)$/,
    );
    // Without merge it would work until two tasks held values of one key.
    const noMerge = { name: "total", create: () => 0, add: (total: number, value: number) => total + value };
    assert.throws(
      () => keyed.combinePerKey(noMerge as never),
      /^SluiceError: combinePerKey takes a combiner with create, add, merge and extract functions, and the one given has no merge and no extract \(merge folds the accumulators two tasks made for one key/,
    );
    assert.throws(
      () => keyed.combinePerKey(((value: number) => value) as never),
      /^SluiceError: combinePerKey takes a combiner .* or a function that folds two values into one, \(left, right\) => value; it was given a function of 1 parameter: if it makes a combiner, call it$/,
    );
    assert.throws(
      () => keyed.windowInto(fixed(1000), (value) => value).combinePerKey(5 as never),
      /^SluiceError: combinePerKey takes a combiner .* and was given 5 \(a number\)$/,
    );
    // A function of two values folds, split across tasks; a combiner of a class, with no name, works.
    class Total {
      create() {
        return 0;
      }
      add(total: number, value: number) {
        return total + value;
      }
      merge(left: number, right: number) {
        return left + right;
      }
      extract(total: number) {
        return total;
      }
    }
    const { outputs } = await runDirect(p, {
      folded: keyed.combinePerKey((left, right) => left * right).collect(),
      classy: keyed.combinePerKey(new Total() as never).collect(),
      nothing: p
        .fromArray([] as number[])
        .combineGlobally((left, right) => left + right)
        .collect(),
    });
    const byKey = (rows: unknown) => [...(rows as [number, number][])].sort(([a], [b]) => a - b);
    assert.deepEqual(byKey(outputs.folded), [
      [0, 48],
      [1, 105],
    ]);
    assert.deepEqual(byKey(outputs.classy), [
      [0, 12],
      [1, 16],
    ]);
    assert.deepEqual(outputs.nothing, [null]);
  });

  it("a fold may change its left value, also where another transform reads the values, on either runner", async () => {
    const values = [1, 2, 3, 4, 5, 6, 7];
    for (const runner of ["direct", "pool"] as const) {
      const { outputs } = await foldsInPlace.run({ values }, { runner, threads: 2 });
      assert.deepEqual(
        [...outputs.totals].sort(([a], [b]) => a - b),
        [
          [0, { total: 12 }],
          [1, { total: 16 }],
        ],
        runner,
      );
      assert.deepEqual(
        [...outputs.pairs].sort(([, a], [, b]) => a.total - b.total),
        values.map((value) => [value % 2, { total: value }]),
        runner,
      );
    }
  });

  it("a combiner that throws fails as its transform, naming the record or the key", async () => {
    type Total = { n: number };
    const combiner = (fail: "add" | "merge" | "extract") => ({
      name: "total",
      create: (): Total => ({ n: 0 }),
      add: (total: Total, value: number) => {
        if (fail === "add" && value === 3) throw new RangeError("three is not allowed");
        return { n: total.n + value };
      },
      merge: (left: Total, right: Total) => {
        if (fail === "merge") throw new RangeError("cannot merge");
        return { n: left.n + right.n };
      },
      extract: (total: Total) => (fail === "extract" ? (undefined as unknown as Total).n : total.n),
    });
    const cases = [
      ["add", /^transform 'sum them' failed on array element 2: three is not allowed$/],
      ["merge", /^transform 'sum them' failed on key "all" of 'sum them' partition \d+: cannot merge$/],
      [
        "extract",
        /^transform 'sum them' failed on key "all" of 'sum them' partition \d+: Cannot read properties of undefined/,
      ],
    ] as const;
    for (const [fail, message] of cases) {
      const p = new Pipeline();
      const summed = p
        .fromArray([1, 2, 3, 4], { splits: 2 })
        .map((value) => ["all", value] as const)
        .combinePerKey(combiner(fail), "sum them");
      await assert.rejects(runDirect(p, { summed: summed.collect() }), (error: unknown) => {
        assert.ok(error instanceof TransformError, `${fail}: ${String(error)}`);
        assert.equal(error.transformName, "sum them", fail);
        assert.match(
          `transform '${error.transformName}' failed on ${error.origin}: ${error.causeMessage}`,
          message,
          fail,
        );
        return true;
      });
    }
  });

  it("a source's or a sink's function that throws fails as its transform, naming the record, its error the cause", async () => {
    for (const runner of ["direct", "pool"] as const) {
      await assert.rejects(generateThrows.run({}, { runner, threads: 2 }), (error: unknown) => {
        assert.ok(error instanceof TransformError, `${runner}: ${String(error)}`);
        assert.match(
          error.message,
          /failed on generated records 3\.\.3: transform 'generate' failed on generated record 3: three is not made$/,
          runner,
        );
        const cause = error.cause as Error | undefined;
        assert.equal(cause?.name, "RangeError", runner);
        assert.match(cause?.stack ?? "", /three is not made\n\s+at .*unsafe-pipelines\.js/, runner);
        return true;
      });
      const folder = await mkdtemp(join(tmpdir(), "sluice-partition-of-"));
      await assert.rejects(partitionOfThrows.run({ folder }, { runner, threads: 2 }), (error: unknown) => {
        assert.ok(error instanceof TransformError, `${runner}: ${String(error)}`);
        assert.match(
          error.message,
          /transform 'write\(days\)' failed on record \{"day":null,"n":2\}: Cannot read properties of null \(reading 'slice'\)$/,
          runner,
        );
        assert.equal((error.cause as Error | undefined)?.name, "TypeError", runner);
        return true;
      });
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("a join or any transform refuses a type or an option it does not know, and top a count below 1, when built", () => {
    const p = new Pipeline();
    const left = p.fromArray([[1, "a"] as const]);
    const right = p.fromArray([[1, "b"] as const]);
    // Either would otherwise be an inner join, with no word of it.
    assert.throws(
      () => left.join(right, { type: "outer" as never }),
      /^SluiceError: join's type must be one of "inner", "left", "right", "full"; got "outer" \(a string\): did you mean "full"\?$/,
    );
    assert.throws(
      () => left.join(right, { type: "left_outer" as never }),
      /^SluiceError: join's type must be one of "inner", "left", "right", "full"; got "left_outer" \(a string\): did you mean "left"\?$/,
    );
    assert.throws(
      () => left.join(right, { kind: "left" } as never),
      /^SluiceError: join: unknown option 'kind'; the options are type, name, partitions$/,
    );
    // A misspelt option name would otherwise be ignored: 64 partitions, one split.
    assert.throws(
      () => left.groupByKey({ partition: 4 } as never),
      /^SluiceError: a transform's options: unknown option 'partition' \(did you mean 'partitions'\?\); the options are name, partitions$/,
    );
    assert.throws(
      () => p.fromArray([1], { split: 2 } as never),
      /^SluiceError: fromArray: unknown option 'split' \(did you mean 'splits'\?\); the options are name, splits$/,
    );
    assert.throws(
      () => p.read(left as never, { requird: true } as never),
      /^SluiceError: read: unknown option 'requird' \(did you mean 'required'\?\)/,
    );
    assert.throws(
      () => left.top(0),
      /^SluiceError: top's n must be a whole number of 1 or more, got 0 \(a number\)$/,
    );
    assert.throws(
      () => left.topPerKey(1.5),
      /^SluiceError: topPerKey's n must be a whole number of 1 or more, got 1.5 \(a number\)$/,
    );
  });

  it("a lookup's input and its table take [key, value] pairs, and withOutputs an array of tags", async () => {
    const p = new Pipeline();
    const pairs = p.fromArray([[1, "x"] as const]);
    // Destructured blindly, these failed with "not iterable" and a garbled message.
    await assert.rejects(
      runDirect(p, { out: pairs.lookup(p.fromArray([1, 2]) as never).collect() }),
      /the records of the table given to 'lookup' must be \[key, value\] pairs, and one is 1 \(a number\): key them first/,
    );
    const q = new Pipeline();
    await assert.rejects(
      runDirect(q, {
        out: (q.fromArray([1, 2]) as never as typeof pairs).lookup(q.fromArray([[1, 2] as const])).collect(),
      }),
      /the records going into 'lookup' must be \[key, value\] pairs, and one is 1 \(a number\)/,
    );
    assert.throws(
      () => p.fromArray([1]).withOutputs("a" as never, () => {}),
      /^SluiceError: withOutputs takes its tags as an array of names \(\["long", "short"\]\), and was given "a" \(a string\)$/,
    );
  });

  it("withOutputs: emitting to a tag it was not given names the tags there are", async () => {
    const p = new Pipeline();
    const { numbers } = p
      .fromArray(["1", "x"])
      .withOutputs<{ numbers: number; problems: string }>(
        ["numbers", "problems"],
        (line, out) => (out as never as Record<string, (value: unknown) => void>).number!(Number(line)),
        "parse",
      );
    await assert.rejects(runDirect(p, { numbers: numbers.collect() }), (error: unknown) => {
      assert.ok(error instanceof TransformError, String(error));
      assert.match(
        error.message,
        /transform 'parse' failed on .*: out\.number is not a function \(its emitters are 'numbers', 'problems' only: did you mean 'numbers'\?\)$/,
      );
      return true;
    });
    // A function that fails for its own reasons keeps its own message.
    const q = new Pipeline();
    const { all } = q
      .fromArray([1])
      .withOutputs<{ all: number }>(["all"], () => (undefined as never as () => void)(), "own");
    await assert.rejects(
      runDirect(q, { all: all.collect() }),
      /transform 'own' failed on .*: \S+ is not a function$/,
    );
  });

  it("a filter whose predicate returns a Promise fails instead of keeping every record", async () => {
    const p = new Pipeline();
    const kept = p
      .fromArray([1, 2, 3])
      .filter(((value: number) => Promise.resolve(value > 2)) as never, "above two");
    await assert.rejects(runDirect(p, { kept: kept.collect() }), (error: unknown) => {
      assert.ok(error instanceof TransformError, String(error));
      assert.match(
        error.message,
        /transform 'above two' failed on .*: filter's predicate returned a Promise, which would keep every record/,
      );
      return true;
    });
  });

  it("run options: an unknown name, a memory budget that is not a number of bytes, a count that is not a count", async () => {
    const p = new Pipeline();
    const outputs = { values: p.fromArray([1]).collect() };
    const refused: [Record<string, unknown>, RegExp][] = [
      [
        { thread: 2 },
        /^SluiceError: run: unknown option 'thread' \(did you mean 'threads'\?\); the options are runner, threads, /,
      ],
      [
        { memoryBudget: "64MB" },
        /^SluiceError: memoryBudget must be a number of bytes above 0, got "64MB" \(a string\)$/,
      ],
      [{ memoryBudget: 0 }, /memoryBudget must be a number of bytes above 0, got 0/],
      [{ taskAttempts: 0 }, /^SluiceError: taskAttempts must be a positive integer, got 0/],
      [
        { maxCollectBytes: "1GB" },
        /^SluiceError: maxCollectBytes must be a number of bytes above 0, got "1GB" \(a string\)$/,
      ],
      [{ batchSize: "10" }, /^SluiceError: batchSize must be a positive integer, got "10" \(a string\)$/],
    ];
    for (const [options, message] of refused)
      await assert.rejects(runDirect(p, outputs, options as never), message);
    await assert.rejects(
      mistakes.run({ mistake: "none", values: [1] }, { threads: "2" as never }),
      /^SluiceError: threads must be a positive integer, got "2" \(a string\)$/,
    );
    assert.deepEqual((await runDirect(p, outputs, { memoryBudget: 1024, taskAttempts: 1 })).outputs, {
      values: [1],
    });
  });

  it("windowInto takes [key, value] pairs, and a schema takes columns", async () => {
    const p = new Pipeline();
    const counted = (p.fromArray([1, 2]) as never as PCollection<readonly [number, number]>)
      .windowInto(fixed(10), (value) => value)
      .combinePerKey(count());
    await assert.rejects(
      runDirect(p, { counted: counted.collect() }),
      /windowInto takes \[key, value\] pairs, and a record is 1 \(a number\): key the records first \(keyBy\)/,
    );
    assert.throws(
      () => schema({ name: "utf8" } as never),
      /^SluiceError: schema column 'name' is "utf8" \(a string\), not a column: declare it with column\.utf8\(\)/,
    );
    assert.throws(() => schema(undefined as never), /^SluiceError: a schema takes an object of columns/);
    assert.deepEqual(schema({ name: column.utf8() }).names, ["name"]);
  });

  it("runDirect refuses an output collected from another pipeline before it lists or runs anything", async () => {
    const one = new Pipeline();
    const other = new Pipeline();
    one.fromArray([1, 2]).collect();
    const stranger = other.fromArray([3]).collect();
    await assert.rejects(
      runDirect(one, { values: stranger }),
      /^SluiceError: output 'values' was collected from another pipeline than the one run: collect it from a collection of this pipeline$/,
    );
  });
});

describe("records a transform changes", () => {
  it("a record only one transform reads may be changed in place, and the caller's array comes out of a run as it went in", async () => {
    const data = [
      { n: 1, tags: ["a"] },
      { n: 2, tags: [] as string[] },
    ];
    const before = structuredClone(data);
    const build = () => {
      const p = new Pipeline();
      const bumped = p.fromArray(data).map((record) => {
        record.n += 10;
        record.tags.push("bumped");
        return record;
      }, "bump");
      return { p, out: bumped.collect() };
    };
    for (let run = 0; run < 2; run++) {
      const { p, out } = build();
      const { outputs } = await runDirect(p, { out });
      // The same answer each time: the second run read the data the first one did.
      assert.deepEqual(
        outputs.out.sort((a, b) => a.n - b.n),
        [
          { n: 11, tags: ["a", "bumped"] },
          { n: 12, tags: ["bumped"] },
        ],
      );
    }
    assert.deepEqual(data, before);
    // A collection read twice freezes its records, never the caller's own objects.
    const p = new Pipeline();
    const records = p.fromArray(data);
    await runDirect(p, { all: records.collect(), ns: records.map((record) => record.n).collect() });
    assert.ok(!Object.isFrozen(data[0]) && !Object.isFrozen(data[0]!.tags));
  });

  it("values that are not plain objects or arrays pass a collection read twice as they are", async () => {
    const p = new Pipeline();
    const made = p
      .fromArray([1, 2])
      .map((n) => ({ n, bytes: Buffer.from([n]), when: new Date(n), seen: new Map() }), "made");
    const sizes = made.map((record) => {
      // Not frozen: a Map or a Date is changed through its methods, which freezing would not stop.
      record.seen.set("size", record.bytes.length);
      return record.seen.get("size") as number;
    }, "sizes");
    const times = made.map((record) => record.when.getTime(), "times");
    const { outputs } = await runDirect(p, { sizes: sizes.collect(), times: times.collect() });
    assert.deepEqual(outputs.sizes, [1, 1]);
    assert.deepEqual(outputs.times.sort(), [1, 2]);
  });

  it("a record read twice that nests deeper than the stack, or holds itself, is frozen whole", async () => {
    type Nest = { inner: Nest | null; self?: Nest };
    const depthOf = (nest: Nest) => {
      let depth = 0;
      for (let at: Nest | null = nest; at; at = at.inner) depth++;
      return depth;
    };
    const p = new Pipeline();
    const nests = p.fromArray([100_000]).map((depth) => {
      let nest: Nest = { inner: null };
      for (let level = 1; level < depth; level++) nest = { inner: nest };
      nest.self = nest;
      return nest;
    }, "nest");
    const depths = nests.map(depthOf, "depth");
    const frozen = nests.map((nest) => {
      let innermost = nest;
      while (innermost.inner) innermost = innermost.inner;
      return Object.isFrozen(nest) && Object.isFrozen(innermost);
    }, "frozen");
    const { outputs } = await runDirect(p, { depths: depths.collect(), frozen: frozen.collect() });
    assert.deepEqual(outputs, { depths: [100_000], frozen: [true] });
  });
});

describe("records a sloppy-mode transform changes", () => {
  // CommonJS without "use strict": assigning to a frozen record is ignored there, without an error.
  const fixture = new URL("./fixtures/sloppy-mode.cjs", new URL("../../test/", import.meta.url));
  type Fixture = {
    changesShared: PipelineDefinition<{ values: number[] }, Record<string, Collected<unknown>>>;
    reusesOutput: PipelineDefinition<{ values: number[] }, Record<string, Collected<unknown>>>;
    markInPlace: (record: { value: number; nested: { depth: number } }) => unknown;
  };
  const load = async () => (await import(fixture.href)).default as Fixture;
  const byValue = (records: unknown) =>
    JSON.stringify((records as { value: number }[]).map((record) => JSON.stringify(record)).sort());

  it("each gets a copy of its own, on either runner: the change is kept, and seen by no other transform", async () => {
    const { changesShared } = await load();
    const values = [1, 2, 3, 4];
    const records = values.map((value) => ({ value, nested: { depth: 0 } }));
    const expected = {
      scaled: records.map((record) => ({ value: record.value * 10, nested: { depth: 1 } })),
      tagged: records.map((record) => ({ ...record, tag: "kept" })),
      doubled: records.flatMap((record) => [
        { value: record.value, nested: { depth: 2 } },
        { value: record.value, nested: { depth: 2 }, copy: true },
      ]),
      keyed: records.map((record) => [record.value, { ...record, keyed: true }]),
      odd: [1001, 1003].map((value) => ({ value, nested: { depth: 0 } })),
      untouched: records,
      summed: [["all", { value: 10 }]],
      pairs: values.map((value) => ["all", { value }]),
    };
    for (const runner of ["direct", "pool"] as const) {
      const { outputs } = await changesShared.run({ values }, { runner, threads: 2 });
      for (const [name, records] of Object.entries(expected))
        assert.equal(byValue(outputs[name as keyof typeof outputs]), byValue(records), `${runner}: ${name}`);
    }
  });

  it("a sloppy function given by strict code is known by itself, and gets a copy too", async () => {
    const { markInPlace } = await load();
    const p = new Pipeline();
    const records = p.fromArray([1, 2]).map((value) => ({ value, nested: { depth: 0 } }), "to records");
    const { outputs } = await runDirect(p, {
      marked: records.map(markInPlace, "mark it").collect(),
      untouched: records.collect(),
    });
    assert.deepEqual(outputs, {
      marked: [1, 2].map((value) => ({ value, nested: { depth: 1 }, marked: true })),
      untouched: [1, 2].map((value) => ({ value, nested: { depth: 0 } })),
    });
  });

  it("one that returns the object it returned for the record before is refused, naming its file", async () => {
    const { reusesOutput } = await load();
    for (const runner of ["direct", "pool"] as const) {
      await assert.rejects(
        reusesOutput.run({ values: [1, 2, 3] }, { runner, threads: 2 }),
        (error: unknown) => {
          assert.ok(error instanceof TransformError, `${runner}: ${String(error)}`);
          assert.match(
            error.message,
            /transform 'reuse one object' failed on .*: map's function returned one object for two records in a row, and it is sloppy-mode code \(\S*sloppy-mode\.cjs has no "use strict"\).* return a new object for each record, or add "use strict"; at the top of the file$/,
            runner,
          );
          return true;
        },
      );
    }
  });
});

describe("a value the main thread set in a module after importing it", () => {
  const ascending = (numbers: readonly number[]) => [...numbers].sort((a, b) => a - b);
  const values = [1, 2, 3, 4, 5, 6, 7, 8];
  // Each case: what sets the value, what puts it back, the variable named and its two values.
  const cases: [StateCase, () => void, () => void, string, string, string, number[]][] = [
    ["variable", () => setMinimum(5), () => setMinimum(0), "minimum", "5", "0", [5, 6, 7, 8]],
    ["through a helper", () => setMinimum(5), () => setMinimum(0), "minimum", "5", "0", [5, 6, 7, 8]],
    [
      "member",
      () => {
        settings.threshold = 7;
      },
      () => {
        settings.threshold = 0;
      },
      "settings",
      '{"threshold":7,"labels":["low","high"]}',
      '{"threshold":0,"labels":["low","high"]}',
      [7, 8],
    ],
    [
      "imported binding",
      () => setFactor(3),
      () => setFactor(1),
      "factor",
      "3",
      "1",
      values.map((v) => v * 3),
    ],
  ];
  for (const [what, set, reset, variable, onMain, inWorker, expected] of cases) {
    it(`is refused on the pool, named, when a transform reads it (${what})`, async () => {
      set();
      try {
        const direct = await readsModuleState.run({ what, values }, { runner: "direct" });
        assert.deepEqual(ascending(direct.outputs.values), expected);
        await assert.rejects(readsModuleState.run({ what, values }, { threads: 2 }), (error: Error) => {
          assert.ok(error instanceof SluiceError, String(error));
          const escaped = (text: string) => text.replace(/[[\]{}()]/g, "\\$&");
          assert.match(
            error.message,
            new RegExp(
              `transform '[^']+' reads \`${variable}\`, which is ${escaped(onMain)} on the main thread and ${escaped(inWorker)} in a worker\\. A worker imports the module afresh: .* pass such a value in the pipeline's options`,
            ),
          );
          return true;
        });
      } finally {
        reset();
      }
      // Back at the value every worker imports, the pool runs, and agrees with the direct runner.
      const pool = await readsModuleState.run({ what, values }, { threads: 2 });
      const direct = await readsModuleState.run({ what, values }, { runner: "direct" });
      assert.deepEqual(ascending(pool.outputs.values), ascending(direct.outputs.values));
    });
  }

  it("is refused as well when runs start together in one process", async () => {
    setMinimum(5);
    try {
      // Each run reads the module's state on the main thread as it starts, the three at once.
      const [stale, cached, stale2] = await Promise.allSettled([
        readsModuleState.run({ what: "variable", values }, { threads: 2 }),
        keepsACache.run({ values }, { threads: 2 }),
        readsModuleState.run({ what: "through a helper", values }, { threads: 2 }),
      ]);
      assert.equal(cached.status, "fulfilled");
      for (const run of [stale, stale2]) {
        assert.equal(run.status, "rejected");
        assert.match(
          (run as PromiseRejectedResult).reason.message,
          /reads `minimum`, which is 5 on the main thread and 0 in a worker/,
        );
      }
    } finally {
      setMinimum(0);
    }
  });

  // Functions of your own given to a source, a generator, a combiner or a sink run in the workers
  // as a map's do; each reads `minimum` here: [where, the transform named, the answer with 5].
  const held: [HeldCase, string, number[]][] = [
    ["a source of your own", "read(values at least the minimum)", [5, 6, 7, 8]],
    ["generate", "generate", [5, 5, 5, 5, 5, 6, 7, 8]],
    ["a combiner of a class", "combinePerKey(count at least the minimum)", [4]],
    ["a combiner of a class, globally", "combineGlobally(count at least the minimum)", [4]],
    ["a helper object", "at least the minimum", [5, 6, 7, 8]],
    ["a sink of your own", "write(counts)", values],
  ];
  for (const [where, transform, expected] of held) {
    it(`is refused on the pool, named, when ${where} reads it`, async () => {
      setMinimum(5);
      try {
        const direct = await holdsModuleState.run({ where, values }, { runner: "direct" });
        assert.deepEqual(ascending(direct.outputs.values), expected);
        await assert.rejects(holdsModuleState.run({ where, values }, { threads: 2 }), (error: Error) => {
          assert.ok(error instanceof SluiceError, String(error));
          assert.ok(
            error.message.includes(
              `transform '${transform}' reads \`minimum\`, which is 5 on the main thread and 0 in a worker. A worker imports the module afresh`,
            ),
            error.message,
          );
          // A source that does not describe its splits has them named as splits.
          if (where === "a source of your own") assert.match(error.message, /'\) failed on split 0: /);
          return true;
        });
      } finally {
        setMinimum(0);
      }
      const pool = await holdsModuleState.run({ where, values }, { threads: 2 });
      const direct = await holdsModuleState.run({ where, values }, { runner: "direct" });
      assert.deepEqual(ascending(pool.outputs.values), ascending(direct.outputs.values));
    });
  }

  it("is not refused for a cache the transform fills, an object of a class, or a constant; a getter is not called", async () => {
    // The direct run fills the cache and counts its calls on the main thread; the workers start empty.
    const direct = await keepsACache.run({ values }, { runner: "direct" });
    const pool = await keepsACache.run({ values }, { threads: 2 });
    const expected = values.map((v) => v * v + 10 + values.length);
    assert.deepEqual(ascending(direct.outputs.values), expected);
    assert.deepEqual(ascending(pool.outputs.values), expected);
    assert.equal(gettersCalled(), 0, "a getter of the module called while its state was read");
  });

  it("is not refused for the state of another module's base class, which a class of the pipeline's extends", async () => {
    const direct = await inheritsFromAnotherModule.run({ values }, { runner: "direct" });
    assert.ok(talliedSoFar() > 0, "the direct run tallied on the main thread");
    const pool = await inheritsFromAnotherModule.run({ values }, { threads: 2 });
    assert.deepEqual(pool.outputs.values, direct.outputs.values);
    assert.deepEqual(direct.outputs.values, [36]);
  });
});
