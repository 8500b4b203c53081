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
  for (const node of graph.nodes) {
    hash.update(
      JSON.stringify(node, (key, value: unknown) => {
        if (typeof value === "function") return "function";
        if (key === "source") return `source ${(value as { description: string }).description}`;
        if (key === "sink") return `sink ${(value as { name: string }).name}`;
        if (typeof value === "bigint") return `${value}n`;
        return value;
      }),
    );
    hash.update("\n");
  }
  return hash.digest("hex").slice(0, 16);
}
