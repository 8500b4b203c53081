import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { addExactly, type ExactSum, mergeExactly, roundedSum } from "../src/core/exact-sum.js";
import { Pipeline, runDirect, SluiceError, sum } from "../src/index.js";
import { catalogue } from "./fixtures/catalogue.js";
import { multiset } from "./support/model.js";

/** Doubles m * 2^e whose exact sum is a BigInt count of 2^-40: an oracle independent of the code under test. */
const SCALE = 40;
const scaledDouble = fc
  .tuple(fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }), fc.integer({ min: -SCALE, max: 40 }))
  .map(([mantissa, exponent]) => ({
    value: Number(mantissa) * 2 ** exponent,
    scaled: mantissa * 2n ** BigInt(exponent + SCALE),
  }));

/** The exact sum rounded once: BigInt to Number rounds to nearest, ties to even; 2^-40 scales exactly. */
function oracle(values: readonly { scaled: bigint }[]): number {
  const total = values.reduce((sum, { scaled }) => sum + scaled, 0n);
  return Number(total) / 2 ** SCALE;
}

/** Adds `values` in the chunks `cuts` makes, each chunk into its own sum, then merges them in `order`. */
function chunkedSum(values: readonly number[], cuts: readonly number[], order: readonly number[]): number {
  const bounds = [...new Set([0, ...cuts.map((cut) => cut % (values.length + 1)), values.length])].sort(
    (a, b) => a - b,
  );
  const chunks: ExactSum[] = [];
  for (let index = 1; index < bounds.length; index++) {
    let sum: ExactSum = 0;
    for (const value of values.slice(bounds[index - 1], bounds[index])) sum = addExactly(sum, value, "sum");
    chunks.push(sum);
  }
  if (chunks.length === 0) return roundedSum(0);
  // The chunks `order` names first, each once, then the others.
  const first = [...new Set(order.map((at) => at % chunks.length))];
  const merged = [...first, ...[...chunks.keys()].filter((at) => !first.includes(at))];
  // Through JSON, as accumulators cross threads.
  const crossed = merged.map((at) => JSON.parse(JSON.stringify(chunks[at])) as ExactSum);
  return roundedSum(crossed.reduce<ExactSum>((left, right) => mergeExactly(left, right, "sum"), 0));
}

describe("exact sums", () => {
  it("give the exact sum rounded once, however the values are chunked and merged", () => {
    fc.assert(
      fc.property(
        fc.array(scaledDouble, { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (values, cuts, order) => {
          assert.equal(
            chunkedSum(
              values.map(({ value }) => value),
              cuts,
              order,
            ),
            oracle(values),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("give one answer for any finite doubles, whatever the chunks", () => {
    const finite = fc.double({ min: -1e300, max: 1e300, noNaN: true });
    fc.assert(
      fc.property(
        fc.array(finite, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (values, cuts, order) => {
          assert.equal(chunkedSum(values, cuts, order), chunkedSum(values, [], []));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("cancel what naive addition loses, and round a tie to even", () => {
    assert.equal(chunkedSum([1e16, 1, -1e16], [], []), 1);
    assert.equal(chunkedSum(Array(10).fill(0.1), [], []), 1);
    // 2^53 + 1 lies halfway between two doubles: the tie goes to the even one, 2^53; a little more goes up.
    assert.equal(chunkedSum([2 ** 53, 1], [], []), 2 ** 53);
    assert.equal(chunkedSum([2 ** 53, 1, 2 ** -40], [], []), 2 ** 53 + 2);
    // 1e16 + 1 is a tie too, which adding the partials from the smallest would round down to
    // 1e16: the 1e-16 below it puts the exact sum past halfway (as math.fsum gives it).
    assert.equal(chunkedSum([1e16, 1, 1e-16], [], []), 10000000000000002);
    assert.equal(chunkedSum([1e-16, 1, 1e16], [2], [1, 0]), 10000000000000002);
    assert.equal(chunkedSum([-1e16, -1, -1e-16], [], []), -10000000000000002);
    assert.equal(chunkedSum([], [], []), 0);
  });
});

describe("sum and mean in a pipeline", () => {
  const keys = ["a", "b", "c"];
  const numbers = Array.from({ length: 5_000 }, (_, index) => [
    keys[index % 3]!,
    ((index * 7919) % 1000) / 10 + (index % 7 === 0 ? 1e12 : 0) - (index % 11 === 0 ? 3e11 : 0),
  ]);

  it("give the same result to the last bit on one thread and two, whatever the splits and partitions", async () => {
    const runs: { which: string; out: unknown }[] = [];
    for (const [runner, splits, partitions] of [
      ["direct", 1, 1],
      ["direct", 7, 5],
      ["pool", 3, 16],
      ["pool", 16, 2],
    ] as const) {
      for (const which of ["sum", "mean"] as const) {
        const { outputs } = await catalogue.run(
          { case: which, pairs: [], numbers: numbers as [string, number][], splits, partitions },
          { runner, threads: 2 },
        );
        runs.push({ which, out: multiset(outputs.out) });
      }
    }
    for (const which of ["sum", "mean"]) {
      const [first, ...others] = runs.filter((run) => run.which === which);
      for (const other of others) assert.deepEqual(other.out, first!.out, which);
    }
  });

  it("refuse NaN and an infinity, and say when a key's sum passes the largest double", async () => {
    const run = (values: number[]) => {
      const p = new Pipeline();
      return runDirect(p, {
        out: p
          .fromArray(values.map((value) => ["k", value] as const))
          .combinePerKey(sum())
          .collect(),
      });
    };
    await assert.rejects(run([1, Number.NaN]), (error: Error) => {
      assert.match(error.message, /sum\(\) takes finite numbers, and a value is NaN/);
      return true;
    });
    await assert.rejects(run([1, Number.NEGATIVE_INFINITY]), /a value is -Infinity/);
    await assert.rejects(run([1.5e308, 1.5e308]), (error: Error) => {
      assert.ok(error instanceof SluiceError || error.cause instanceof SluiceError, String(error));
      assert.match(error.message, /sum\(\) passed the largest number a double holds/);
      return true;
    });
    // Past it on the way, back within it at the end: the partials keep it exact.
    assert.deepEqual((await run([1e308, -1e308, 1e308])).outputs.out, [["k", 1e308]]);
  });
});
