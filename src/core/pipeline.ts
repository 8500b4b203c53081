import type { Combiner } from "./combiners.js";
import { checkSource } from "./endpoint-checks.js";
import { describeValue, SluiceError } from "./errors.js";
import { Graph } from "./graph.js";
import { knownOptions, positiveWhole } from "./option-checks.js";
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
       * `true`: the run fails with a message naming the source, and commits nothing, when the
       * source lists no file or reads no record (blank lines do not count; rejected records do):
       * an input that is missing or misnamed must not quietly produce empty tables. `false`: an
       * input that lists no file reads nothing. Left out: a source that names its input literally
       * (a folder or file, no wildcard) fails when it lists no file there, and one with a
       * wildcard reads nothing when it matches nothing.
       */
      readonly required?: boolean;
    };

function sourceOptions(
  options: TransformOptions | { name?: string; splits?: number } | undefined,
  what: string,
) {
  if (typeof options === "string") return { name: options, splits: undefined };
  knownOptions(options as { name?: string; splits?: number } | undefined, { name: true, splits: true }, what);
  const splits = options && "splits" in options ? options.splits : undefined;
  return { name: options?.name, splits: positiveWhole(splits, "splits") };
}

/**
 * The records `fromArray` was given, as an array: an array as it is, any other iterable (a Set,
 * a Map's entries, a generator) read once, in its order. Taken for an array, a Set read as empty
 * (it has no `length`); a string would give its characters, never what is meant, so it is refused.
 */
function arrayOf<T>(values: Iterable<T>): readonly T[] {
  if (Array.isArray(values)) return values;
  if (typeof values === "string")
    throw new SluiceError(
      `fromArray takes the records in an array (or another iterable), and it was given a string: for one record, fromArray([text]); for its lines, fromArray(text.split("\\n"))`,
    );
  if (typeof (values as { [Symbol.iterator]?: unknown } | null | undefined)?.[Symbol.iterator] !== "function")
    throw new SluiceError(
      `fromArray takes the records in an array (or another iterable), and it was given ${describeValue(values)}`,
    );
  try {
    return Array.from(values);
  } catch (error) {
    // V8's arrays end at about 2^27 elements: an iterable that had not ended by then is taken for
    // endless (a RangeError of the iterable's own, such as a stack overflow, goes on as it is).
    if (!(error instanceof RangeError && error.message === "Invalid array length")) throw error;
    throw new SluiceError(
      "fromArray reads its iterable whole when the pipeline is built, and this one had not ended when the array reached the largest length JavaScript gives it (an endless generator?): give it a finite one, or make the records in tasks with generate(count, (index) => record)",
    );
  }
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
    if (typeof options === "object") knownOptions(options, { name: true, required: true }, "read");
    checkSource(source);
    const required = typeof options === "object" ? options.required : undefined;
    const node = this.graph.add(
      {
        kind: "source",
        source: source as Source<unknown>,
        ...(typeof required === "boolean" ? { required } : {}),
      },
      typeof options === "string" ? options : (options?.name ?? `read(${source.description})`),
      [],
    );
    return new PCollection<T>(this.graph, node);
  }

  /** The elements of an array defined in the pipeline's module (or test), cut into `splits` tasks. */
  fromArray<T>(values: Iterable<T>, options?: string | { name?: string; splits?: number }): PCollection<T> {
    const { name, splits } = sourceOptions(options, "fromArray");
    const array = arrayOf(values);
    const splitCount = splits ?? Math.max(1, Math.min(8, Math.ceil(array.length / 1000)));
    return this.read(new ArraySource(array, splitCount), name ?? "fromArray");
  }

  /** `count` records made by `generate(index)` inside the tasks, cut into `splits` tasks. */
  generate<T>(
    count: number,
    generate: (index: number) => T,
    options?: string | { name?: string; splits?: number },
  ): PCollection<T> {
    const { name, splits } = sourceOptions(options, "generate");
    // -1 would make no record and 1.5 two, both without a word.
    if (!Number.isSafeInteger(count) || count < 0)
      throw new SluiceError(
        `generate's count must be a whole number of 0 or more, got ${describeValue(count)}`,
      );
    if (typeof generate !== "function")
      throw new SluiceError(
        `generate takes a function of the index, and it was given ${describeValue(generate)}`,
      );
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
