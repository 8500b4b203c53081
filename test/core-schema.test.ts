import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { column, schema } from "../src/index.js";
import { anyUtf16String } from "./support/arbitraries.js";

const declared = schema({
  id: column.utf8().check((id) => (id === "" ? "an id cannot be empty" : undefined)),
  count: column.int32().optional(),
  total: column.int64().optional(),
  price: column.double().optional(),
  name: column.utf8().optional(),
  flag: column.boolean().optional(),
  at: column.timestampMillis().optional(),
});

/** A member as real logs have it: absent, null, of its type, or of another JSON type. */
const anyMember = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 53, -1, 8.64e15 + 1),
  fc.boolean(),
  anyUtf16String(6),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 2 }), fc.integer(), { maxKeys: 2 }),
);

/** The reason a model of the rules gives for a member, or undefined when it fits. */
function modelProblem(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return name === "id";
  switch (name) {
    case "id":
      return typeof value !== "string" || value === "" || !value.isWellFormed();
    case "name":
      return typeof value !== "string" || !value.isWellFormed();
    case "count":
      return (
        !Number.isInteger(value) || Math.abs(value as number) >= 2 ** 31 + ((value as number) < 0 ? 1 : 0)
      );
    case "total":
      return !Number.isSafeInteger(value);
    case "price":
      return typeof value !== "number" || !Number.isFinite(value);
    case "flag":
      return typeof value !== "boolean";
    case "at":
      return !Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 8.64e15;
    default:
      return false;
  }
}

describe("schemas", () => {
  it("give every declared member (null where absent), drop undeclared ones, and reject a wrong type naming the member", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            id: anyMember,
            count: anyMember,
            total: anyMember,
            price: anyMember,
            name: anyMember,
            flag: anyMember,
            at: anyMember,
            extra: anyMember,
          },
          { requiredKeys: [] },
        ),
        (input) => {
          const parsed = declared.parse(input);
          const bad = declared.names.filter((name) =>
            modelProblem(name, (input as Record<string, unknown>)[name]),
          );
          assert.equal(declared.recordOf(input) === undefined, bad.length > 0);
          if (bad.length > 0) {
            assert.ok("problem" in parsed, `expected a problem with ${bad.join(", ")}`);
            assert.match(parsed.problem, new RegExp(`^'(${bad.join("|")})' is `));
            return;
          }
          assert.ok("record" in parsed, "problem" in parsed ? parsed.problem : "");
          assert.deepEqual(Object.keys(parsed.record), declared.names);
          for (const name of declared.names) {
            const value = (input as Record<string, unknown>)[name];
            assert.equal(
              (parsed.record as Record<string, unknown>)[name],
              value === undefined ? null : value,
            );
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("describe a value nested too deeply to write out without failing", () => {
    const deep = JSON.parse(`{"id":"a","count":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    assert.deepEqual(declared.parse(deep), { problem: "'count' is an array, expected a 32-bit integer" });
  });

  it("reject text with a lone surrogate, which UTF-8 cannot hold, naming the member", () => {
    assert.deepEqual(declared.parse({ id: "a\ud800" }), {
      problem: "'id' is a string with a lone surrogate, expected valid Unicode text",
    });
  });

  it("say that an integer past 2^53 is refused for its size, not as if it were no integer", () => {
    // 9007199254740993 in the JSON text: parsed to 2^53, no longer the integer written.
    const parsed = JSON.parse('{"id":"a","total":9007199254740993,"at":1.5}');
    assert.deepEqual(declared.parse(parsed), {
      problem:
        "'total' is 9007199254740992, expected an integer of at most 2^53 in magnitude, which JSON numbers hold exactly",
    });
    assert.deepEqual(declared.parse({ id: "a", at: 1.5 }), {
      problem: "'at' is 1.5, expected epoch milliseconds (an integer)",
    });
    assert.deepEqual(declared.parse({ id: "a", at: -(2 ** 60) }), {
      problem:
        "'at' is -1152921504606847000, expected epoch milliseconds (an integer) of at most 2^53 in magnitude, which JSON numbers hold exactly",
    });
  });

  it("turn a check that throws into a rejection, not a failed run", () => {
    const strict = schema({
      id: column.utf8().check(() => {
        throw new Error("boom");
      }),
    });
    assert.deepEqual(strict.parse({ id: "a" }), { problem: `'id' is "a", its check failed (boom)` });
  });
  it("keep members whose names JavaScript treats specially as plain members, in declared order", () => {
    const odd = schema({
      ["__proto__"]: column.utf8(),
      constructor: column.int32().optional(),
      'quote"and\\backslash': column.utf8().optional(),
      "0": column.boolean().optional(),
      toString: column.double().optional(),
    });
    const value = JSON.parse(
      '{"__proto__":"p","constructor":7,"quote\\"and\\\\backslash":"q","0":true,"extra":1}',
    ) as unknown;
    const parsed = odd.parse(value);
    assert.ok("record" in parsed, "problem" in parsed ? parsed.problem : "");
    const record = parsed.record as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(record), Object.prototype);
    assert.deepEqual(Object.entries(record), [
      ["0", true],
      ["__proto__", "p"],
      ["constructor", 7],
      ['quote"and\\backslash', "q"],
      ["toString", null],
    ]);
    // Members are the object's own: an inherited __proto__ or toString is no member.
    assert.deepEqual(odd.parse({}), { problem: "'__proto__' is missing, a value is required" });
  });
});
