/**
 * docs/guide.md's examples, compiled and run: every ```ts block names its file on its first line
 * (`// file: NAME.ts`); all of them are type-checked together by the TypeScript compiler in strict
 * mode, as a project that installed sluice would (`sluice` and `sluice/io` resolve to this
 * package's build), then run in order in one folder; what each `console.log(...); // value` line
 * prints must be that value.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expectedOutput, printedValues } from "./support/example-output.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const guide = readFileSync(join(root, "docs/guide.md"), "utf8");
const examples = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match, index) => {
  const code = match[1]!;
  const name = /^\/\/ file: ([\w-]+)\.ts\n/.exec(code)?.[1];
  if (name === undefined) throw new Error(`docs/guide.md: example ${index + 1} does not name its file`);
  return { name, code };
});
// Inside this package, so that "sluice" resolves to it by its own name, as from node_modules.
const folder = join(root, "build/guide-examples");

describe("the guide's examples", () => {
  before(() => {
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    for (const { name, code } of examples) writeFileSync(join(folder, `${name}.ts`), code);
  });

  it("are many, each with a file name of its own", () => {
    assert.ok(examples.length >= 10, `${examples.length} examples`);
    assert.equal(new Set(examples.map((example) => example.name)).size, examples.length);
  });

  it("compile under strict TypeScript against sluice's declarations", () => {
    const program = ts.createProgram(
      examples.map(({ name }) => join(folder, `${name}.ts`)),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules/@types")],
        lib: ["lib.es2023.d.ts"],
      },
    );
    const diagnostics = ts.getPreEmitDiagnostics(program).concat(program.emit().diagnostics);
    const text = ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (file) => file,
      getCurrentDirectory: () => folder,
      getNewLine: () => "\n",
    });
    assert.equal(diagnostics.length, 0, text);
  });

  for (const { name, code } of examples) {
    const expected = expectedOutput(code);
    // A module that only defines a pipeline prints nothing and is run by the examples that import it.
    if (expected.length === 0) continue;
    it(`${name}.ts runs and prints what its comments say`, () => {
      const run = spawnSync(process.execPath, [join(folder, `${name}.js`)], {
        cwd: folder,
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(printedValues(run.stdout), expected);
    });
  }
});
