/**
 * Each physical operator on its own, opened as a task opens it, against a plain-array model; the
 * table of operators against the planner's rules; and the planner's check that every node lands
 * in the stages its inputs put it in.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodeCrossing, readBlock } from "../src/core/blocks.js";
import { TransformError } from "../src/core/errors.js";
import { Graph, type GraphNode, type NodeKind, type NodeSpec } from "../src/core/graph.js";
import { canonicalJson, compareValues, stableHash } from "../src/core/keys.js";
import { emptyCounters, type TaskMetrics } from "../src/core/metrics.js";
import { OPERATORS } from "../src/core/operators/index.js";
import type {
  FusedOperator,
  Operator,
  Routes,
  RunningOperator,
  TaskRuntime,
} from "../src/core/operators/operator.js";
import { openShuffleWrite } from "../src/core/operators/shuffle-write.js";
import { shuffleReadOperator } from "../src/core/operators/shuffle-read.js";
import { planGraph } from "../src/core/plan.js";
import type { ShuffleBlock } from "../src/core/shuffle.js";
import type { ShufflePlan } from "../src/core/stages.js";

function runtimeFor(): TaskRuntime & { metrics: TaskMetrics } {
  const metrics: TaskMetrics = {
    ...emptyCounters(),
    rejectedSamples: [],
    transformRecords: {},
    counters: [],
  };
  let origin = () => "record 1";
  return {
    taskContext: { runId: "test", stageId: 0, taskId: "s0t00000" },
    taskIndex: 0,
    batchSize: 16,
    memoryBudget: 1 << 20,
    spillDirectory: "/nonexistent",
    metrics,
    origin: () => origin(),
    setOrigin(describe) {
      origin = describe;
    },
    tableBlocks: () => [],
    shuffle() {
      throw new Error("no shuffles here");
    },
    reject() {
      metrics.rejected++;
    },
    fail(node, error) {
      throw new TransformError(node.name, origin(), String(error), { cause: error });
    },
  };
}

/** A node of one kind, as the graph makes it. */
function nodeOf(spec: NodeSpec, name = `${spec.kind}#0`): GraphNode {
  return { ...spec, id: 0, name, inputs: [] } as GraphNode;
}

/** A node's consumers by tag, which none but a withOutputs node's test gives. */
const noRoutes = (tag: string) => assert.fail(`no consumer of '${tag}'`);

/** Opens a fused operator for a node, pushes `records` through it, finishes and closes it. */
async function runOperator(node: GraphNode, records: unknown[], routes: Routes = noRoutes) {
  const operator = OPERATORS[node.kind] as Operator<NodeKind>;
  assert.notEqual(operator.placement, "root");
  const runtime = runtimeFor();
  const out: unknown[] = [];
  const running: RunningOperator = await (operator as FusedOperator<NodeKind>).open(
    node,
    (value) => out.push(value),
    runtime,
    routes,
  );
  for (const record of records) running.process(record);
  running.finish?.();
  const closed = await running.close?.();
  return { out, closed, count: runtime.metrics.transformRecords[node.id], metrics: runtime.metrics };
}

let lookupRuns = 0;
const records = fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 60 });

/** What the read side of a group shuffle gives for the blocks written to it, partition by partition. */
async function readGroups(
  shuffle: ShufflePlan,
  runtime: TaskRuntime,
  blocks: readonly ShuffleBlock[],
): Promise<[unknown, unknown[][]][]> {
  const partitions = Array.from({ length: shuffle.partitionCount }, (_, partition) => ({
    partition,
    blocks: blocks.filter((entry) => entry.partition === partition).map((entry) => entry.block),
  }));
  const out: [unknown, unknown[][]][] = [];
  const node = {
    kind: "shuffle",
    mode: "group",
    partitionCount: shuffle.partitionCount,
    id: 0,
    name: shuffle.name,
    inputs: [0],
  };
  await shuffleReadOperator.read(
    node as never,
    { kind: "partitions", partitions },
    runtime,
    (value) => out.push(value as [unknown, unknown[][]]),
    async () => {},
  );
  return out;
}

