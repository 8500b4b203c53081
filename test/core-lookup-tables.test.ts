import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { canonicalJson } from "../src/core/keys.js";
import { LookupTableBuilder, PackedLookupTable } from "../src/core/lookup-tables.js";
import { anyUtf16String } from "./support/arbitraries.js";

/** A key as a table receives it: a JSON value (keys reach a table through blocks). */
const keyArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  // Keys whose texts coincide across types: the table must still tell them apart.
  fc.constantFrom("1", 1, true, "true", null, "null", "", 0, "0", false, "-0", 1.5, "1.5"),
  anyUtf16String(12),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.tuple(fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 3 })),
  fc.dictionary(fc.string({ maxLength: 2 }), fc.integer({ min: 0, max: 2 }), { maxKeys: 2 }),
);

/** What JSON makes of a value: -0 becomes 0, as in a block. */
function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The model: the values of every pair whose key is the same JSON value, in arrival order. */
function modelValues(pairs: readonly (readonly [unknown, unknown])[], key: unknown): unknown[] {
  const wanted = canonicalJson(viaJson(key));
  return pairs
    .filter(([candidate]) => canonicalJson(viaJson(candidate)) === wanted)
    .map(([, value]) => value);
}

/** Changes a value in place, as careless user code might. */
function spoil(value: unknown): void {
  if (Array.isArray(value)) value.push("spoiled");
  else if (typeof value === "object" && value !== null) (value as Record<string, unknown>).spoiled = true;
}

describe("lookup tables", () => {
  it("a packed table gives every key's values in arrival order, and nothing for keys it does not hold", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArbitrary, fc.jsonValue({ maxDepth: 2 })), { maxLength: 60 }),
        fc.array(keyArbitrary, { maxLength: 20 }),
        (rawPairs, otherKeys) => {
          const pairs = rawPairs.map(([key, value]) => [viaJson(key), viaJson(value)] as const);
          const builder = new LookupTableBuilder();
          for (const [key, value] of pairs) builder.add(key, value);
          // Packed, and as built (a table this small stays in the heap).
          for (const [kind, table] of [
            ["packed", builder.pack()],
            ["built", builder.build()],
          ] as const) {
            for (const key of [...pairs.map(([key]) => key), ...otherKeys]) {
              const expected = modelValues(pairs, key);
              const at = `${kind}, key ${JSON.stringify(key)}`;
              // Twice, the first answer spoiled in between: each hit's values are its own.
              const first = table.valuesOf(key);
              assert.deepStrictEqual(first, expected, at);
              for (const value of first) spoil(value);
              assert.deepStrictEqual(table.valuesOf(key), expected, `${at} (again)`);
            }
          }
          for (const key of [...pairs.map(([key]) => key), ...otherKeys]) {
            const at = `key ${JSON.stringify(key)} (builder)`;
            assert.deepStrictEqual(builder.valuesOf(key), modelValues(pairs, key), at);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a packed table holds values of any length and any characters, however many bytes their text takes", () => {
    fc.assert(
      fc.property(
        // Texts longer than the table's first guess at their size (16 bytes a value, at least
        // 4 KiB), so that its buffer grows several times.
        fc.array(
          fc.tuple(anyUtf16String(6), fc.array(anyUtf16String(400, 100), { minLength: 1, maxLength: 3 })),
          { minLength: 30, maxLength: 60 },
        ),
        (rawPairs) => {
          const pairs = rawPairs.map(([key, value]) => [key, viaJson(value)] as const);
          const builder = new LookupTableBuilder();
          for (const [key, value] of pairs) builder.add(key, value);
          const packed = builder.pack();
          for (const [key] of pairs) assert.deepStrictEqual(packed.valuesOf(key), modelValues(pairs, key));
        },
      ),
      // Its cases are long by design: shrinking one, text by text, takes minutes and gains little.
      { numRuns: 100, endOnFailure: true },
    );
  });

  it("a packed table finds keys that share a hash slot, and -0 as 0", () => {
    const builder = new LookupTableBuilder();
    // Thousands of keys in a table at most half full: many probe past an occupied slot.
    for (let index = 0; index < 5000; index++) builder.add(`key ${index}`, { index });
    builder.add(0, "zero");
    const packed = builder.pack();
    for (let index = 0; index < 5000; index++) assert.deepEqual(packed.valuesOf(`key ${index}`), [{ index }]);
    assert.deepEqual(packed.valuesOf("key 5000"), []);
    assert.deepEqual(packed.valuesOf(-0), ["zero"]);
  });

  it("each lookup gets values of its own: changing one does not change the table", () => {
    const builder = new LookupTableBuilder();
    builder.add("song", { song_id: "S1", tags: ["a"] });
    builder.add("flat", { song_id: "S2", duration: 1.5 });
    for (const table of [builder.pack(), builder.build()]) {
      const first = table.valuesOf("song") as { song_id: string; tags: string[] }[];
      first[0]!.song_id = "changed";
      first[0]!.tags.push("b");
      first.push({ song_id: "extra", tags: [] });
      assert.deepEqual(table.valuesOf("song"), [{ song_id: "S1", tags: ["a"] }]);
      // A flat value is copied for each hit (parsed once, when packed): each copy is the caller's own.
      for (let hit = 0; hit < 3; hit++) {
        const [flat] = table.valuesOf("flat") as { song_id: string; duration: number }[];
        assert.deepEqual(flat, { song_id: "S2", duration: 1.5 });
        flat!.song_id = "changed";
        flat!.duration = 0;
      }
    }
  });

  it("a table of at most 65,536 values stays in the heap, a larger one is packed", () => {
    const builder = new LookupTableBuilder();
    for (let index = 0; index < 65_536; index++) builder.add(index % 1000, index);
    assert.ok(!(builder.build() instanceof PackedLookupTable));
    builder.add("one more", 65_536);
    const built = builder.build();
    assert.ok(built instanceof PackedLookupTable);
    assert.equal(built.valuesOf(999).length, 65);
    assert.deepEqual(built.valuesOf("one more"), [65_536]);
  });
});
