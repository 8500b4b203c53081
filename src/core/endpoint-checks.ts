/**
 * Checks that what `read` is given is a source and what `write` is given is a sink, when the
 * pipeline is built. A path given where a source belongs, or a source where a sink belongs, is
 * a first mistake in plain JavaScript (TypeScript refuses both); unchecked, it failed only when
 * the run listed its input, as a TypeError about a member of undefined.
 */
import { describeValue, SluiceError } from "./errors.js";
import type { Graph } from "./graph.js";
import type { Sink, Source } from "./interfaces.js";

function hasFunctions(value: unknown, names: readonly string[]): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === "function")
  );
}

function looksLikeSource(value: unknown): value is Source<unknown> {
  return (
    hasFunctions(value, ["splits", "read"]) &&
    typeof (value as { description?: unknown }).description === "string"
  );
}

function looksLikeSink(value: unknown): value is Sink<unknown> {
  return (
    hasFunctions(value, ["openWriter"]) &&
    typeof (value as { name?: unknown }).name === "string" &&
    typeof (value as { committer?: unknown }).committer === "object"
  );
}

/** What was given, and what the user likely meant, for the two messages below. */
function given(value: unknown): string {
  if (looksLikeSink(value)) return `the sink '${value.name}' (a sink is written with collection.write(sink))`;
  if (looksLikeSource(value)) return `the source ${value.description} (a source is read with p.read(source))`;
  return describeValue(value);
}

/** Throws unless `value` is a source, saying what it is and what `read` takes. */
export function checkSource(value: unknown): asserts value is Source<unknown> {
  if (looksLikeSource(value)) return;
  const path =
    typeof value === "string"
      ? `: to read the JSON lines under that path, p.read(jsonLines(${JSON.stringify(value)})) (jsonLines from "sluice/io")`
      : "";
  throw new SluiceError(
    `read takes a source (jsonLines(uri), jsonDocuments(uri) or parquetDataset(uri) from "sluice/io", or your own Source with description, splits and read), and it was given ${given(value)}${path}`,
  );
}

/** Throws unless `value` is a sink, saying what it is and what `write` takes. */
export function checkSink(value: unknown): asserts value is Sink<unknown> {
  if (looksLikeSink(value)) return;
  const path =
    typeof value === "string"
      ? `: to write under that path, make a lake there (new Lake(${JSON.stringify(value)}, { mode: "overwrite" }) from "sluice/io") and write to one of its tables (lake.parquet(table, schema) or lake.jsonLines(table))`
      : "";
  throw new SluiceError(
    `write takes a sink (lake.parquet(table, schema) or lake.jsonLines(table) of a Lake from "sluice/io", or your own Sink with name, committer and openWriter), and it was given ${given(value)}${path}`,
  );
}

/**
 * Throws when the pipeline already writes to a sink of the same name and committer (a lake's
 * table): two writes would commit into one table, with the options of each (one partitioned,
 * one not) side by side. Spark and Beam write a table once, from the union of what goes in.
 */
export function checkWrittenOnce(graph: Graph, sink: Sink<unknown>): void {
  for (const node of graph.nodes) {
    const other = node.kind === "sink" ? node.sink : undefined;
    if (other && other.name === sink.name && other.committer.id === sink.committer.id)
      throw new SluiceError(
        `'${sink.name}' is written twice in this pipeline (the first by '${node.name}'): a table is written once; flatten what goes into it first (p.flatten([a, b]).write(sink))`,
      );
  }
}
