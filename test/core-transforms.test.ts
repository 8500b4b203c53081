import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  canonicalJson,
  compareValues,
  count,
  fixed,
  type PCollection,
  Pipeline,
  runDirect,
  sessions,
  sliding,
  TransformError,
} from "../src/index.js";
import {
  CATALOGUE_CASES,
  type CatalogueCase,
  type CatalogueOptions,
  catalogue,
  COUNTER_NAMES,
  selfLookup,
  describeValue,
  type Key,
  type Pair,
  gridTimestamp,
  type Value,
  windowedText,
} from "./fixtures/catalogue.js";
import { anyUtf16String } from "./support/arbitraries.js";
import { groupModel, multiset, normalizeGroups } from "./support/model.js";

// Small key domains so that generated inputs have many duplicate keys; unicode (including lone
// surrogates); numbers, strings and small objects as keys and values.
const keyArbitrary: fc.Arbitrary<Key> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom("a", "b", "é", "日本", "🎵", ""),
  anyUtf16String(3),
  fc.record({ a: fc.integer({ min: 0, max: 2 }), b: fc.constantFrom("x", "y") }),
);
const valueArbitrary: fc.Arbitrary<Value> = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  anyUtf16String(6),
  fc.record({ v: fc.integer({ min: 0, max: 9 }) }),
);
const pairsArbitrary = fc.oneof(
  fc.constant([] as Pair[]),
  fc.tuple(keyArbitrary, valueArbitrary).map((pair) => [pair] as Pair[]),
  fc.array(fc.tuple(keyArbitrary, valueArbitrary), { maxLength: 120 }),
);
const numbersArbitrary = fc.array(fc.tuple(keyArbitrary, fc.integer({ min: -10_000, max: 10_000 })), {
  maxLength: 120,
});

/** numbers by |n|, ties by the whole record: what sortWithinPartitions gives in one task. */
function sortedModel(numbers: readonly (readonly [Key, number])[]): (readonly [Key, number])[] {
  return [...numbers].sort((a, b) => compareValues(Math.abs(a[1]), Math.abs(b[1])) || compareValues(a, b));
}

/** Sorted best first by rank, then by the whole value, as top/largest/smallest rank (direction -1: smallest). */
function bestFirst<V>(values: readonly V[], rank: (value: V) => unknown, direction: 1 | -1): V[] {
  return [...values].sort((a, b) => (compareValues(rank(b), rank(a)) || compareValues(b, a)) * direction);
}

