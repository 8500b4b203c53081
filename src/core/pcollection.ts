import {
  type Combiner,
  type Widened,
  combinerFrom,
  count as countCombiner,
  largest,
  minBy,
  type RankBy,
  rankOf,
} from "./combiners.js";
import { checkSink, checkWrittenOnce } from "./endpoint-checks.js";
import { describeValue, SluiceError } from "./errors.js";
import { keyValuePair } from "./keys.js";
import { knownOptions, oneOf, positiveWhole } from "./option-checks.js";
import type { Graph, GraphNode } from "./graph.js";
import type { Sink } from "./interfaces.js";
import { inheritMode, noteMode } from "./sloppy-mode.js";
import { ArraySource } from "./sources.js";
import {
  checkedTimestamp,
  isWindowFn,
  mergeSessions,
  type Window,
  type WindowFn,
  windowsOf,
} from "./windows.js";

/** A transform's name, or options with a name and, for shuffles, a partition count. */
export type TransformOptions =
  | string
  | { readonly name?: string | undefined; readonly partitions?: number | undefined };

function nameOf(options: TransformOptions | undefined): string | undefined {
  if (typeof options === "string") return options;
  knownOptions(options, { name: true, partitions: true }, "a transform's options");
  return options?.name;
}

function partitionsOf(options: TransformOptions | undefined): number | undefined {
  if (typeof options !== "object") return undefined;
  return positiveWhole(options.partitions, "partitions");
}

/**
 * A user function a transform calls once per record, checked when the transform is built: an
 * async function's results are Promises, which a filter would take for true (every record kept)
 * and which cannot cross threads, so it is refused before anything runs.
 */
function recordFunction<F>(fn: F, transform: string): F {
  if (typeof fn !== "function")
    throw new SluiceError(`${transform} takes a function, and it was given ${describeValue(fn)}`);
  const kind = fn.constructor?.name;
  if (kind === "AsyncFunction" || kind === "AsyncGeneratorFunction")
    throw new SluiceError(
      `${transform} was given an async function: transforms call their function once per record and take its result as it is returned, so a Promise would be kept as a record or taken for true; do the asynchronous work in a source, or before the pipeline`,
    );
  noteMode(fn);
  return fn;
}

/** A handle on a collection whose records `run()` brings back to the caller. */
export class Collected<T> {
  declare readonly __type: T;
  constructor(
    readonly nodeId: number,
    /** The pipeline's graph: a handle is only good for a run of the pipeline it was made on. */
    readonly graph: Graph,
  ) {}
}

/**
 * The graph that collections combined by one transform share. Ids are per pipeline, so a
 * collection of another pipeline would be wired to whatever transform has its id there: a join
 * with itself, a flatten of the same collection twice, and no error.
 */
function sharedGraph(collections: readonly unknown[], transform: string): Graph {
  let graph: Graph | undefined;
  for (const [index, collection] of collections.entries()) {
    if (!(collection instanceof PCollection))
      throw new SluiceError(`${transform} takes collections, and the one at ${index} is not one`);
    graph ??= collection.graph;
    if (collection.graph !== graph)
      throw new SluiceError(
        `${transform}: the collection at ${index} belongs to another pipeline than the first; build every collection of a run on one Pipeline`,
      );
  }
  if (!graph) throw new RangeError(`${transform} needs at least one collection`);
  return graph;
}

/**
 * Join kinds: inner keeps keys on both sides; left keeps every left record, right every right
 * record; full keeps every record.
 */
export type JoinType = "inner" | "left" | "right" | "full";
const JOIN_TYPES: readonly JoinType[] = ["inner", "left", "right", "full"];
/** Spark's names for the outer joins, which its users will type. */
const SPARK_JOIN_TYPES: ReadonlyMap<string, JoinType> = new Map([
  ["outer", "full"],
  ["full_outer", "full"],
  ["fullouter", "full"],
  ["left_outer", "left"],
  ["leftouter", "left"],
  ["right_outer", "right"],
  ["rightouter", "right"],
]);

