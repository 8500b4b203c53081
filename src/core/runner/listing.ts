import type { JsonValue } from "../keys.js";
import { messageOf, SluiceError } from "../errors.js";
import type { Graph } from "../graph.js";
import type { Source } from "../interfaces.js";

/** A run's input as its sources cut it, before any task runs. */
export interface ListedInput {
  /** The splits of each source, by the id of its node. */
  readonly splits: ReadonlyMap<number, JsonValue[]>;
  /** Bytes the splits cover in all, or undefined when a source cannot tell (an in-memory array). */
  readonly bytes: number | undefined;
}

/** What a source says one of its splits holds; a source of its own may say something unusable. */
function bytesOfSplit(source: Source<unknown>, split: JsonValue): number | undefined {
  if (!source.bytesOf) return undefined;
  let bytes: unknown;
  try {
    bytes = source.bytesOf(split);
  } catch (error) {
    throw new SluiceError(`${source.description}: bytesOf failed for a split: ${messageOf(error)}`);
  }
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) {
    throw new SluiceError(
      `${source.description}: bytesOf gave ${String(bytes)} for a split; it must give the bytes the split covers, a finite number of 0 or more (or the source leaves bytesOf out)`,
    );
  }
  return bytes;
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
        // sluice's own failures name their file already (a state file not as its commit left it).
        if (error instanceof SluiceError) throw error;
        throw new SluiceError(`cannot list ${source.description}: ${messageOf(error)}`);
      }
      if (listed.length === 0 && node.required) {
        throw new SluiceError(`'${node.name}' found nothing to read: no file matches ${source.description}`);
      }
      if (listed.length === 0 && node.required === undefined && source.literalInput === true) {
        throw new SluiceError(
          `'${node.name}' found no file under ${source.description}: it does not exist or holds no file. Check the path; where an empty input is expected, read it with { required: false }`,
        );
      }
      splits.set(node.id, listed);
      for (const split of listed) {
        const splitBytes = bytesOfSplit(source, split);
        bytes = bytes === undefined || splitBytes === undefined ? undefined : bytes + splitBytes;
      }
    }),
  );
  return { splits, bytes };
}
