/**
 * A fingerprint of a pipeline's graph: its shape, names and the data of its transforms (shuffle
 * modes and widths, combiners' constants), with functions, sources and sinks stood for by their
 * kind and name. The driver and every worker build the graph from the same module and options;
 * a build that depends on anything else (a random number, the clock, the environment) builds
 * another graph in a worker, and the fingerprints tell before any task runs on it.
 */
import { createHash } from "node:crypto";
import type { Graph } from "./graph.js";

export function graphFingerprint(graph: Graph): string {
  const hash = createHash("sha256");
  for (const node of graph.nodes) hash.update(nodeText(node)).update("\n");
  return hash.digest("hex").slice(0, 16);
}

/**
 * A fingerprint of the code of a pipeline's graph: the source text of every function its
 * transforms hold, in order. The graph's fingerprint stands for a function by its kind alone, so a
 * worker whose copy of the module is another version (a deploy that reached some machines only)
 * would build the same graph and run other code. Compared past one machine only: the threads of
 * one process import the same files, and a loader that compiles them for one thread and not the
 * other (`workerImports`) gives the same code another text.
 */
export function codeFingerprint(graph: Graph): string {
  const hash = createHash("sha256");
  for (const node of graph.nodes)
    nodeText(node, (fn) => hash.update(Function.prototype.toString.call(fn)).update("\n"));
  return hash.digest("hex").slice(0, 16);
}

/** A node as JSON, each function given to `onFunction` and stood for by its kind. */
function nodeText(
  node: Graph["nodes"][number],
  onFunction?: (fn: (...args: never[]) => unknown) => void,
): string {
  return JSON.stringify(node, (key, value: unknown) => {
    if (typeof value === "function") {
      onFunction?.(value as (...args: never[]) => unknown);
      return "function";
    }
    if (key === "source") return `source ${(value as { description: string }).description}`;
    if (key === "sink") return `sink ${(value as { name: string }).name}`;
    if (typeof value === "bigint") return `${value}n`;
    return value;
  });
}