/** The joined value for each join type: the side that may have no match is the one that may be null. */
export type Joined<V, W, J extends JoinType> = J extends "inner"
  ? [V, W]
  : J extends "left"
    ? [V, W | null]
    : J extends "right"
      ? [V | null, W]
      : [V | null, W | null];

type ValuesOf<Collections extends readonly PCollection<readonly [unknown, unknown]>[]> = {
  [Index in keyof Collections]: Collections[Index] extends PCollection<readonly [unknown, infer V]>
    ? V[]
    : never;
};

/**
 * A deferred, typed collection of records. Nothing runs until the pipeline does: each method adds a
 * transform to the graph and returns the collection it produces.
 *
 * @example
 * const counts = p.fromArray(["a", "b", "a"]).map((word) => [word, 1] as const).combinePerKey(sum());
 */
export class PCollection<T> {
  constructor(
    readonly graph: Graph,
    readonly node: GraphNode,
  ) {}

  /** The name of the transform that produced this collection. */
  get name(): string {
    return this.node.name;
  }

  private derive<U>(node: GraphNode): PCollection<U> {
    return new PCollection<U>(this.graph, node);
  }

  /** One output record per input record. */
  map<U>(fn: (value: T) => U, options?: TransformOptions): PCollection<U> {
    recordFunction(fn, "map");
    return this.derive(this.graph.add({ kind: "map", fn }, nameOf(options), [this.node.id]));
  }

  /** Zero or more output records per input record. */
  flatMap<U>(fn: (value: T) => Iterable<U>, options?: TransformOptions): PCollection<U> {
    recordFunction(fn, "flatMap");
    return this.derive(this.graph.add({ kind: "flatMap", fn }, nameOf(options), [this.node.id]));
  }

  /** The records for which `predicate` is true. */
  filter<S extends T>(predicate: (value: T) => value is S, options?: TransformOptions): PCollection<S>;
  filter(predicate: (value: T) => boolean, options?: TransformOptions): PCollection<T>;
  filter(predicate: (value: T) => boolean, options?: TransformOptions): PCollection<T> {
    recordFunction(predicate, "filter");
    return this.derive(this.graph.add({ kind: "filter", fn: predicate }, nameOf(options), [this.node.id]));
  }

  /** Pairs each record with a key: `[key, record]`. */
  keyBy<K>(keyOf: (value: T) => K, options?: TransformOptions): PCollection<[K, T]> {
    recordFunction(keyOf, "keyBy");
    const keyed = (value: T) => [keyOf(value), value] as [K, T];
    inheritMode(keyed, keyOf);
    return this.map(keyed, nameOf(options) ?? "keyBy");
  }

  /** Applies `fn` to the value of each `[key, value]` record, keeping its key (Spark's `mapValues`). */
  mapValues<K, V, U>(
    this: PCollection<readonly [K, V]>,
    fn: (value: V) => U,
    options?: TransformOptions,
  ): PCollection<[K, U]> {
    recordFunction(fn, "mapValues");
    const name = nameOf(options) ?? "mapValues";
    const mapped = (record: readonly [K, V]) => {
      const [key, value] = keyValuePair(record, () => `the records going into '${name}'`) as [K, V];
      return [key, fn(value)] as [K, U];
    };
    inheritMode(mapped, fn);
    return this.map(mapped, name);
  }

  /** The key of each `[key, value]` record (Beam's `Keys`); a key that comes twice comes out twice. */
  keys<K, V>(this: PCollection<readonly [K, V]>, options?: TransformOptions): PCollection<K> {
    const name = nameOf(options) ?? "keys";
    return this.map((record) => keyValuePair(record, () => `the records going into '${name}'`)[0] as K, name);
  }

  /** The value of each `[key, value]` record (Beam's `Values`). */
  values<K, V>(this: PCollection<readonly [K, V]>, options?: TransformOptions): PCollection<V> {
    const name = nameOf(options) ?? "values";
    return this.map((record) => keyValuePair(record, () => `the records going into '${name}'`)[1] as V, name);
  }

  /** Applies a composite transform: any function from collection to collection (or anything else). */
  apply<R>(transform: (collection: PCollection<T>) => R): R {
    return transform(this);
  }

