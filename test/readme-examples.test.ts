/**
 * The README's single-module examples run as written: each TypeScript block that imports "sluice"
 * (and defines no pipeline module of its own) is transpiled, pointed at this build, and run; what
 * a `console.log(...); // value` line prints must be that value.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { expectedOutput, printedValues } from "./support/example-output.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((match) => match[1]!)
  .filter((code) => code.includes('from "sluice"') && !code.includes("definePipeline"));

describe("the README's examples", () => {
  it("include at least the first one", () => {
    assert.ok(blocks.length >= 1);
  });

  for (const [index, code] of blocks.entries()) {
    it(`example ${index + 1} runs and prints what its comments say`, async () => {
      await withTempDir(async (folder) => {
        const javascript = ts
          .transpileModule(code, {
            compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
          })
          .outputText.replaceAll(
            'from "sluice"',
            `from ${JSON.stringify(pathToFileURL(join(root, "dist/index.js")).href)}`,
          );
        const file = join(folder, "example.mjs");
        writeFileSync(file, javascript);
        const run = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 60_000 });
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(printedValues(run.stdout), expectedOutput(code));
      });
    });
  }
});
