/**
 * The rules of pipeline modules, enforced: the first plausible mistakes end at once with a line
 * that says what to do, on a real pool, never a hang, a runaway or a silently wrong answer.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { definePipeline, TransformError } from "../src/index.js";
import {
  differentInWorkers,
  driverOnlyListing,
  graphFromDriverOnly,
  notJson,
  throwsOnOne,
} from "./fixtures/unsafe-pipelines.js";

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
    const run = (what: "date" | "map" | "nan" | "set-accumulator" | "plain") =>
      notJson.run({ what, values: [1, 2, 3, 4] }, runner === "pool" ? { threads: 2 } : { runner });
    it(`refuses records and accumulators that JSON would change, naming what and where, the same way on ${runner}`, async () => {
      const cases = [
        ["date", /'group them' must be JSON values, .* and hold a Date in a value at \.at: convert it first/],
        ["map", /'group them' must be JSON values, .* and hold a Map in a value at \.seen: /],
        ["nan", /'group them' must be JSON values, .* and hold NaN in a value at \.ratio: /],
        [
          "set-accumulator",
          /'distinct per parity' must be JSON values, .* and hold a Set in an accumulator: /,
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
});