  /** All values of each key together: `[key, values[]]`. Order of keys and values is unspecified. */
  groupByKey<K, V>(this: PCollection<readonly [K, V]>, options?: TransformOptions): PCollection<[K, V[]]> {
    const grouped = this.derive<[K, [V[]]]>(
      this.graph.add(
        { kind: "shuffle", mode: "group", partitionCount: partitionsOf(options) },
        nameOf(options) ?? "groupByKey",
        [this.node.id],
      ),
    );
    return grouped.map(([key, [values]]) => [key, values] as [K, V[]], `${grouped.name}/unwrap`);
  }

  /**
   * Folds the values of each key with a combiner (`sum()`, `maxBy("ts")`, one of your own), or
   * with a function that folds two values into one (`(a, b) => a + b`, as Spark's `reduceByKey`),
   * on the map side first (before the shuffle).
   */
  combinePerKey<K, V, A, O>(
    this: PCollection<readonly [K, V]>,
    combiner: Combiner<V, A, O>,
    options?: TransformOptions,
  ): PCollection<[K, O]>;
  combinePerKey<K, V>(
    this: PCollection<readonly [K, V]>,
    fold: (left: Widened<V>, right: Widened<V>) => Widened<V>,
    options?: TransformOptions,
  ): PCollection<[K, Widened<V>]>;
  combinePerKey<K, V, O>(
    this: PCollection<readonly [K, V]>,
    given: unknown,
    options?: TransformOptions,
  ): PCollection<[K, O]> {
    const combiner = combinerFrom(given, "combinePerKey");
    return this.derive(
      this.graph.add(
        { kind: "shuffle", mode: "combine", partitionCount: partitionsOf(options), combiner },
        nameOf(options) ?? `combinePerKey(${combiner.name})`,
        [this.node.id],
      ),
    );
  }

  /**
   * One value for the whole collection (Beam's `Combine.globally`): each task folds its records
   * first, then one task merges the partial results. An empty collection gives the combiner's
   * value for no input (`extract(create())`: 0 for `sum`, null for `max`), as in Beam.
   */
  combineGlobally<A, O>(
    combiner: Combiner<T, A, O>,
    options?: string | { readonly name?: string },
  ): PCollection<O>;
  combineGlobally(
    fold: (left: Widened<T>, right: Widened<T>) => Widened<T>,
    options?: string | { readonly name?: string },
  ): PCollection<Widened<T> | null>;
  combineGlobally<A, O>(given: unknown, options?: string | { readonly name?: string }): PCollection<O> {
    const combiner = combinerFrom(given, "combineGlobally") as Combiner<T, A, O>;
    const name = nameOf(options) ?? `combineGlobally(${combiner.name})`;
    // Every record under one key, boxed so that a null record stays a record; a one-record seed
    // (null) makes the key exist when the collection is empty.
    const boxed = this.map((value) => [0, [value]] as [number, [T] | null], `${name}/key`);
    const seed = new PCollection<[number, [T] | null]>(
      this.graph,
      this.graph.add({ kind: "source", source: new ArraySource([[0, null]], 1) }, `${name}/seed`, []),
    );
    const wrappers: Combiner<[T] | null, A, O> = {
      name: combiner.name,
      create: () => combiner.create(),
      add: (accumulator, value) => (value === null ? accumulator : combiner.add(accumulator, value[0])),
      merge: (left, right) => combiner.merge(left, right),
      extract: (accumulator) => combiner.extract(accumulator),
    };
    // Made from the given combiner, so that what reads a combine's functions (module-state.ts)
    // finds its methods along the prototype chain, a class's too, and not the wrappers alone.
    const unboxed = Object.assign(Object.create(combiner) as object, wrappers);
    return flatten([boxed, seed], `${name}/seeded`)
      .combinePerKey(unboxed, { name, partitions: 1 })
      .map(([, output]) => output, `${name}/unkey`);
  }

  /**
   * The `n` records of largest rank, largest first, as one record (Beam's `Top.of`): ranked by
   * the records themselves, or by a field or function as for `maxBy`; ties fall back to the
   * records' own order, so the answer never depends on threads or partitions.
   */
  top(n: number, by?: RankBy<T>, options?: string | { readonly name?: string }): PCollection<T[]> {
    positiveWhole(n, "top's n");
    return this.combineGlobally(largest<T>(n, by), nameOf(options) ?? `top(${n})`);
  }

