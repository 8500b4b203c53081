/**
 * Task specs and results as they cross Redis: every block there lies in a shuffle object, and a
 * task reads or writes thousands of them (one per partition), so each is written as four numbers
 * beside a table of the objects it names, not as an object repeating the object's URI. At 10,000
 * partitions that takes a map task's result from about 1.2 MB to about 0.2 MB.
 */
import {
  type BlockRef,
  isObjectBlock,
  type ObjectBlockRef,
  SluiceError,
  type TaskInput,
  type TaskResult,
  type TaskSpec,
} from "../core/index.js";

/** A block as [index in the object table, offset, bytes, records]. */
export type PackedBlock = readonly [number, number, number, number];

export interface PackedSpec extends Omit<TaskSpec, "input" | "tables"> {
  readonly objects: readonly string[];
  readonly input:
    | Extract<TaskInput, { kind: "splits" }>
    | { readonly kind: "partitions"; readonly partitions: readonly (readonly [number, PackedBlock[]])[] };
  readonly tables: Readonly<Record<number, PackedBlock[]>>;
}

export interface PackedResult extends Omit<TaskResult, "shuffleBlocks" | "collected"> {
  readonly objects: readonly string[];
  /** [shuffle, partition, ...block]. */
  readonly shuffle: readonly (readonly [number, number, ...PackedBlock])[];
  /** [node, ...block]. */
  readonly collected: readonly (readonly [number, ...PackedBlock])[];
}

/** Numbers each object once, in the order first met. */
class ObjectTable {
  readonly names: string[] = [];
  private readonly indexes = new Map<string, number>();

  pack(block: BlockRef): PackedBlock {
    if (!isObjectBlock(block)) {
      throw new SluiceError(
        "a block held on this machine cannot cross to another: it must be in a shuffle object",
      );
    }
    let index = this.indexes.get(block.object);
    if (index === undefined) {
      index = this.names.length;
      this.names.push(block.object);
      this.indexes.set(block.object, index);
    }
    return [index, block.offset, block.byteLength, block.records];
  }
}

function unpackBlock(
  objects: readonly string[],
  [index, offset, byteLength, records]: PackedBlock,
): ObjectBlockRef {
  const object = objects[index];
  if (object === undefined)
    throw new SluiceError(`a packed block names object ${index} of ${objects.length}`);
  return { records, byteLength, object, offset };
}

export function packSpec(spec: TaskSpec): PackedSpec {
  const table = new ObjectTable();
  const input: PackedSpec["input"] =
    spec.input.kind === "splits"
      ? spec.input
      : {
          kind: "partitions",
          partitions: spec.input.partitions.map(
            ({ partition, blocks }) => [partition, blocks.map((block) => table.pack(block))] as const,
          ),
        };
  const tables: Record<number, PackedBlock[]> = {};
  for (const [node, blocks] of Object.entries(spec.tables ?? {})) {
    tables[Number(node)] = blocks.map((block) => table.pack(block));
  }
  return { ...spec, input, tables, objects: table.names };
}

export function unpackSpec(packed: PackedSpec): TaskSpec {
  const { objects, input, tables, ...rest } = packed;
  const unpack = (block: PackedBlock) => unpackBlock(objects, block);
  return {
    ...rest,
    input:
      input.kind === "splits"
        ? input
        : {
            kind: "partitions",
            partitions: input.partitions.map(([partition, blocks]) => ({
              partition,
              blocks: blocks.map(unpack),
            })),
          },
    tables: Object.fromEntries(Object.entries(tables).map(([node, blocks]) => [node, blocks.map(unpack)])),
  };
}

export function packResult(result: TaskResult): PackedResult {
  const table = new ObjectTable();
  const { shuffleBlocks, collected, ...rest } = result;
  return {
    ...rest,
    shuffle: shuffleBlocks.map(
      (entry) => [entry.shuffleId, entry.partition, ...table.pack(entry.block)] as const,
    ),
    collected: collected.map((entry) => [entry.nodeId, ...table.pack(entry.block)] as const),
    objects: table.names,
  };
}

export function unpackResult(packed: PackedResult): TaskResult {
  const { objects, shuffle, collected, ...rest } = packed;
  return {
    ...rest,
    shuffleBlocks: shuffle.map(([shuffleId, partition, ...block]) => ({
      shuffleId,
      partition,
      block: unpackBlock(objects, block),
    })),
    collected: collected.map(([nodeId, ...block]) => ({ nodeId, block: unpackBlock(objects, block) })),
  };
}