function model(options: CatalogueOptions): unknown[] {
  const { pairs, numbers } = options;
  const extremeBy = (direction: 1 | -1) =>
    groupModel(pairs).map(([key, values]) => {
      const ranked = values.map((value) => ({ value, rank: describeValue(value).length }));
      const best = ranked.reduce((incumbent, candidate) => {
        const order = compareValues(candidate.rank, incumbent.rank) || compareValues(candidate, incumbent);
        return order * direction > 0 ? candidate : incumbent;
      });
      return [key, best];
    });
  switch (options.case) {
    case "map":
      return pairs.map(([key, value]) => [key, describeValue(value)]);
    case "flatMap":
      return pairs.flatMap(([key, value]) => (typeof value === "number" ? [] : [key, value, key]));
    case "filter":
      return pairs.filter(([key]) => typeof key === "string");
    case "keyBy":
      return pairs.map((pair) => [describeValue(pair[1]).length, pair]);
    case "counters":
      return groupModel(pairs.filter(([key]) => typeof key === "string")).map(([key, values]) => [
        key,
        2 * values.length,
      ]);
    case "mapValues":
      return pairs.map(([key, value]) => [key, describeValue(value)]);
    case "keys":
      return pairs.map(([key]) => key);
    case "values":
      return pairs.map(([, value]) => value);
    case "groupByKey":
      return groupModel(pairs);
    case "count":
      return groupModel(pairs).map(([key, values]) => [key, values.length]);
    case "sum":
      return groupModel(numbers).map(([key, values]) => [key, values.reduce((a, b) => a + b, 0)]);
    case "min":
      return groupModel(numbers).map(([key, values]) => [key, Math.min(...values)]);
    case "max":
      return groupModel(numbers).map(([key, values]) => [key, Math.max(...values)]);
    case "mean":
      return groupModel(numbers).map(([key, values]) => [
        key,
        values.reduce((a, b) => a + b, 0) / values.length,
      ]);
    case "maxBy":
      return extremeBy(1);
    case "minBy":
      return extremeBy(-1);
    case "distinct": {
      const seen = new Map(pairs.map((pair) => [canonicalJson(pair), pair]));
      return [...seen.values()];
    }
    case "distinctBy":
      return groupModel(pairs.map((pair) => [pair[0], pair] as const)).map(([, group]) =>
        group.reduce((a, b) => (compareValues(b, a) < 0 ? b : a)),
      );
    case "repartition":
    case "repartitionBy":
      return pairs;
    case "coalesce":
      return pairs.map(([key]) => key);
    case "flatten":
      return [
        ...pairs.map(([key]) => key),
        ...numbers.map(([key]) => key),
        ...pairs.map(([, value]) => value),
      ];
    case "coGroupByKey": {
      const strings = pairs.filter(([, value]) => typeof value === "string");
      const keys = groupModel([...pairs, ...numbers, ...strings].map(([key]) => [key, null] as const));
      const valuesOf = <V>(from: readonly (readonly [Key, V])[], key: Key) =>
        from.filter(([other]) => canonicalJson(other) === canonicalJson(key)).map(([, value]) => value);
      return keys.map(([key]) => [
        key,
        [valuesOf(pairs, key), valuesOf(numbers, key), valuesOf(strings, key)],
      ]);
    }
    case "lookup":
    case "lookupCombined": {
      const table =
        options.case === "lookup"
          ? numbers
          : groupModel(numbers).map(([key, values]) => [key, values.reduce((a, b) => a + b, 0)] as const);
      return pairs.map(([key, value]) => [
        key,
        value,
        table.filter(([other]) => canonicalJson(other) === canonicalJson(key)).map(([, number]) => number),
      ]);
    }
    case "combineGlobally":
      // One value, also for no input: the sum of nothing.
      return [numbers.reduce((total, [, number]) => total + number, 0)];
    case "fold":
      return groupModel(numbers).map(([key, values]) => [key, Math.max(...values)]);
    case "foldGlobally":
      // A fold has no value for no input: null, as SQL's MIN of no rows.
      return [numbers.length === 0 ? null : Math.min(...numbers.map(([, number]) => number))];
    case "top":
      return [bestFirst(pairs, ([, value]) => describeValue(value).length, 1).slice(0, 3)];
    case "topPerKey":
      return groupModel(pairs).map(([key, values]) => [
        key,
        bestFirst(values, (value) => describeValue(value).length, 1).slice(0, 2),
      ]);
    case "smallest":
      return groupModel(numbers).map(([key, values]) => [
        key,
        bestFirst(values, (value) => value, -1).slice(0, 2),
      ]);
    case "sortWithinPartitions":
      return sortedModel(numbers);
    case "withOutputs":
      return pairs.flatMap(([key, value]) => [
        ...(typeof value === "number"
          ? [
              ["number", value],
              ["number", -value],
            ]
          : [["other", value]]),
        ...(typeof value === "string" ? [["key", key]] : []),
      ]);
    case "fixedWindows":
    case "slidingWindows": {
      // Windows found by brute force: every grid start whose window holds the timestamp.
      const [size, period] = options.case === "fixedWindows" ? [1000, 1000] : [3000, 1000];
      const placed = numbers.flatMap(([key, number]) => {
        const timestamp = gridTimestamp(number);
        const starts: number[] = [];
        for (let start = Math.floor(timestamp / period) * period - size; start <= timestamp; start += period)
          if (start <= timestamp && timestamp < start + size) starts.push(start);
        return starts.map((start) => [[key, start, start + size], timestamp] as const);
      });
      return groupModel(placed).map(([[key, start, end], values]) =>
        windowedText([
          key,
          { start, end },
          options.case === "fixedWindows" ? values : values.reduce((a, b) => a + b, 0),
        ]),
      );
    }
    case "sessionWindows":
    case "sessionCounts":
      // Sessions: a key's timestamps in order, a new session wherever the gap reaches 500 ms.
      return groupModel(numbers).flatMap(([key, numbersOfKey]) => {
        const sorted = numbersOfKey.map(gridTimestamp).sort((a, b) => a - b);
        const found: { start: number; last: number; values: number[] }[] = [];
        for (const timestamp of sorted) {
          const current = found.at(-1);
          if (current && timestamp - current.last < 500) {
            current.last = timestamp;
            current.values.push(timestamp);
          } else found.push({ start: timestamp, last: timestamp, values: [timestamp] });
        }
        return found.map((session) =>
          windowedText([
            key,
            { start: session.start, end: session.last + 500 },
            options.case === "sessionWindows" ? session.values : session.values.length,
          ]),
        );
      });
    case "chain": {
      const grouped = groupModel(
        pairs
          .filter(([, value]) => typeof value !== "number")
          .map(([key, value]) => [describeValue(value), key] as const),
      );
      return groupModel(grouped.map(([description, keys]) => [description.length, keys.length] as const)).map(
        ([length, counts]) => [length, counts.reduce((a, b) => a + b, 0)],
      );
    }
  }
}

