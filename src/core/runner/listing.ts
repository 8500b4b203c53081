import type { JsonValue } from "../keys.js";
import { messageOf, SluiceError } from "../errors.js";
import type { Graph } from "../graph.js";

/** A run's input as its sources cut it, before any task runs. */
export interface ListedInput {
  /** The splits of each source, by the id of its node. */
  readonly splits: ReadonlyMap<number, JsonValue[]>;
  /** Bytes the splits cover in all, or undefined when a source cannot tell (an in-memory array). */
  readonly bytes: number | undefined;
}

/**
 * Lists every source of a graph once, on the main thread, before the run is planned: the bytes
 * found size the run's shuffles (definition.ts), and the job reads the same splits.
 */
export async function listInput(graph: Graph, parallelism: number): Promise<ListedInput> {
  const splits = new Map<number, JsonValue[]>();
  let bytes: number | undefined = 0;
  await Promise.all(
    graph.nodes.map(async (node) => {
      if (node.kind !== "source") return;
      const source = node.source;
      let listed: JsonValue[];
      try {
        listed = await source.splits({ parallelism });
      } catch (error) {
        throw new SluiceError(`cannot list ${source.description}: ${messageOf(error)}`);
      }
      if (listed.length === 0 && node.required) {
        throw new SluiceError(`'${node.name}' found nothing to read: no file matches ${source.description}`);
      }
      splits.set(node.id, listed);
      for (const split of listed) {
        const splitBytes = source.bytesOf?.(split);
        bytes = bytes === undefined || splitBytes === undefined ? undefined : bytes + splitBytes;
      }
    }),
  );
  return { splits, bytes };
}