describe("operators, each on its own", () => {
  it("map gives one output per record, counted", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        const result = await runOperator(nodeOf({ kind: "map", fn: (x: number) => x * 2 }), input);
        assert.deepEqual(
          result.out,
          input.map((x) => x * 2),
        );
        assert.equal(result.count, input.length);
      }),
    );
  });

  it("filter keeps what its function accepts", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        const result = await runOperator(nodeOf({ kind: "filter", fn: (x: number) => x % 3 === 0 }), input);
        assert.deepEqual(
          result.out,
          input.filter((x) => x % 3 === 0),
        );
        assert.equal(result.count, result.out.length);
      }),
    );
  });

  it("flatMap passes on every element of each iterable, generators included", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        function* repeat(x: number) {
          for (let index = 0; index < Math.abs(x) % 4; index++) yield x;
        }
        const result = await runOperator(nodeOf({ kind: "flatMap", fn: repeat }), input);
        assert.deepEqual(
          result.out,
          input.flatMap((x) => [...repeat(x)]),
        );
        assert.equal(result.count, result.out.length);
      }),
    );
  });

  it("withOutputs sends each record it emits to its tag's consumer alone, in the order emitted", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        const byTag: Record<string, unknown[]> = { even: [], odd: [], all: [] };
        const emitting = (x: number, emit: Record<string, (output: unknown) => void>) => {
          (x % 2 === 0 ? emit.even! : emit.odd!)(x);
          for (let index = 0; index < Math.abs(x) % 3; index++) emit.all!([x, index]);
        };
        const result = await runOperator(
          nodeOf({ kind: "withOutputs", fn: emitting, tags: ["even", "odd", "all"] }),
          input,
          (tag) => (value) => byTag[tag]!.push(value),
        );
        assert.deepEqual(result.out, [], "nothing goes to the consumers of every record");
        assert.deepEqual(
          byTag.even,
          input.filter((x) => x % 2 === 0),
        );
        assert.deepEqual(
          byTag.odd,
          input.filter((x) => x % 2 !== 0),
        );
        assert.deepEqual(
          byTag.all,
          input.flatMap((x) => Array.from({ length: Math.abs(x) % 3 }, (_, index) => [x, index])),
        );
        assert.equal(result.count, byTag.even!.length + byTag.odd!.length + byTag.all!.length);
        assert.deepEqual((await runOperator(nodeOf({ kind: "tagged", tag: "even" }), input)).out, input);
      }),
    );
  });

  it("withOutputs takes any names for its tags, __proto__ among them", async () => {
    const byTag = new Map<string, unknown[]>([
      ["__proto__", []],
      ["constructor", []],
    ]);
    const result = await runOperator(
      nodeOf({
        kind: "withOutputs",
        // Read as own properties: `emit.__proto__` would be the prototype's accessor either way.
        fn: (x: number, emit: object) =>
          Object.getOwnPropertyDescriptor(emit, x > 0 ? "__proto__" : "constructor")?.value(x),
        tags: ["__proto__", "constructor"],
      }),
      [1, -1, 2],
      (tag) => (value) => byTag.get(tag)!.push(value),
    );
    assert.deepEqual(byTag.get("__proto__"), [1, 2]);
    assert.deepEqual(byTag.get("constructor"), [-1]);
    assert.equal(result.count, 3);
  });

  it("withOutputs passes nothing of a record on when its function throws after emitting", async () => {
    const passed: unknown[] = [];
    const node = nodeOf(
      {
        kind: "withOutputs",
        fn: (x: number, emit: Record<string, (output: unknown) => void>) => {
          emit.a!(x);
          if (x === 2) throw new Error("broken after emitting");
        },
        tags: ["a"],
      },
      "two ways",
    );
    await assert.rejects(
      runOperator(node, [1, 2, 3], () => (value) => passed.push(value)),
      (error: Error) => {
        assert.ok(error instanceof TransformError);
        assert.match(
          error.message,
          /^transform .two ways. failed on record \d+: Error: broken after emitting$/,
        );
        return true;
      },
    );
    assert.deepEqual(passed, [1], "the first record's output, and none of the second's");
  });

  it("flatten and coalesce pass records on unchanged; coalesce limits its stage", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        assert.deepEqual((await runOperator(nodeOf({ kind: "flatten" }), input)).out, input);
        assert.deepEqual(
          (await runOperator(nodeOf({ kind: "coalesce", partitionCount: 3 }), input)).out,
          input,
        );
      }),
    );
    const coalesce = OPERATORS.coalesce as FusedOperator<"coalesce">;
    assert.equal(coalesce.maxTasks?.(nodeOf({ kind: "coalesce", partitionCount: 3 }) as never), 3);
  });

  it("sort holds everything until the end of input, then passes it on in order, ties in the records' order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.string({ maxLength: 2 })), { maxLength: 60 }),
        fc.boolean(),
        async (input, byString) => {
          const by = byString ? (r: [number, string]) => `k${r[0]}` : (r: [number, string]) => r[0];
          const operator = OPERATORS.sort as FusedOperator<"sort">;
          const out: unknown[] = [];
          const running = await operator.open(
            nodeOf({ kind: "sort", by }) as never,
            (value) => out.push(value),
            runtimeFor(),
            noRoutes,
          );
          for (const record of input) running.process(record);
          assert.deepEqual(out, [], "nothing passes before the end of input");
          running.finish!();
          const model = [...input].sort((a, b) => compareValues(by(a), by(b)) || compareValues(a, b));
          assert.deepEqual(out, model);
        },
      ),
    );
  });

  it("collect keeps every record and hands them back as its output", async () => {
    await fc.assert(
      fc.asyncProperty(records, async (input) => {
        const result = await runOperator(nodeOf({ kind: "collect" }), input);
        assert.deepEqual(result.out, [], "an output passes nothing on");
        const [collected] = result.closed!.collected!;
        assert.equal(collected!.nodeId, 0);
        assert.deepEqual(await readBlock(collected!.block), input);
        assert.equal(result.metrics.recordsOut, input.length);
      }),
    );
  });

  it("lookup gives each keyed record the values of its key in the table, in the table's order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.string({ maxLength: 3 })), { maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 30 }),
        async (table, keys) => {
          // Tables are cached per thread and run: each case is a run of its own.
          const runId = `lookup ${++lookupRuns}`;
          const runtime = { ...runtimeFor(), tableBlocks: () => [encodeCrossing(table, "a table")] };
          runtime.taskContext = { ...runtime.taskContext, runId };
          const out: unknown[] = [];
          const running = await (OPERATORS.lookup as FusedOperator<"lookup">).open(
            nodeOf({ kind: "lookup" }) as never,
            (value) => out.push(value),
            runtime,
            noRoutes,
          );
          for (const key of keys) running.process([key, `play of ${key}`]);
          const model = keys.map((key) => [
            key,
            `play of ${key}`,
            table.filter(([tableKey]) => tableKey === key).map(([, value]) => value),
          ]);
          assert.deepEqual(out, model);
        },
      ),
    );
  });

  it("a shuffle's write side and read side group every record under its key, whatever the partitioning", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.string({ maxLength: 2 }), fc.integer()), { maxLength: 80 }),
        fc.integer({ min: 1, max: 5 }),
        async (input, partitionCount) => {
          const shuffle: ShufflePlan = {
            id: 0,
            name: "groupByKey",
            mode: "group",
            partitionCount,
            readTasks: partitionCount,
            minReadTasks: partitionCount,
            inputCount: 1,
            combiner: undefined,
            writerStages: [0],
            readerStage: 1,
          };
          const runtime = { ...runtimeFor(), shuffle: () => shuffle };
          const writer = openShuffleWrite(
            shuffle,
            nodeOf({ kind: "shuffle", mode: "group", partitionCount }, "groupByKey"),
            runtime,
          );
          for (const record of input) writer.input(0)(record);
          const { shuffleBlocks } = await writer.close!();
          const out = (await readGroups(shuffle, runtime, shuffleBlocks!)) as [string, number[][]][];
          const model = new Map<string, number[]>();
          for (const [key, value] of input) model.set(key, [...(model.get(key) ?? []), value]);
          assert.deepEqual(
            new Map(out.map(([key, [values]]) => [key, values!])),
            model,
            "each key once, with all its values in the order written",
          );
          assert.equal(out.length, model.size);
        },
      ),
    );
  });

  it("groups numeric keys (sorted rather than hashed) like any others: every value under its key, in arrival order, per input", async () => {
    const numericKey = fc.oneof(
      fc.integer({ min: -4, max: 4 }),
      fc.constantFrom(-0, 0.5, -2.5, 1.5e12, 1e21),
    );
    const anyKey = fc.oneof(numericKey, fc.string({ maxLength: 1 }));
    const record = (key: fc.Arbitrary<unknown>) =>
      fc.tuple(key, fc.integer({ min: 0, max: 1 }), fc.integer());
    await fc.assert(
      fc.asyncProperty(
        // Two writer tasks (a partition's blocks from each), keys all numbers or mixed, one or two inputs.
        fc.oneof(
          fc.array(record(numericKey), { maxLength: 60 }),
          fc.array(record(anyKey), { maxLength: 60 }),
        ),
        fc.nat(60),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        async (input, cut, partitionCount, inputCount) => {
          const shuffle: ShufflePlan = {
            id: 0,
            name: "coGroupByKey",
            mode: "group",
            partitionCount,
            readTasks: partitionCount,
            minReadTasks: partitionCount,
            inputCount,
            combiner: undefined,
            writerStages: [0],
            readerStage: 1,
          };
          const runtime = { ...runtimeFor(), shuffle: () => shuffle };
          const blocks: ShuffleBlock[] = [];
          for (const part of [input.slice(0, cut), input.slice(cut)]) {
            const writer = openShuffleWrite(
              shuffle,
              nodeOf({ kind: "shuffle", mode: "group", partitionCount }, shuffle.name),
              runtime,
            );
            for (const [key, slot, value] of part) writer.input(slot % inputCount)([key, value]);
            blocks.push(...(await writer.close!()).shuffleBlocks!);
          }
          const out = (await readGroups(shuffle, runtime, blocks)) as [unknown, number[][]][];
          // Keys as a shuffle carries them: JSON, so -0 is 0 and 1e21 the same number.
          const model = new Map<string, number[][]>();
          for (const [key, slot, value] of input) {
            const text = canonicalJson(key);
            const group = model.get(text) ?? Array.from({ length: inputCount }, () => []);
            group[slot % inputCount]!.push(value);
            model.set(text, group);
          }
          assert.deepEqual(new Map(out.map(([key, groups]) => [canonicalJson(key), groups])), model);
          assert.equal(out.length, model.size, "each key once");
          // Each list of values is the group's own, empty ones too: a function that adds to one
          // (a coGroupByKey's consumer filling in a missing side) changes no other group.
          const lists = out.flatMap(([, groups]) => groups);
          assert.equal(new Set(lists).size, lists.length, "no list of values shared between groups");
          assert.ok(lists.every((list) => !Object.isFrozen(list)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a user function that throws fails the transform, naming it and the record", async () => {
    for (const spec of [
      { kind: "map", fn: () => assert.fail("broken map") },
      { kind: "filter", fn: () => assert.fail("broken filter") },
      { kind: "flatMap", fn: () => assert.fail("broken flatMap") },
    ] as NodeSpec[]) {
      await assert.rejects(runOperator(nodeOf(spec, "my step"), [1]), (error: Error) => {
        assert.ok(error instanceof TransformError);
        assert.match(error.message, /my step/);
        assert.match(error.message, /record 1/);
        assert.match(error.message, /broken/);
        return true;
      });
    }
    await assert.rejects(
      runOperator(nodeOf({ kind: "sort", by: () => assert.fail("broken key") }, "sorted"), [1, 2]),
      /sorted.*broken key|broken key/s,
    );
  });
});

describe("the table of operators", () => {
  it("places sources and shuffles at a stage's root, sinks and collects at its end, the rest inside", () => {
    const placements = Object.fromEntries(
      Object.entries(OPERATORS).map(([kind, op]) => [kind, op.placement]),
    );
    assert.deepEqual(placements, {
      source: "root",
      shuffle: "root",
      map: "fused",
      flatMap: "fused",
      filter: "fused",
      withOutputs: "fused",
      tagged: "fused",
      sort: "fused",
      flatten: "fused",
      coalesce: "fused",
      lookup: "fused",
      sink: "output",
      collect: "output",
    });
    for (const [kind, operator] of Object.entries(OPERATORS) as [NodeKind, Operator<NodeKind>][]) {
      if (operator.placement === "root") assert.equal(typeof operator.read, "function", kind);
      else assert.equal(typeof operator.open, "function", kind);
    }
  });

  it("the planner refuses a graph with a node no stage reaches", () => {
    const graph = new Graph();
    graph.add({ kind: "map", fn: (x: unknown) => x }, "orphan", []);
    assert.throws(
      () => planGraph(graph, { defaultPartitions: 2 }),
      /placed 'orphan' \(map\) in stage\(s\) \[\]/,
    );
  });

  it("fuses a flatten of two sources, and what follows it, into both sources' stages", () => {
    const graph = new Graph();
    const source = {
      kind: "source",
      source: { description: "none", splits: async () => [], read: async function* () {} },
    };
    const a = graph.add(source as NodeSpec, "a", []);
    const b = graph.add(source as NodeSpec, "b", []);
    const both = graph.add({ kind: "flatten" }, "both", [a.id, b.id]);
    const doubled = graph.add({ kind: "map", fn: (x: number) => x * 2 }, "doubled", [both.id]);
    graph.add({ kind: "collect" }, "out", [doubled.id]);
    const plan = planGraph(graph, { defaultPartitions: 2 });
    assert.deepEqual(
      plan.stages.map((stage) => stage.nodes.map((node) => node.name)),
      [
        ["both", "doubled", "out"],
        ["both", "doubled", "out"],
      ],
    );
  });
});

describe("key hashing", () => {
  /** The rule written plainly: FNV-1a over the canonical text of the key, then the final mix. */
  function modelHash(text: string, seed: number): number {
    let hash = seed >>> 0;
    for (const unit of text.split("").map((char) => char.charCodeAt(0))) {
      hash = Math.imul(hash ^ unit, 0x01000193);
    }
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
    return hash >>> 0;
  }

  it("hashes an integer key as the text of the number, without making the text", () => {
    const integer = fc.oneof(
      fc.maxSafeInteger(),
      fc.integer(),
      fc.constantFrom(0, -0, 9, 10, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
    );
    fc.assert(
      fc.property(integer, (key) => {
        assert.equal(stableHash(key), modelHash(JSON.stringify(key), 0x9747b28c));
        assert.equal(stableHash(key), stableHash([key][0] === 0 ? 0 : key), "-0 and 0 are one key");
      }),
      { numRuns: 5000 },
    );
    // Other numbers and other keys keep the canonical text.
    for (const key of [1.5, 1e21, -2.25e-7, [1, "a"], { b: 1, a: 2 }, true, null]) {
      assert.equal(stableHash(key), modelHash(canonicalJson(key), 0x9747b28c));
    }
    assert.equal(stableHash("1541"), modelHash("1541", 0x811c9dc5), "a string is not its number");
  });
});