/** The counters a case's functions increment: only the `counters` case has any. */
function counterModel(options: CatalogueOptions): Record<string, number> {
  if (options.case !== "counters") return {};
  const strings = options.pairs.filter(([key]) => typeof key === "string").length;
  const dropped = options.pairs.length - strings;
  return {
    ...(dropped > 0 ? { [COUNTER_NAMES.dropped]: dropped } : {}),
    ...(strings > 0 ? { [COUNTER_NAMES.emitted]: 2 * strings, [COUNTER_NAMES.added]: 2 * strings } : {}),
  };
}

const cases: readonly CatalogueCase[] = CATALOGUE_CASES;

const optionsArbitrary = (which: CatalogueCase) =>
  fc.record({
    case: fc.constant(which),
    pairs: pairsArbitrary,
    numbers: numbersArbitrary,
    splits: fc.integer({ min: 1, max: 6 }),
    partitions: fc.integer({ min: 1, max: 64 }),
  });

describe("each transform equals its plain-array model (direct runner)", () => {
  for (const which of cases) {
    it(`${which} gives the model's multiset for any input, split and partition count`, async () => {
      await fc.assert(
        fc.asyncProperty(
          optionsArbitrary(which),
          fc.integer({ min: 1, max: 10_000 }),
          async (options, batchSize) => {
            const { outputs, metrics } = await catalogue.run(options, { runner: "direct", batchSize });
            assert.deepEqual(
              multiset(outputs.out.map(normalizeGroups)),
              multiset(model(options).map(normalizeGroups)),
            );
            assert.deepEqual(metrics.counters, counterModel(options));
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe("combiner laws", () => {
  it("a combine's result does not depend on how its input is split across tasks, partitions and batches", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<CatalogueCase>(
          "count",
          "sum",
          "min",
          "max",
          "mean",
          "maxBy",
          "minBy",
          "distinctBy",
          "combineGlobally",
          "fold",
          "foldGlobally",
          "top",
          "topPerKey",
          "smallest",
          "slidingWindows",
          "sessionCounts",
        ),
        pairsArbitrary,
        numbersArbitrary,
        fc.tuple(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 1, max: 64 }),
          fc.integer({ min: 1, max: 50 }),
        ),
        fc.tuple(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 1, max: 64 }),
          fc.integer({ min: 1, max: 50 }),
        ),
        async (which, pairs, numbers, [splitsA, partitionsA, batchA], [splitsB, partitionsB, batchB]) => {
          const first = await catalogue.run(
            { case: which, pairs, numbers, splits: splitsA, partitions: partitionsA },
            { runner: "direct", batchSize: batchA },
          );
          const second = await catalogue.run(
            { case: which, pairs, numbers, splits: splitsB, partitions: partitionsB },
            { runner: "direct", batchSize: batchB },
          );
          assert.deepEqual(multiset(first.outputs.out), multiset(second.outputs.out));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("explain", () => {
  it("fuses element-wise transforms into one stage and cuts at each shuffle, in text and DOT", () => {
    const options: CatalogueOptions = { case: "chain", pairs: [], numbers: [], splits: 2, partitions: 3 };
    const text = catalogue.explain(options);
    assert.match(text, /plan: 4 stage\(s\), 2 shuffle\(s\)/);
    assert.match(text, /fused: 'filter#\d+' \(filter\)/);
    assert.match(text, /sum lifted to the map side/);
    assert.match(text, /hash of key into 3 partitions/);
    const dot = catalogue.explain(options, {}, "dot");
    assert.match(dot, /^digraph plan \{/);
    assert.match(dot, /subgraph cluster_0/);
    assert.match(dot, /style=dashed/);
  });

  it("computes a lookup's table in its own stage first, and refuses a table that needs the records it looks up", () => {
    const options: CatalogueOptions = {
      case: "lookupCombined",
      pairs: [],
      numbers: [],
      splits: 2,
      partitions: 3,
    };
    const text = catalogue.explain(options);
    // The records' stage (a source's) waits for the stage that computes the table.
    assert.match(text, /stage 0: one task per split, after stage\(s\) 2\n/);
    assert.match(text, /table write: 'combinePerKey\(sum\)' -> 'lookup' \(collected whole/);
    assert.match(catalogue.explain(options, {}, "dot"), /style=dotted, label="table"/);
    assert.throws(
      () => selfLookup.explain({}),
      /the table of 'lookup' depends on the records it looks up \(stage \d+\); compute the table from other inputs, or use join/,
    );
  });
});

describe("windows, refused", () => {
  it("a timestamp that is not whole milliseconds fails naming the transform and the record", async () => {
    for (const windowFn of [fixed(10), sessions(10)]) {
      const p = new Pipeline();
      const counted = p
        .fromArray<readonly [string, number]>([
          ["a", 1],
          ["a", 2.5],
        ])
        .windowInto(windowFn, (timestamp) => timestamp, "by ts")
        .combinePerKey(count());
      await assert.rejects(runDirect(p, { out: counted.collect() }), (error: unknown) => {
        assert.ok(error instanceof TransformError, String(error));
        assert.match(
          error.message,
          /a window needs a timestamp in whole milliseconds, got 2\.5: round it, or scale seconds to milliseconds/,
        );
        return true;
      });
    }
    // The timestamps most often returned by mistake: ISO text and Dates.
    for (const [stamp, message] of [
      [
        "2018-11-01T21:01:46Z",
        /got "2018-11-01T21:01:46Z" \(a string\): return Date\.parse\(text\) for ISO text/,
      ],
      [new Date(0), /got a Date: return date\.getTime\(\)/],
      [5n, /got 5n \(a bigint\): return Number\(timestamp\)/],
      // A member the value lacks, or a function written for the pair.
      [undefined, /got undefined: timestampOf is given each pair's value, not the pair/],
      // Nanoseconds since 1970, as some loggers write them: whole, but past exact milliseconds.
      [1_541_106_106_796_000_000, /got 1541106106796000000: it lies past the safe integers .*nanoseconds\?/],
    ] as const) {
      const p = new Pipeline();
      const counted = p
        .fromArray([["a", 1] as const])
        .windowInto(fixed(10), () => stamp as never, "by ts")
        .combinePerKey(count());
      await assert.rejects(runDirect(p, { out: counted.collect() }), message);
    }
  });

  it("window sizes and periods that cannot be windows fail at once", () => {
    assert.throws(() => fixed(0), /fixed\(size\) must be a positive whole number of milliseconds, got 0/);
    assert.throws(() => sliding(10, 20), /the period \(20\) must not exceed the size \(10\)/);
    assert.throws(() => sessions(1.5), /sessions\(gap\) must be a positive whole number/);
  });

  it("windowInto refuses what is not a window function or a function when built, and a windowed collection anything but grouping", () => {
    const keyed = new Pipeline().fromArray([["a", 1] as const]);
    assert.throws(
      () => keyed.windowInto(10 as never, (value) => value),
      /^SluiceError: windowInto takes a window function, fixed\(size\), sliding\(size, period\) or sessions\(gap\), and it was given 10 \(a number\)$/,
    );
    assert.throws(
      () => keyed.windowInto(fixed(10), undefined as never),
      /^SluiceError: windowInto takes a function, and it was given undefined/,
    );
    // From JavaScript, which does not see the windowed collection's type.
    const windowed = keyed.windowInto(fixed(10), (value) => value) as never as PCollection<unknown>;
    assert.throws(
      () => windowed.map((record) => record),
      /^SluiceError: map cannot follow windowInto: a windowed collection is grouped or combined next \(groupByKey, combinePerKey\), and each result carries its window; call map before windowInto, or on the grouped results$/,
    );
    assert.throws(() => windowed.distinct(), /^SluiceError: distinct cannot follow windowInto/);
    assert.throws(
      () =>
        (windowed as never as PCollection<readonly [string, number]>).windowInto(fixed(5), (value) => value),
      /^SluiceError: windowInto cannot follow windowInto: a collection is placed in windows once/,
    );
  });
});

describe("sortWithinPartitions", () => {
  it("gives a task's records in order of the key, ties by the whole record, on both runners", async () => {
    await fc.assert(
      fc.asyncProperty(numbersArbitrary, fc.integer({ min: 1, max: 6 }), async (numbers, splits) => {
        const options = { case: "sortWithinPartitions" as const, pairs: [], numbers, splits };
        const expected = sortedModel(numbers).map((record) => canonicalJson(record));
        for (const runOptions of [{ runner: "direct" as const }, { threads: 2 }]) {
          const { outputs } = await catalogue.run(options, runOptions);
          assert.deepEqual(
            outputs.out.map((record) => canonicalJson(record)),
            expected,
          );
        }
      }),
      { numRuns: 15 },
    );
  });
});

describe("the order of values", () => {
  const value = fc.oneof(
    fc.double(),
    fc.constantFrom(Number.NaN, 0, -0),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
  );

  it("is total over ranks, NaN included (the largest number, equal to itself, as in Spark)", () => {
    fc.assert(
      fc.property(value, value, value, (a, b, c) => {
        assert.ok(compareValues(a, a) === 0);
        assert.ok(Math.sign(compareValues(a, b)) === -Math.sign(compareValues(b, a)));
        if (compareValues(a, b) <= 0 && compareValues(b, c) <= 0) assert.ok(compareValues(a, c) <= 0);
        if (typeof a === "number" && !Number.isNaN(a)) assert.ok(compareValues(a, Number.NaN) < 0);
      }),
      { numRuns: 2000 },
    );
  });

  it("top gives the same records whatever order they arrive in, NaN ranks among them", async () => {
    // Ranks are computed, never shuffled: a NaN rank is the user's, and a NaN record would be refused.
    const ranks = fc.array(fc.oneof(fc.double(), fc.constant(Number.NaN)), { minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(ranks, async (rankOf) => {
        const ids = rankOf.map((_, id) => id);
        const results = [];
        for (const order of [ids, [...ids].reverse()]) {
          const p = new Pipeline();
          const { outputs } = await runDirect(p, {
            top: p
              .fromArray(order, { splits: 3 })
              .top(3, (id) => rankOf[id]!)
              .collect(),
          });
          results.push(outputs.top);
        }
        assert.deepEqual(results[0], results[1]);
      }),
      { numRuns: 100 },
    );
  });
});
