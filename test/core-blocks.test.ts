import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  decodeRecords,
  encodeRecords,
  isColumnar,
  NotJsonError,
  nonJsonIn,
} from "../src/core/block-codec.js";
import { encodeCrossing } from "../src/core/blocks.js";
import { SluiceError } from "../src/core/errors.js";
import { anyUtf16String } from "./support/arbitraries.js";

/** What a block must give back: the records as a JSON round trip leaves them. */
/**
 * Records that are JSON values come back as a JSON round trip gives them; records that JSON would
 * change (NaN, a Date, a function) are refused, naming the first such value and where it is.
 */
function assertJsonRoundTrip(records: readonly unknown[]): void {
  const problem = nonJsonIn(records);
  if (problem !== undefined) {
    assert.throws(
      () => encodeRecords(records),
      (error: unknown) => error instanceof NotJsonError && error.message === problem,
    );
    return;
  }
  const expected = JSON.parse(JSON.stringify(records)) as unknown[];
  const actual = decodeRecords(encodeRecords(records));
  // deepStrictEqual tells -0 from 0 and checks prototypes; the text compares member order too.
  assert.deepStrictEqual(actual, expected);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected));
}

type ShapeSpec =
  | { readonly kind: "leaf" }
  | { readonly kind: "array"; readonly items: readonly ShapeSpec[] }
  | { readonly kind: "object"; readonly members: readonly (readonly [string, ShapeSpec])[] };

// Member names that matter to an encoder: integer-like names (which objects order first),
// __proto__ (which an object literal would turn into a prototype), toJSON, unicode, the empty name.
const memberName = fc.oneof(
  fc.constantFrom("ts", "userId", "1", "0", "10", "__proto__", "toJSON", "é", "🎵", ""),
  fc.string({ maxLength: 3 }),
);

const { shape: shapeArbitrary } = fc.letrec<{ shape: ShapeSpec }>((tie) => ({
  shape: fc.oneof(
    { maxDepth: 5, depthIdentifier: "shape" },
    { weight: 3, arbitrary: fc.constant({ kind: "leaf" } as const) },
    {
      weight: 2,
      arbitrary: fc.array(tie("shape"), { maxLength: 4 }).map((items) => ({ kind: "array", items }) as const),
    },
    {
      weight: 2,
      arbitrary: fc
        .uniqueArray(fc.tuple(memberName, tie("shape")), { maxLength: 5, selector: ([name]) => name })
        .map((members) => ({ kind: "object", members }) as const),
    },
  ),
}));

// Values a column may hold: the plain ones, and those JSON changes (-0, NaN, infinities, lone
// surrogates). Repeated strings exercise the dictionary.
const plainLeaf = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  anyUtf16String(8),
  fc.constantFrom("a", "b", "é", "🎵", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4)"),
  fc.boolean(),
  fc.constant(null),
);
// Values JSON turns into something else or leaves out, and values deeper than a column.
const awkwardLeaf = fc.oneof(
  plainLeaf,
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant(() => 1),
);

function arbitraryOf(spec: ShapeSpec, leaf: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  switch (spec.kind) {
    case "leaf":
      return leaf;
    case "array":
      return fc.tuple(...spec.items.map((item) => arbitraryOf(item, leaf)));
    case "object":
      return fc
        .tuple(...spec.members.map(([, member]) => arbitraryOf(member, leaf)))
        .map((values) => Object.fromEntries(spec.members.map(([name], index) => [name, values[index]])));
  }
}

function hasProtoMember(spec: ShapeSpec): boolean {
  if (spec.kind === "array") return spec.items.some(hasProtoMember);
  if (spec.kind === "object")
    return spec.members.some(([name, member]) => name === "__proto__" || hasProtoMember(member));
  return false;
}