  /** The `n` values of largest rank per key, largest first: `[key, values]`. */
  topPerKey<K, V>(
    this: PCollection<readonly [K, V]>,
    n: number,
    by?: RankBy<V>,
    options?: TransformOptions,
  ): PCollection<[K, V[]]> {
    positiveWhole(n, "topPerKey's n");
    return this.combinePerKey(
      largest<V>(n, by),
      typeof options === "object" ? options : { name: options ?? `topPerKey(${n})` },
    );
  }

  /**
   * Places each record of a keyed collection in event-time windows (Beam's `Window.into`):
   * `fixed(size)`, `sliding(size, period)` or `sessions(gap)`, by the timestamp `timestampOf` reads
   * from the value (whole milliseconds). The `groupByKey` and `combinePerKey` that follow group per
   * key and window, and each result carries its window: `[key, window, ...]`.
   */
  windowInto<K, V>(
    this: PCollection<readonly [K, V]>,
    windowFn: WindowFn,
    timestampOf: (value: V) => number,
    options?: string | { readonly name?: string },
  ): Windowed<K, V> {
    if (!isWindowFn(windowFn))
      throw new SluiceError(
        `windowInto takes a window function, fixed(size), sliding(size, period) or sessions(gap), and it was given ${describeValue(windowFn)}`,
      );
    recordFunction(timestampOf, "windowInto");
    return new Windowed(this, windowFn, timestampOf, nameOf(options) ?? `windowInto(${windowFn.kind})`);
  }

  /**
   * One pass that sends records to several named collections (Beam's `ParDo` with tagged
   * outputs): `fn` gets each record and an emitter per tag, and may emit any number of records to
   * any of them. The outputs are fused into this collection's stage; `fn` runs once per record.
   *
   * @example
   * const { long, short } = plays.withOutputs<{ long: Play; short: string }>(["long", "short"],
   *   (play, out) => (play.ms > 300_000 ? out.long(play) : out.short(play.song)));
   */
  withOutputs<Outputs extends Record<string, unknown>>(
    tags: readonly (keyof Outputs & string)[],
    fn: (value: T, emit: { readonly [Tag in keyof Outputs]: (output: Outputs[Tag]) => void }) => void,
    options?: string | { readonly name?: string },
  ): { [Tag in keyof Outputs]: PCollection<Outputs[Tag]> } {
    if (!Array.isArray(tags as unknown) || tags.some((tag) => typeof tag !== "string"))
      throw new SluiceError(
        `withOutputs takes its tags as an array of names (["long", "short"]), and was given ${describeValue(tags)}`,
      );
    const name = nameOf(options) ?? `withOutputs(${tags.join(", ")})`;
    recordFunction(fn, "withOutputs");
    if (new Set(tags).size !== tags.length || tags.length === 0)
      throw new RangeError(`${name}: tags must be distinct and at least one, got [${tags.join(", ")}]`);
    // One node that calls fn, and one per tag that its records of that tag go to: each record
    // goes straight to its tag's consumers (operators/with-outputs.ts), not past every tag's.
    const split = this.graph.add({ kind: "withOutputs", fn, tags: [...tags] }, name, [this.node.id]);
    const outputs = {} as { [Tag in keyof Outputs]: PCollection<Outputs[Tag]> };
    for (const tag of tags) {
      outputs[tag] = this.derive(this.graph.add({ kind: "tagged", tag }, `${name}/${tag}`, [split.id]));
    }
    return outputs;
  }

  /**
   * Each task's records in order of `by` (a field or function, as for `maxBy`; ties by the whole
   * record), so that whatever a task writes next (each file of a sink) is sorted: Spark's
   * `sortWithinPartitions`. No shuffle; the task holds its records until its input ends.
   */
  sortWithinPartitions(by: RankBy<T>, options?: string | { readonly name?: string }): PCollection<T> {
    return this.derive(
      this.graph.add({ kind: "sort", by: rankOf(by) }, nameOf(options) ?? "sortWithinPartitions", [
        this.node.id,
      ]),
    );
  }

