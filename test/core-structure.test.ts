/**
 * The shape of the source, held: no module imports itself through others (type-only imports
 * count: a cycle of types points at a type in the wrong place), and a worker thread loads only what
 * runs tasks, not the pool, the scheduler or the definition that starts them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const src = join(root, "src");

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.c?ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Each file's relative imports and re-exports (static, dynamic and type-only), as source paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((match) =>
      relative(root, resolve(dirname(file), match[1]!.replace(/\.js$/, ".ts").replace(/\.cjs$/, ".cts"))),
    );
    graph.set(relative(root, file), targets);
  }
  return graph;
}

function closureOf(graph: Map<string, string[]>, start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...(graph.get(file) ?? []));
  }
  return seen;
}

describe("the shape of the source", () => {
  const graph = importGraph();

  it("reads every module's imports", () => {
    assert.ok(graph.size > 50, `${graph.size} modules`);
    assert.ok(graph.get("src/core/runner/worker.ts")!.includes("src/core/executor.ts"));
  });

  it("has no import cycles, type-only imports included", () => {
    const cycles: string[] = [];
    for (const [file, targets] of graph) {
      for (const target of targets) {
        if (target !== file && closureOf(graph, target).has(file)) cycles.push(`${file} -> ${target}`);
      }
    }
    assert.deepEqual(cycles, []);
  });

  it("a worker thread loads neither the pool, nor the scheduler, nor the definition that starts them", () => {
    const loaded = closureOf(graph, "src/core/runner/worker-entry.cts");
    for (const mainThreadOnly of [
      "src/core/runner/pool.ts",
      "src/core/runner/job.ts",
      "src/core/definition.ts",
      "src/core/runner/v8-helper-threads.ts",
      "src/core/runner/heap-growth.ts",
    ]) {
      assert.ok(!loaded.has(mainThreadOnly), `${mainThreadOnly} is loaded in workers`);
    }
  });
});
