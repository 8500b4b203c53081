/**
 * TypeScript pipelines on the pool: workers load a pipeline module the way the main thread did.
 * Node 20 gives neither `--import` modules nor the hooks they register to worker threads, so each
 * case runs a real node process over the fixtures in test/fixtures/typescript, from source.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { workerPreloadsOf } from "../src/core/runner/worker-preloads.js";
import { withTempDir } from "./support/temp.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = join(root, "test/fixtures/typescript");
const pipelineModule = pathToFileURL(join(fixtures, "word-lengths.ts")).href;

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const expected = [
  [1, 1],
  [2, 2],
  [3, 3],
  [4, 1],
];

describe("TypeScript pipelines on the pool", () => {
  it("run under node --import tsx: every worker gets the loader", () => {
    const run = node(["--import", "tsx", join(fixtures, "main.ts")]);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), expected);
  });

  it("run under tsx's own command, which passes its loader as a file URL", () => {
    const run = node([join(root, "node_modules/tsx/dist/cli.mjs"), join(fixtures, "main.ts")]);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), expected);
  });

  it("without a loader, the workers fail once with what to do, not three retries of 'Unknown file extension'", () => {
    const run = node([join(root, "build/test/fixtures/typescript/plain-main.js"), pipelineModule, "[]"]);
    assert.equal(run.status, 1, run.stdout);
    assert.match(
      run.stderr,
      /the workers could not build pipeline 'word-lengths' from .*word-lengths\.ts: Unknown file extension "\.ts" .*: start node with a loader the workers get too \(`node --import tsx main\.ts`, or the run option workerImports\), or compile the pipeline to JavaScript first/,
    );
    assert.doesNotMatch(run.stderr, /on fresh workers/, "not retried");
  });

  it("the run option workerImports gives the workers a loader the main thread does not have", () => {
    const run = node([join(root, "build/test/fixtures/typescript/plain-main.js"), pipelineModule, '["tsx"]']);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), [
      [1, 1],
      [2, 2],
      [3, 1],
    ]);
  });

  it("resolves preloads as node resolves --import: URLs as given, paths and package names from the working directory", () => {
    const preloads = workerPreloadsOf(
      [
        "--max-old-space-size=100",
        "--import=./setup.mjs",
        "--import",
        "file:///opt/x.mjs",
        "--import",
        "no-such-package-here",
      ],
      ["/abs/extra.mjs", "tsx"],
      root,
    );
    assert.deepEqual(preloads, [
      { url: pathToFileURL(join(root, "setup.mjs")).href },
      { url: "file:///opt/x.mjs" },
      { url: "file:///abs/extra.mjs" },
      { url: pathToFileURL(join(root, "node_modules/tsx/dist/esm/api/index.mjs")).href, register: true },
    ]);
  });
});

describe("the published declarations", () => {
  it("compile in a consumer's strictest settings, every entry point, with the libraries' own checked too", async () => {
    await withTempDir(async (folder) => {
      const entry = (path: string) => JSON.stringify(pathToFileURL(join(root, "dist", path)).pathname);
      // A project that checks declaration files (no skipLibCheck) and tells an absent member from
      // one set to undefined: a class of sluice's that implements its own interface otherwise
      // fails to compile there, in the user's build.
      await writeFile(
        join(folder, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            noImplicitOverride: true,
            skipLibCheck: false,
            module: "nodenext",
            moduleResolution: "nodenext",
            target: "es2022",
            noEmit: true,
            types: ["node"],
            typeRoots: [join(root, "node_modules/@types")],
          },
          files: ["consumer.mts"],
        }),
      );
      await writeFile(
        join(folder, "consumer.mts"),
        [
          `import * as core from ${entry("index.js")};`,
          `import * as io from ${entry("io/index.js")};`,
          `import * as cluster from ${entry("cluster/index.js")};`,
          `import * as sparkify from ${entry("pipelines/sparkify-load.js")};`,
          "const p = new core.Pipeline();",
          "const sink: core.Sink<{ a: number }> | undefined = undefined;",
          "console.log(p, sink, io.jsonLines, cluster, sparkify.sparkify);",
          "",
        ].join("\n"),
      );
      const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", folder], {
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`);
    });
  });
});
