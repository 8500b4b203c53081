/**
 * What a documented example must print: each `console.log(...); // value` line's value, and what a
 * run printed, one JSON value per line, both in one canonical spelling so that they compare.
 */
export function expectedOutput(code: string): string[] {
  return [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((match) =>
    JSON.stringify(JSON.parse(match[1]!)),
  );
}

export function printedValues(stdout: string): string[] {
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.stringify(JSON.parse(line)));
}
