/** Task specs and results packed for Redis come back as they were, and smaller. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { packResult, packSpec, unpackResult, unpackSpec } from "../src/cluster/wire.js";
import type { JsonValue, ObjectBlockRef, TaskResult, TaskSpec } from "../src/index.js";

const json = fc.jsonValue() as fc.Arbitrary<JsonValue>;

const objectBlock: fc.Arbitrary<ObjectBlockRef> = fc.record({
  records: fc.nat(),
  byteLength: fc.nat(),
  object: fc.constantFrom(
    "s3://bucket/shuffle/run/s0-t0-a1-1.blocks",
    "s3://bucket/shuffle/run/s0-t1-a2-2.blocks",
    "/mnt/shared/run/s1-t0-a1-3.blocks",
  ),
  offset: fc.nat(),
});

const spec: fc.Arbitrary<TaskSpec> = fc.record({
  runId: fc.constant("20261201T000000-abcdef"),
  stageId: fc.nat(9),
  taskIndex: fc.nat(99),
  input: fc.oneof(
    fc.record({ kind: fc.constant("splits" as const), splits: fc.array(json, { maxLength: 4 }) }),
    fc.record({
      kind: fc.constant("partitions" as const),
      partitions: fc.array(
        fc.record({ partition: fc.nat(999), blocks: fc.array(objectBlock, { maxLength: 5 }) }),
        {
          maxLength: 5,
        },
      ),
    }),
  ),
  batchSize: fc.integer({ min: 1, max: 10_000 }),
  memoryBudget: fc.nat(),
  spillDirectory: fc.constant("/tmp/spill"),
  tables: fc.dictionary(fc.nat(20).map(String), fc.array(objectBlock, { maxLength: 4 })) as fc.Arbitrary<
    Record<number, ObjectBlockRef[]>
  >,
});

const result: fc.Arbitrary<TaskResult> = fc.record({
  shuffleBlocks: fc.array(fc.record({ shuffleId: fc.nat(5), partition: fc.nat(9999), block: objectBlock }), {
    maxLength: 20,
  }),
  collected: fc.array(fc.record({ nodeId: fc.nat(30), block: objectBlock }), { maxLength: 5 }),
  sinkMessages: fc.array(fc.record({ sink: fc.string(), message: json }), { maxLength: 3 }),
  metrics: fc.constant({} as TaskResult["metrics"]),
});

describe("the cluster's wire format", () => {
  it("gives back every spec and result it packed, through JSON, block for block", () => {
    fc.assert(
      fc.property(spec, (value) => {
        const back = unpackSpec(JSON.parse(JSON.stringify(packSpec(value))));
        assert.deepEqual(back, JSON.parse(JSON.stringify({ ...value, tables: value.tables ?? {} })));
      }),
    );
    fc.assert(
      fc.property(result, (value) => {
        assert.deepEqual(
          unpackResult(JSON.parse(JSON.stringify(packResult(value)))),
          JSON.parse(JSON.stringify(value)),
        );
      }),
    );
  });

  it("names each object once: a map task's result at 10,000 partitions is a fraction of its plain JSON", () => {
    const object = "s3://bucket/shuffle/20261201T000000-abcdef/s0-t17-a1-0a1b2c3d.blocks";
    const plain: TaskResult = {
      shuffleBlocks: Array.from({ length: 10_000 }, (_, partition) => ({
        shuffleId: 0,
        partition,
        block: { records: 40, byteLength: 900, object, offset: partition * 900 },
      })),
      collected: [],
      sinkMessages: [],
      metrics: {} as TaskResult["metrics"],
    };
    const packed = JSON.stringify(packResult(plain)).length;
    assert.ok(
      packed * 4 < JSON.stringify(plain).length,
      `packed ${packed} bytes against ${JSON.stringify(plain).length}`,
    );
  });

  it("refuses a block held on this machine, which no other machine could read", () => {
    assert.throws(
      () =>
        packResult({
          shuffleBlocks: [
            { shuffleId: 0, partition: 0, block: { records: 1, byteLength: 3, file: "/tmp/x", offset: 0 } },
          ],
          collected: [],
          sinkMessages: [],
          metrics: {} as TaskResult["metrics"],
        }),
      /a block held on this machine cannot cross to another/,
    );
  });
});
