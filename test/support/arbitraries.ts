import fc from "fast-check";

/**
 * Strings of any UTF-16: every code point, and lone surrogates, which fast-check's "binary" unit
 * never makes (it draws whole code points) but JavaScript strings may hold and JSON escapes.
 */
export function anyUtf16String(maxLength: number, minLength = 0): fc.Arbitrary<string> {
  const codePoint = fc.string({ unit: "binary", minLength: 1, maxLength: 1 });
  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit));
  return fc.string({
    unit: fc.oneof({ weight: 4, arbitrary: codePoint }, { weight: 1, arbitrary: loneSurrogate }),
    minLength,
    maxLength,
  });
}