describe("blocks", () => {
  it("give back what a JSON round trip gives, for records of one shape with plain values, as columns", () => {
    fc.assert(
      fc.property(
        shapeArbitrary.chain((shape) =>
          fc.tuple(
            fc.constant(shape),
            fc.array(arbitraryOf(shape, plainLeaf), { minLength: 1, maxLength: 40 }),
          ),
        ),
        ([shape, records]) => {
          assertJsonRoundTrip(records);
          // Records of one shape go column by column, unless the shape is a bare value or has a
          // member an object literal cannot make.
          if (shape.kind !== "leaf" && !hasProtoMember(shape) && nonJsonIn(records) === undefined)
            assert.ok(isColumnar(encodeRecords(records)));
          // The same members in another order: JSON keeps each record's order, and so must a block.
          const reordered = records.map((record) =>
            record !== null && typeof record === "object" && !Array.isArray(record)
              ? Object.fromEntries(Object.entries(record).reverse())
              : record,
          );
          assertJsonRoundTrip([records[0], ...reordered]);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("give back what a JSON round trip gives, for awkward values and records of other shapes", () => {
    fc.assert(
      fc.property(
        shapeArbitrary.chain((shape) =>
          fc.tuple(
            fc.array(arbitraryOf(shape, awkwardLeaf), { minLength: 1, maxLength: 30 }),
            fc.array(
              fc.tuple(
                fc.nat(),
                shapeArbitrary.chain((other) => arbitraryOf(other, awkwardLeaf)),
              ),
              {
                maxLength: 3,
              },
            ),
          ),
        ),
        ([records, strangers]) => {
          const mixed = [...records];
          for (const [position, stranger] of strangers)
            mixed.splice(position % (mixed.length + 1), 0, stranger);
          assertJsonRoundTrip(mixed);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("keep strings whole whatever the size of a column's dictionary", () => {
    // 1-, 2- and 4-byte indexes into the dictionary: each string twice in a row, so that the
    // column is not mostly distinct and keeps its dictionary.
    for (const distinct of [200, 300, 70_000]) {
      const records = Array.from({ length: 2 * distinct + 50 }, (_, index) => ({
        id: index,
        name: index % 7 === 0 ? null : `name ${Math.floor(index / 2) % distinct} é`,
        flag: index % 3 === 0 ? null : index % 2 === 0,
      }));
      const bytes = encodeRecords(records);
      assert.ok(isColumnar(bytes));
      assertJsonRoundTrip(records);
    }
  });

  it("give back what a JSON round trip gives for columns of strings that are nearly all distinct", () => {
    // Past a sample of 256 strings nine in ten new, a column goes string by string, not as a
    // dictionary; a lone surrogate anywhere in it makes it a JSON column instead.
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 30, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
            fc.constant(null),
            fc.constant("x"),
          ),
          { minLength: 300, maxLength: 700 },
        ),
        fc.option(fc.tuple(fc.nat(), anyUtf16String(4)), { freq: 4 }),
        (strings, stray) => {
          // Made distinct by their position, but for "x", which repeats.
          const records = strings.map((text, index) => ({
            n: index,
            text: text === null || text === "x" ? text : `${text}${index}`,
          }));
          if (stray) records[stray[0] % records.length]!.text = stray[1];
          assert.ok(isColumnar(encodeRecords(records)));
          assertJsonRoundTrip(records);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("name the first value JSON would change by where it lies", () => {
    const date = new Date(0);
    assert.equal(nonJsonIn({ a: [1, { b: [2, date] }] }, "options"), "a Date at options.a[1].b[1]");
    assert.equal(nonJsonIn([{ x: 1 }, [1, undefined]]), "undefined at [1][1]");
    assert.equal(nonJsonIn({ ok: undefined, n: Number.NaN }), "NaN at .n");
    // Each with its article.
    assert.equal(nonJsonIn({ bytes: new ArrayBuffer(1) }), "an ArrayBuffer at .bytes");
    assert.equal(nonJsonIn({ bytes: new Uint8Array(1) }), "a Uint8Array at .bytes");
    assert.equal(
      nonJsonIn(() => 1),
      "a function at the top",
    );
    assert.equal(nonJsonIn(JSON.parse('{"__proto__": {"m": [null, true, 1]}}')), undefined);
    assert.equal(
      nonJsonIn({ deep: [{ deeper: { map: new Map() } }] }, "records"),
      "a Map at records.deep[0].deeper.map",
    );
  });

  it("name a value that holds itself as a cycle, and keep a deep path short", () => {
    const looped: Record<string, unknown> = { id: 1 };
    looped.children = [{ parent: looped }];
    assert.equal(
      nonJsonIn({ row: looped }),
      "a reference to a value that holds it (a cycle) at .row.children[0].parent",
    );
    // The same object twice, side by side, is no cycle: JSON writes it twice.
    const shared = { n: 1 };
    assert.equal(nonJsonIn([shared, { again: shared }]), undefined);
    // Deep but finite is JSON: refused only past the depth where the search stops.
    const nested = (depth: number) => {
      const top: { n?: unknown } = {};
      let at = top;
      for (let level = 0; level < depth; level++) at = at.n = {};
      return top;
    };
    assert.equal(nonJsonIn(nested(900)), undefined);
    assert.equal(
      nonJsonIn(nested(1200)),
      "a value nested more than 1000 deep at .n.n.n.n.n.n<991 more>.n.n.n.n",
    );
    assert.throws(() => encodeRecords([looped]), /a cycle\) at \[0\]\.children\[0\]\.parent$/);
  });

  it("refuse a crossing record that holds itself with advice for a cycle", () => {
    const looped: Record<string, unknown> = { id: 1 };
    looped.self = looped;
    assert.throws(
      () => encodeCrossing([looped], "the records going into 'groupByKey'"),
      (error: unknown) =>
        error instanceof SluiceError &&
        error.message ===
          "the records going into 'groupByKey' must be JSON values, as they cross between threads, and hold a reference to a value that holds it (a cycle) in a record at .self: JSON cannot write a value that refers to itself: keep a key of what it refers to (an id) instead of the object",
    );
  });

  it("are smaller than JSON for rows that repeat their strings", () => {
    const agent = '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko)"';
    const records = Array.from({ length: 1000 }, (_, index) => [
      1_541_105_830_796 + index,
      0,
      { ts: 1_541_105_830_796 + index, userId: String(index % 20), level: "free", userAgent: agent },
    ]);
    const columnar = encodeRecords(records).byteLength;
    const json = Buffer.byteLength(JSON.stringify(records));
    assert.ok(columnar * 4 < json, `columnar ${columnar} bytes against JSON ${json}`);
  });
});

describe("blocks where code may not be generated from strings", () => {
  const codec = fileURLToPath(new URL("../src/core/block-codec.js", import.meta.url));
  const catalogue = fileURLToPath(new URL("./fixtures/catalogue.js", import.meta.url));
  /** Runs an ES module's text under `node --disallow-code-generation-from-strings`. */
  const hardened = (script: string, input = "") =>
    spawnSync(
      process.execPath,
      ["--disallow-code-generation-from-strings", "--input-type=module", "-e", script],
      {
        input,
        encoding: "utf8",
        timeout: 120_000,
      },
    );

  it("are the same bytes and the same records as where it may", () => {
    const batches = fc.sample(
      shapeArbitrary.chain((shape) =>
        fc.array(arbitraryOf(shape, plainLeaf), { minLength: 1, maxLength: 20 }),
      ),
      { numRuns: 150, seed: 7 },
    );
    const run = hardened(
      `import { encodeRecords, decodeRecords } from ${JSON.stringify(codec)};
      import { readFileSync } from "node:fs";
      const batches = JSON.parse(readFileSync(0, "utf8"));
      const out = batches.map((records) => { const bytes = encodeRecords(records); return [Buffer.from(bytes).toString("base64"), JSON.stringify(decodeRecords(bytes))]; });
      process.stdout.write(JSON.stringify(out));`,
      JSON.stringify(batches),
    );
    assert.equal(run.status, 0, run.stderr);
    const answers = JSON.parse(run.stdout) as [string, string][];
    const sent = JSON.parse(JSON.stringify(batches)) as unknown[][];
    assert.equal(answers.length, sent.length);
    sent.forEach((records, index) => {
      const bytes = encodeRecords(records);
      assert.equal(
        answers[index]![0],
        Buffer.from(bytes).toString("base64"),
        `batch ${index}: the same bytes`,
      );
      assert.equal(
        answers[index]![1],
        JSON.stringify(decodeRecords(bytes)),
        `batch ${index}: the same records`,
      );
    });
  });

  it("carry a shuffle of objects on the worker pool", () => {
    const run = hardened(
      `import { spilling } from ${JSON.stringify(catalogue)};
      const { outputs } = await spilling.run({ size: 3000, keys: 7 }, { threads: 2 });
      process.stdout.write(JSON.stringify(outputs.out.sort((a, b) => a[0] - b[0])));`,
    );
    assert.equal(run.status, 0, run.stderr);
    const expected = Array.from({ length: 7 }, (_, key) => {
      let count = 0;
      let length = 0;
      for (let index = key; index < 3000; index += 7) {
        count++;
        length += `value-${index}-${"x".repeat(index % 17)}`.length;
      }
      return [key, count, length];
    });
    assert.deepEqual(JSON.parse(run.stdout), expected);
  });
});