  /** Number of records per key. */
  countPerKey<K>(
    this: PCollection<readonly [K, unknown]>,
    options?: TransformOptions,
  ): PCollection<[K, number]> {
    return this.combinePerKey(countCombiner(), options);
  }

  /** Groups this keyed collection with others by key: `[key, [mine[], theirs[], ...]]`. */
  coGroupByKey<K, V, Others extends readonly PCollection<readonly [K, unknown]>[]>(
    this: PCollection<readonly [K, V]>,
    others: Others,
    options?: TransformOptions,
  ): PCollection<[K, [V[], ...ValuesOf<Others>]]> {
    return coGroupByKey([this, ...others], options) as PCollection<[K, [V[], ...ValuesOf<Others>]]>;
  }

  /**
   * Joins two keyed collections on their keys. Every matching pair of values gives one record
   * `[key, [left, right]]`; outer joins (left, right, full) fill the missing side with null.
   */
  join<K, V, W, J extends JoinType = "inner">(
    this: PCollection<readonly [K, V]>,
    other: PCollection<readonly [K, W]>,
    options?: {
      readonly type?: J | undefined;
      readonly name?: string | undefined;
      readonly partitions?: number | undefined;
    },
  ): PCollection<[K, Joined<V, W, J>]> {
    sharedGraph([this, other], "join");
    // A misspelt type or option would otherwise be an inner join, with no word of it.
    knownOptions(options, { type: true, name: true, partitions: true }, "join");
    const type: JoinType = oneOf(options?.type, JOIN_TYPES, "join's type", SPARK_JOIN_TYPES) ?? "inner";
    const name = options?.name ?? `join(${type})`;
    const grouped = coGroupByKey([this, other], {
      name: `${name}/coGroup`,
      partitions: options?.partitions,
    }) as unknown as PCollection<[K, [V[], W[]]]>;
    const keepsRights = type === "right" || type === "full";
    const keepsLefts = type === "left" || type === "full";
    return grouped.flatMap(function* ([key, [lefts, rights]]) {
      const leftValues: (V | null)[] = lefts.length > 0 || !keepsRights ? lefts : [null];
      const rightValues: (W | null)[] = rights.length > 0 || !keepsLefts ? rights : [null];
      for (const left of leftValues) {
        for (const right of rightValues) yield [key, [left, right]] as [K, Joined<V, W, J>];
      }
    }, name);
  }

  /**
   * Looks each record's key up in `table`, a small keyed collection that every task of this
   * collection's stage receives whole: a broadcast hash join (Spark's broadcast join, Beam's side
   * input), so this collection is not shuffled. Gives `[key, value, matches]`, with the table's
   * values under that key (empty when there are none) in no particular order.
   *
   * The table is computed first, in full, and held by every worker: keep it to what fits in
   * memory many times over (a dimension, not a fact table). It must not depend on this collection.
   */
  lookup<K, V, W>(
    this: PCollection<readonly [K, V]>,
    table: PCollection<readonly [K, W]>,
    options?: string | { readonly name?: string },
  ): PCollection<[K, V, W[]]> {
    sharedGraph([this, table], "lookup");
    return this.derive(
      this.graph.add({ kind: "lookup" }, nameOf(options) ?? "lookup", [this.node.id, table.node.id]),
    );
  }

  /** Each distinct record once. */
  distinct(options?: TransformOptions): PCollection<T> {
    const name = nameOf(options) ?? "distinct";
    return this.map((value) => [value, null] as [T, null], `${name}/key`)
      .combinePerKey(countCombiner<null>(), { name, partitions: partitionsOf(options) })
      .map(([value]) => value, `${name}/unkey`);
  }

  /**
   * One record per key of `keyOf`. Where several records share a key, the smallest in sluice's
   * total order over values is kept, so the choice never depends on thread or partition count.
   */
  distinctBy<K>(keyOf: (value: T) => K, options?: TransformOptions): PCollection<T> {
    const name = nameOf(options) ?? "distinctBy";
    return this.keyBy(keyOf, `${name}/key`)
      .combinePerKey(
        minBy<T>((value) => value),
        { name, partitions: partitionsOf(options) },
      )
      .map(([, value]) => value, `${name}/unkey`);
  }

