import type { Combiner } from "./combiners.js";
import type { Sink, Source } from "./interfaces.js";

/** How a shuffle brings records together on the reduce side. */
export type ShuffleMode =
  /** `[key, value]` in, `[key, values[][]]` out: one array per input (groupByKey has one input). */
  | "group"
  /** `[key, value]` in, `[key, combined]` out; the combiner runs on the map side too. */
  | "combine"
  /** Any record in, the same record out, spread evenly over the partitions. */
  | "repartition"
  /** `[key, value]` in, the value out, in its key's partition: all the records of a key meet in one task. */
  | "repartitionByKey";

// biome-ignore lint/suspicious/noExplicitAny: a graph holds functions of every record type; PCollection<T> keeps them typed.
type AnyFunction = (value: any) => any;
/** A withOutputs function: a record and its emitters, one per tag. */
// biome-ignore lint/suspicious/noExplicitAny: as AnyFunction; PCollection.withOutputs keeps it typed.
type EmittingFunction = (value: any, emit: any) => void;

export type NodeSpec =
  | {
      readonly kind: "source";
      readonly source: Source<unknown>;
      /** The run fails, committing nothing, when the source lists nothing or reads no record. */
      readonly required?: boolean;
    }
  | { readonly kind: "map"; readonly fn: AnyFunction }
  | { readonly kind: "flatMap"; readonly fn: AnyFunction }
  | { readonly kind: "filter"; readonly fn: AnyFunction }
  /**
   * Calls `fn(record, emit)` with an emitter per tag; each record emitted goes to the `tagged` node
   * of its tag (inputs: this node), and to no other.
   */
  | { readonly kind: "withOutputs"; readonly fn: EmittingFunction; readonly tags: readonly string[] }
  /** The records a `withOutputs` node emits to `tag`. */
  | { readonly kind: "tagged"; readonly tag: string }
  /** Holds a task's records and passes them on sorted by `by`, once its input has ended. */
  | { readonly kind: "sort"; readonly by: AnyFunction }
  | { readonly kind: "flatten" }
  | { readonly kind: "coalesce"; readonly partitionCount: number }
  /** Inputs `[keyed, table]`: each keyed record with the table's values under its key. */
  | { readonly kind: "lookup" }
  | {
      readonly kind: "shuffle";
      readonly mode: ShuffleMode;
      readonly partitionCount: number | undefined;
      readonly combiner?: Combiner<unknown, unknown, unknown>;
    }
  | { readonly kind: "sink"; readonly sink: Sink<unknown> }
  | { readonly kind: "collect" };

export type NodeKind = NodeSpec["kind"];

/** One transform in the graph. Ids are given in creation order, so the same build gives the same ids. */
export type GraphNode = NodeSpec & {
  readonly id: number;
  readonly name: string;
  readonly inputs: readonly number[];
};

/** The transforms of one pipeline, in creation order (which is a topological order). */
export class Graph {
  readonly nodes: GraphNode[] = [];

  add(spec: NodeSpec, name: string | undefined, inputs: readonly number[]): GraphNode {
    const id = this.nodes.length;
    const node = { ...spec, id, name: name ?? `${spec.kind}#${id}`, inputs } as GraphNode;
    this.nodes.push(node);
    return node;
  }

  node(id: number): GraphNode {
    const node = this.nodes[id];
    if (!node) throw new Error(`no transform with id ${id}`);
    return node;
  }

  /** For each node, the nodes that read it, with the input slot they read it into. */
  consumers(): Map<number, { node: GraphNode; slot: number }[]> {
    const result = new Map<number, { node: GraphNode; slot: number }[]>();
    for (const node of this.nodes) {
      node.inputs.forEach((input, slot) => {
        const list = result.get(input) ?? [];
        list.push({ node, slot });
        result.set(input, list);
      });
    }
    return result;
  }
}
