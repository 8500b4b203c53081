/**
 * Counters that a pipeline's functions increment: their totals in a run's metrics, their names
 * whatever they are, and the misuses that must fail saying so. That they count once per record on
 * the pool, after a worker's death and on a cluster is tested with the runners (core-runners,
 * cluster); that they equal a model, with the transforms (core-transforms).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { counter, Pipeline, runDirect, SluiceError, TransformError } from "../src/index.js";

describe("counters", () => {
  it("count what the functions of map, filter, flatMap, withOutputs and a combiner add, by name", async () => {
    const calls = counter("calls");
    const odd = counter("odd numbers");
    const proto = counter("__proto__");
    const p = new Pipeline();
    const numbers = p.generate(1000, (index) => index, { splits: 7 });
    const { outputs, metrics } = await runDirect(p, {
      evens: numbers
        .filter((value) => {
          calls.inc();
          if (value % 2 === 0) return true;
          odd.inc();
          return false;
        })
        .flatMap((value) => {
          proto.inc(3);
          return [value, value];
        })
        .collect(),
      tagged: numbers
        .withOutputs<{ small: number; large: number }>(["small", "large"], (value, out) => {
          calls.inc();
          if (value < 10) out.small(value);
          else out.large(value);
        })
        .small.collect(),
      total: numbers
        .map((value) => [value % 3, value] as const)
        .combinePerKey({
          name: "counting sum",
          create: () => 0,
          add: (sum: number, value: number) => {
            calls.inc();
            return sum + value;
          },
          merge: (left: number, right: number) => left + right,
          extract: (sum: number) => sum,
        })
        .collect(),
    });
    assert.equal(outputs.evens.length, 1000);
    assert.equal(outputs.tagged.length, 10);
    assert.equal(outputs.total.length, 3);
    assert.deepEqual(metrics.counters, { calls: 3000, "odd numbers": 500, ["__proto__"]: 1500 });
    assert.ok(Object.hasOwn(metrics.counters, "__proto__"), "a counter named __proto__ is an own member");
    assert.equal(Object.getPrototypeOf(metrics.counters), Object.prototype);
  });

  it("are empty for a run that increments none, and shown while a run goes", async () => {
    const seen = counter("seen");
    const p = new Pipeline();
    const numbers = p.generate(200, (index) => index, { splits: 4 });
    const quiet = await runDirect(p, { all: numbers.collect() });
    assert.deepEqual(quiet.metrics.counters, {});
    const shown: number[] = [];
    const q = new Pipeline();
    const counted = q
      .generate(200, (index) => index, { splits: 4 })
      .map((value) => {
        seen.inc();
        return value;
      });
    await runDirect(
      q,
      { all: counted.collect() },
      { onProgress: (metrics) => shown.push(metrics.counters.seen ?? 0) },
    );
    assert.ok(shown.includes(200), `the last progress shows the total (${shown.join(", ")})`);
    assert.ok(
      shown.every((value, index) => index === 0 || value >= shown[index - 1]!),
      "never going back",
    );
  });

  it("of two direct runs at once in one thread stay each run's own", async () => {
    const rows = counter("rows");
    const runOf = (count: number) => {
      const p = new Pipeline();
      const out = p
        .generate(count, (index) => index, { splits: 5 })
        .map((value) => {
          rows.inc();
          return value;
        });
      return runDirect(p, { out: out.collect() }, { batchSize: 7 });
    };
    const [small, large] = await Promise.all([runOf(1000), runOf(3000)]);
    assert.deepEqual(small.metrics.counters, { rows: 1000 });
    assert.deepEqual(large.metrics.counters, { rows: 3000 });
  });

  it("refuse a name that is not a string, an increment that is not a whole number, and counting outside a run", async () => {
    assert.throws(
      () => counter(""),
      /^SluiceError: counter takes a name, a string that is not empty; got ""/,
    );
    assert.throws(() => counter(7 as never), /^SluiceError: counter takes a name, .*got 7 \(a number\)$/);
    const hits = counter("hits");
    assert.throws(
      () => hits.inc(),
      (error: unknown) =>
        error instanceof SluiceError &&
        /^counter 'hits' was incremented outside a task: counters count what the functions given to transforms do/.test(
          error.message,
        ),
    );
    const p = new Pipeline();
    const out = p.fromArray([1, 2, 3]).map((value) => {
      hits.inc(value / 2);
      return value;
    }, "halves");
    await assert.rejects(runDirect(p, { out: out.collect() }), (error: unknown) => {
      assert.ok(error instanceof TransformError, String(error));
      assert.equal(error.transformName, "halves");
      assert.match(error.message, /counter 'hits': inc takes a whole number, got 0\.5 \(a number\)/);
      return true;
    });
  });
});