  /** Spreads records evenly over `partitionCount` partitions (a shuffle): the next stage has that many tasks. */
  repartition(partitionCount: number, options?: TransformOptions): PCollection<T> {
    positiveWhole(partitionCount, "repartition's partition count");
    return this.derive(
      this.graph.add(
        { kind: "shuffle", mode: "repartition", partitionCount },
        nameOf(options) ?? `repartition(${partitionCount})`,
        [this.node.id],
      ),
    );
  }

  /**
   * Moves the records that share a key of `keyOf` into one partition (a shuffle), as Spark's
   * `repartition(col)`: the next stage's tasks each hold whole keys. Before a table partitioned by
   * its columns, keyed by those columns, it makes one file per partition folder instead of one per
   * task that met the folder's rows. `partitions` sets the next stage's task count.
   */
  repartitionBy<K>(keyOf: (value: T) => K, options?: TransformOptions): PCollection<T> {
    recordFunction(keyOf, "repartitionBy");
    const name = nameOf(options) ?? "repartitionBy";
    const keyed = this.keyBy(keyOf, `${name}/key`);
    return this.derive(
      this.graph.add(
        { kind: "shuffle", mode: "repartitionByKey", partitionCount: partitionsOf(options) },
        name,
        [keyed.node.id],
      ),
    );
  }

  /**
   * Runs the stage that produces this collection in at most `partitionCount` tasks, without a
   * shuffle (neighbouring splits or partitions are read by one task).
   */
  coalesce(partitionCount: number, options?: TransformOptions): PCollection<T> {
    positiveWhole(partitionCount, "coalesce's partition count");
    return this.derive(
      this.graph.add({ kind: "coalesce", partitionCount }, nameOf(options) ?? `coalesce(${partitionCount})`, [
        this.node.id,
      ]),
    );
  }

  /** Writes the records to a sink (sorted within each task first when the sink asks: `sortBy`). */
  write(sink: Sink<T>, options?: TransformOptions): void {
    checkSink(sink);
    checkWrittenOnce(this.graph, sink as Sink<unknown>);
    const name = nameOf(options) ?? `write(${sink.name})`;
    const sortBy = sink.sortBy;
    const input = sortBy
      ? this.sortWithinPartitions((record) => sortBy.call(sink, record), `${name}/sort`)
      : this;
    this.graph.add({ kind: "sink", sink: sink as Sink<unknown> }, name, [input.node.id]);
  }

  /** Brings the records back to the caller of `run()`: for small results. */
  collect(options?: TransformOptions): Collected<T> {
    const node = this.graph.add({ kind: "collect" }, nameOf(options) ?? `collect(${this.name})`, [
      this.node.id,
    ]);
    return new Collected<T>(node.id, this.graph);
  }
}

/**
 * A keyed collection placed in windows (`windowInto`): grouping and combining are per key and
 * window. Fixed and sliding windows are known from each record alone, so a combine is lifted to the
 * map side as usual; sessions merge across a key's records, so they are formed once a key's
 * records are together, after the shuffle (every record of a key is in one partition, which is
 * what makes the merge right whatever the partitioning).
 */
export class Windowed<K, V> {
  constructor(
    private readonly collection: PCollection<readonly [K, V]>,
    private readonly windowFn: WindowFn,
    private readonly timestampOf: (value: V) => number,
    private readonly name: string,
  ) {}

  /** Every value of each key and window: `[key, window, values]` (values in no particular order). */
  groupByKey(options?: TransformOptions): PCollection<[K, Window, V[]]> {
    const name = nameOf(options) ?? `${this.name}/groupByKey`;
    const { windowFn, timestampOf } = this;
    if (windowFn.kind === "sessions") {
      return this.collection
        .groupByKey({ name, partitions: partitionsOf(options) })
        .flatMap(
          ([key, values]) =>
            mergeSessions(values, (value) => checkedTimestamp(timestampOf(value)), windowFn.gap).map(
              (session) => [key, session.window, session.records] as [K, Window, V[]],
            ),
          `${name}/sessions`,
        );
    }
    return this.assigned(name)
      .groupByKey({ name, partitions: partitionsOf(options) })
      .map(
        ([[key, start, end], values]) => [key, { start, end }, values] as [K, Window, V[]],
        `${name}/unkey`,
      );
  }

