import type { Combiner } from "./combiners.js";
import { Graph } from "./graph.js";
import type { RejectedRecord, Sink, Source } from "./interfaces.js";
import { Collected, flatten, PCollection, type TransformOptions } from "./pcollection.js";
import { ArraySource, GeneratorSource } from "./sources.js";

/** How many rejected records a job tolerates: a count, or a share of the records read. */
export type RejectLimit = { readonly count: number } | { readonly percent: number };

/** Where rejected records go, and how many a run may reject before it fails. */
export interface RejectedOutput {
  readonly sink?: Sink<RejectedRecord>;
  /** Default: no record may be rejected when there is no sink; no limit when there is one. */
  readonly limit?: RejectLimit;
}

/** A read's name, and whether the run needs it to read something. */
export type ReadOptions =
  | string
  | {
      readonly name?: string;
      /**
       * The run fails with a message naming the source, and commits nothing, when the source lists
       * no file or reads no record (blank lines do not count; rejected records do): an input that is
       * missing or misnamed must not quietly produce empty tables. Default false.
       */
      readonly required?: boolean;
    };

function sourceOptions(options: TransformOptions | { name?: string; splits?: number } | undefined) {
  if (typeof options === "string") return { name: options, splits: undefined };
  const splits = options && "splits" in options ? options.splits : undefined;
  return { name: options?.name, splits };
}

/**
 * A dataflow pipeline: the graph that its collections add transforms to.
 *
 * @example
 * const p = new Pipeline();
 * const counts = p.fromArray(["a", "b", "a"]).map((w) => [w, 1] as const).combinePerKey(sum()).collect();
 * const { outputs } = await runDirect(p, { counts }); // outputs.counts: [["a", 2], ["b", 1]] in some order
 */
export class Pipeline {
  readonly graph = new Graph();
  rejectedOutput: RejectedOutput = {};

  /** Reads a source. */
  read<T>(source: Source<T>, options?: ReadOptions): PCollection<T> {
    const required = typeof options === "object" && options.required === true;
    const node = this.graph.add(
      { kind: "source", source: source as Source<unknown>, ...(required ? { required } : {}) },
      typeof options === "string" ? options : (options?.name ?? `read(${source.description})`),
      [],
    );
    return new PCollection<T>(this.graph, node);
  }

  /** The elements of an array defined in the pipeline's module (or test), cut into `splits` tasks. */
  fromArray<T>(values: readonly T[], options?: string | { name?: string; splits?: number }): PCollection<T> {
    const { name, splits } = sourceOptions(options);
    const splitCount = splits ?? Math.max(1, Math.min(8, Math.ceil(values.length / 1000)));
    return this.read(new ArraySource(values, splitCount), name ?? "fromArray");
  }

  /** `count` records made by `generate(index)` inside the tasks, cut into `splits` tasks. */
  generate<T>(
    count: number,
    generate: (index: number) => T,
    options?: string | { name?: string; splits?: number },
  ): PCollection<T> {
    const { name, splits } = sourceOptions(options);
    return this.read(new GeneratorSource(count, generate, splits ?? 8), name ?? "generate");
  }

  /** The union of several collections. */
  flatten<T>(collections: readonly PCollection<T>[], options?: TransformOptions): PCollection<T> {
    return flatten(collections, options);
  }

  /** Sends records that sources reject to `sink`, and fails the run past `limit`. */
  rejectInto(output: RejectedOutput): void {
    this.rejectedOutput = output;
  }
}

export { Collected, PCollection };
export type { Combiner };