  /** Each key and window's values folded by a combiner, or a function of two values: `[key, window, result]`. */
  combinePerKey<A, O>(combiner: Combiner<V, A, O>, options?: TransformOptions): PCollection<[K, Window, O]>;
  combinePerKey(
    fold: (left: Widened<V>, right: Widened<V>) => Widened<V>,
    options?: TransformOptions,
  ): PCollection<[K, Window, Widened<V>]>;
  combinePerKey<A, O>(given: unknown, options?: TransformOptions): PCollection<[K, Window, O]> {
    const combiner = combinerFrom(given, "combinePerKey") as Combiner<V, A, O>;
    const name = nameOf(options) ?? `${this.name}/combinePerKey(${combiner.name})`;
    if (this.windowFn.kind === "sessions") {
      return this.groupByKey({ name: `${name}/group`, partitions: partitionsOf(options) }).map(
        ([key, window, values]) =>
          [key, window, combiner.extract(values.reduce(combiner.add, combiner.create()))] as [K, Window, O],
        name,
      );
    }
    return this.assigned(name)
      .combinePerKey(combiner, { name, partitions: partitionsOf(options) })
      .map(([[key, start, end], output]) => [key, { start, end }, output] as [K, Window, O], `${name}/unkey`);
  }

  /** Each record once per window it lies in, keyed by key and window. */
  private assigned(name: string): PCollection<[[K, number, number], V]> {
    const { windowFn, timestampOf } = this;
    return this.collection.flatMap((record) => {
      if (!Array.isArray(record) || record.length !== 2)
        throw new SluiceError(
          `windowInto takes [key, value] pairs, and a record is ${describeValue(record)}: key the records first (keyBy)`,
        );
      const [key, value] = record;
      return windowsOf(checkedTimestamp(timestampOf(value)), windowFn).map(
        (window) => [[key, window.start, window.end], value] as [[K, number, number], V],
      );
    }, `${name}/assign windows`);
  }
}

/**
 * A windowed collection groups or combines and does nothing else; the other methods of a
 * collection, called on it from JavaScript (TypeScript refuses them when it compiles), say what to
 * do rather than "windowed.map is not a function".
 */
for (const method of Object.getOwnPropertyNames(PCollection.prototype)) {
  if (method === "constructor" || method in Windowed.prototype) continue;
  Object.defineProperty(Windowed.prototype, method, {
    get(): never {
      throw new SluiceError(
        method === "windowInto"
          ? "windowInto cannot follow windowInto: a collection is placed in windows once, then grouped or combined (groupByKey, combinePerKey)"
          : `${method} cannot follow windowInto: a windowed collection is grouped or combined next (groupByKey, combinePerKey), and each result carries its window; call ${method} before windowInto, or on the grouped results`,
      );
    },
    configurable: true,
  });
}

/** The union of several collections of the same type. */
export function flatten<T>(
  collections: readonly PCollection<T>[],
  options?: TransformOptions,
): PCollection<T> {
  const graph = sharedGraph(collections, "flatten");
  const node = graph.add(
    { kind: "flatten" },
    nameOf(options) ?? "flatten",
    collections.map((collection) => collection.node.id),
  );
  return new PCollection<T>(graph, node);
}

/** Groups several keyed collections by key: `[key, [values of the first[], of the second[], ...]]`. */
export function coGroupByKey<K, Collections extends readonly PCollection<readonly [K, unknown]>[]>(
  collections: Collections,
  options?: TransformOptions,
): PCollection<[K, ValuesOf<Collections>]> {
  const graph = sharedGraph(collections, "coGroupByKey");
  const node = graph.add(
    { kind: "shuffle", mode: "group", partitionCount: partitionsOf(options) },
    nameOf(options) ?? "coGroupByKey",
    collections.map((collection) => collection.node.id),
  );
  return new PCollection<[K, ValuesOf<Collections>]>(graph, node);
}
