import { type BlockRef, encodeCrossing } from "./blocks.js";
import { messageOf, TransformError } from "./errors.js";
import type { GraphNode } from "./graph.js";
import type { JsonValue } from "./keys.js";
import { canonicalJson, compareValues } from "./keys.js";
import type { RejectedRecord, Sink, SinkWriter, SourceBatch, TaskContext } from "./interfaces.js";
import { type LookupTable, lookupTable } from "./lookup-tables.js";
import { emptyCounters, type TaskMetrics } from "./metrics.js";
import type { Plan, StagePlan } from "./plan.js";
import { readShufflePartition, type ShuffleBlock, ShuffleWriter } from "./shuffle.js";

/** What one task reads: source splits, or shuffle partitions with their blocks. */
export type TaskInput =
  | { readonly kind: "splits"; readonly splits: readonly JsonValue[] }
  | {
      readonly kind: "partitions";
      readonly partitions: readonly { partition: number; blocks: BlockRef[] }[];
    };

export interface TaskSpec {
  readonly runId: string;
  readonly stageId: number;
  readonly taskIndex: number;
  readonly input: TaskInput;
  readonly batchSize: number;
  /** Bytes of shuffle blocks a task may hold before it spills them. */
  readonly memoryBudget: number;
  readonly spillDirectory: string;
  /** For each lookup in the stage, by node id, the blocks of its table. */
  readonly tables?: Readonly<Record<number, BlockRef[]>>;
}

export interface TaskResult {
  readonly shuffleBlocks: ShuffleBlock[];
  /** Records of `collect` outputs, and of lookup tables (by the lookup's node id). */
  readonly collected: { nodeId: number; block: BlockRef }[];
  readonly sinkMessages: { sink: string; message: JsonValue }[];
  readonly metrics: TaskMetrics;
}

/** How rejected records leave a task: the pipeline's rejected-records sink, if it has one. */
export interface RejectRouting {
  readonly sink: Sink<RejectedRecord> | undefined;
}

type Receiver = (value: unknown) => void;

const MAX_REJECTED_SAMPLES = 5;

/** Runs one task: reads its input, pushes each record through the fused transforms, writes outputs. */
export async function executeTask(plan: Plan, spec: TaskSpec, rejects: RejectRouting): Promise<TaskResult> {
  const stage = plan.stages[spec.stageId];
  if (!stage) throw new Error(`no stage ${spec.stageId} in the plan`);
  const metrics: TaskMetrics = {
    ...emptyCounters(),
    rejectedSamples: [],
    transformRecords: {},
  };
  const taskContext: TaskContext = {
    runId: spec.runId,
    stageId: spec.stageId,
    taskId: `s${spec.stageId}t${String(spec.taskIndex).padStart(5, "0")}`,
  };
  let origin = (): string => `stage ${stage.id} task ${spec.taskIndex}`;

  const shuffleWriters = new Map<number, ShuffleWriter>();
  for (const write of stage.shuffleWrites) {
    if (shuffleWriters.has(write.shuffleId)) continue;
    const shuffle = plan.shuffles.get(write.shuffleId)!;
    shuffleWriters.set(
      write.shuffleId,
      new ShuffleWriter(shuffle, {
        batchSize: spec.batchSize,
        memoryBudget: spec.memoryBudget,
        spillDirectory: spec.spillDirectory,
        taskId: taskContext.taskId,
        taskIndex: spec.taskIndex,
      }),
    );
  }
  const sinkOutputs = new Map<number, SinkOutput>();
  const collectBuffers = new Map<number, unknown[]>();
  const rejectedOutput = rejects.sink ? new SinkOutput(rejects.sink, taskContext) : undefined;

  const tables = new Map<number, LookupTable>();
  for (const node of stage.nodes) {
    if (node.kind === "lookup")
      tables.set(node.id, await lookupTable(spec.runId, node.id, spec.tables?.[node.id] ?? []));
  }
  const finishers = new Map<number, () => void>();
  const receivers = buildReceivers(stage, {
    finishers,
    origin: () => origin(),
    metrics,
    shuffleWriters,
    sinkOutputs,
    collectBuffers,
    tables,
    taskContext,
  });
  const rootReceiver = receivers.get(stage.root.id)!;

  // Sinks and spills are asynchronous; pushes are not. Between batches the task awaits them, which
  // is the back-pressure that keeps a fast source from filling memory.
  const drain = async (force: boolean): Promise<void> => {
    for (const output of sinkOutputs.values()) await output.flush(force ? 0 : spec.batchSize);
    if (rejectedOutput) await rejectedOutput.flush(force ? 0 : spec.batchSize);
    for (const writer of shuffleWriters.values()) if (writer.overBudget) await writer.spill();
  };

  try {
    if (spec.input.kind === "splits") {
      if (stage.root.kind !== "source") throw new Error(`stage ${stage.id} does not read a source`);
      const source = stage.root.source;
      const rootName = stage.root.name;
      const readContext = {
        batchSize: spec.batchSize,
        reject(record: RejectedRecord) {
          metrics.rejected++;
          if (metrics.rejectedSamples.length < MAX_REJECTED_SAMPLES) {
            const where =
              record.line !== undefined
                ? ` line ${record.line}`
                : record.offset !== undefined
                  ? ` byte ${record.offset}`
                  : "";
            metrics.rejectedSamples.push(`${record.source}${where}: ${record.reason}`);
          }
          rejectedOutput?.push(record);
        },
        addBytesRead(bytes: number) {
          metrics.bytesRead += bytes;
        },
        addRecordsSeen(count: number) {
          metrics.recordsSeen += count;
        },
      };
      for (const split of spec.input.splits) {
        const splitName = source.describeSplit?.(split) ?? `${rootName} split ${canonicalJson(split)}`;
        let batch: SourceBatch<unknown> | undefined;
        let index = 0;
        origin = () => batch?.origin?.(index) ?? `${splitName} record ${index + 1}`;
        for await (batch of source.read(split, readContext)) {
          const records = batch.records;
          metrics.recordsIn += records.length;
          for (index = 0; index < records.length; index++) rootReceiver(records[index]);
          await drain(false);
        }
      }
    } else {
      const shuffle = plan.shuffles.get(stage.root.id);
      if (!shuffle) throw new Error(`stage ${stage.id} does not read a shuffle`);
      for (const { partition, blocks } of spec.input.partitions) {
        let current: unknown;
        origin = () =>
          `key ${canonicalJson((current as [unknown])[0]).slice(0, 200)} of '${shuffle.name}' partition ${partition}`;
        for await (const records of readShufflePartition(shuffle, blocks)) {
          metrics.recordsIn += records.length;
          for (current of records) rootReceiver(current);
          await drain(false);
        }
      }
    }
    // Blocking transforms pass on what they held, upstream first (ids follow the graph's order),
    // so that one's output reaches the next before that one finishes.
    for (const nodeId of [...finishers.keys()].sort((a, b) => a - b)) {
      origin = () => `the end of the task's input (${plan.graph.node(nodeId).name})`;
      finishers.get(nodeId)!();
      await drain(false);
    }
    await drain(true);

    const shuffleBlocks: ShuffleBlock[] = [];
    for (const writer of shuffleWriters.values()) {
      shuffleBlocks.push(...writer.finish());
      if (writer.overBudget) await writer.spill();
      metrics.bytesShuffled += writer.bytesWritten;
      metrics.bytesSpilled += writer.bytesSpilled;
    }
    const sinkMessages: { sink: string; message: JsonValue }[] = [];
    for (const output of sinkOutputs.values()) sinkMessages.push(...(await output.close()));
    if (rejectedOutput) sinkMessages.push(...(await rejectedOutput.close()));
    const collected = [...collectBuffers].map(([nodeId, records]) => ({
      nodeId,
      block: encodeCrossing(records, `the records collected from '${plan.graph.node(nodeId).name}'`),
    }));
    return { shuffleBlocks, collected, sinkMessages, metrics };
  } catch (error) {
    for (const output of sinkOutputs.values()) await output.abort();
    await rejectedOutput?.abort();
    throw error;
  }
}

interface ReceiverContext {
  readonly origin: () => string;
  readonly metrics: TaskMetrics;
  readonly shuffleWriters: Map<number, ShuffleWriter>;
  readonly sinkOutputs: Map<number, SinkOutput>;
  /** Buffers of `collect` outputs and of the lookup tables this stage computes, by node id. */
  readonly collectBuffers: Map<number, unknown[]>;
  /** The tables of the lookups in this stage, by node id. */
  readonly tables: ReadonlyMap<number, LookupTable>;
  readonly taskContext: TaskContext;
  /** What blocking transforms do once the task's input has ended, by node id. */
  readonly finishers: Map<number, () => void>;
}

/**
 * Builds, for the root and every fused node, the function that takes one record, runs the node's
 * user function on it and hands the results to the node's consumers in this stage or its shuffles.
 */
function buildReceivers(stage: StagePlan, context: ReceiverContext): Map<number, Receiver> {
  const inStage = new Set([stage.root.id, ...stage.nodes.map((node) => node.id)]);
  const receivers = new Map<number, Receiver>();
  const counts = context.metrics.transformRecords;

  const downstreamOf = (node: GraphNode): Receiver => {
    const targets: Receiver[] = [];
    for (const consumer of stage.nodes) {
      if (!consumer.inputs.includes(node.id)) continue;
      const receiver = receivers.get(consumer.id);
      if (receiver) for (const input of consumer.inputs) if (input === node.id) targets.push(receiver);
    }
    for (const write of stage.shuffleWrites) {
      if (write.fromNode !== node.id) continue;
      const writer = context.shuffleWriters.get(write.shuffleId)!;
      const slot = write.slot;
      targets.push((value) => writer.write(slot, value));
    }
    for (const write of stage.tableWrites) {
      if (write.fromNode !== node.id) continue;
      const buffer: unknown[] = context.collectBuffers.get(write.lookupNode) ?? [];
      context.collectBuffers.set(write.lookupNode, buffer);
      targets.push((value) => buffer.push(value));
    }
    if (targets.length === 1) return targets[0]!;
    return (value) => {
      for (const target of targets) target(value);
    };
  };

  const fail = (node: GraphNode, error: unknown): never => {
    throw new TransformError(node.name, context.origin(), messageOf(error), { cause: error });
  };

  // Consumers are built before their producers: walk the fused nodes from last to first.
  const ordered = [...stage.nodes].reverse();
  for (const node of ordered) receivers.set(node.id, receiverFor(node));
  receivers.set(stage.root.id, counting(stage.root, downstreamOf(stage.root)));

  function counting(node: GraphNode, next: Receiver): Receiver {
    counts[node.id] = 0;
    return (value) => {
      counts[node.id]!++;
      next(value);
    };
  }

  function receiverFor(node: GraphNode): Receiver {
    counts[node.id] = 0;
    switch (node.kind) {
      case "map": {
        const next = downstreamOf(node);
        const fn = node.fn;
        return (value) => {
          let output: unknown;
          try {
            output = fn(value);
          } catch (error) {
            fail(node, error);
          }
          counts[node.id]!++;
          next(output);
        };
      }
      case "filter": {
        const next = downstreamOf(node);
        const fn = node.fn;
        return (value) => {
          let keep: unknown;
          try {
            keep = fn(value);
          } catch (error) {
            fail(node, error);
          }
          if (keep) {
            counts[node.id]!++;
            next(value);
          }
        };
      }
      case "flatMap": {
        const next = downstreamOf(node);
        const fn = node.fn;
        return (value) => {
          let outputs: unknown[] = [];
          try {
            const result = fn(value) as Iterable<unknown>;
            outputs = Array.isArray(result) ? result : Array.from(result);
          } catch (error) {
            fail(node, error);
          }
          counts[node.id]! += outputs.length;
          for (const output of outputs) next(output);
        };
      }
      case "sort": {
        const next = downstreamOf(node);
        const by = node.by;
        let held: unknown[] = [];
        context.finishers.set(node.id, () => {
          const records = held;
          held = [];
          let ranks: unknown[] = [];
          try {
            ranks = records.map((record) => by(record));
          } catch (error) {
            fail(node, error);
          }
          const order = Array.from({ length: records.length }, (_, index) => index);
          const tie = (a: number, b: number) => compareValues(records[a], records[b]);
          if (ranks.every((rank) => typeof rank === "number" && Number.isFinite(rank))) {
            // Numbers (a time, an id) sort as numbers, without the general order's type checks.
            const numeric = Float64Array.from(ranks as number[]);
            order.sort((a, b) => numeric[a]! - numeric[b]! || tie(a, b));
          } else {
            order.sort((a, b) => compareValues(ranks[a], ranks[b]) || tie(a, b));
          }
          counts[node.id]! += records.length;
          for (const index of order) next(records[index]);
        });
        return (value) => {
          held.push(value);
        };
      }
      case "flatten":
      case "coalesce":
        return counting(node, downstreamOf(node));
      case "lookup": {
        const next = downstreamOf(node);
        const table = context.tables.get(node.id)!;
        return (value) => {
          const [key, keyed] = value as [unknown, unknown];
          counts[node.id]!++;
          next([key, keyed, table.valuesOf(key)]);
        };
      }
      case "collect": {
        const buffer: unknown[] = [];
        context.collectBuffers.set(node.id, buffer);
        return (value) => {
          counts[node.id]!++;
          context.metrics.recordsOut++;
          buffer.push(value);
        };
      }
      case "sink": {
        const output = new SinkOutput(node.sink, context.taskContext);
        context.sinkOutputs.set(node.id, output);
        return (value) => {
          counts[node.id]!++;
          context.metrics.recordsOut++;
          output.push(value);
        };
      }
      case "source":
      case "shuffle":
        throw new Error(`'${node.name}' cannot be fused into stage ${stage.id}`);
    }
  }

  if (![...inStage].every((id) => receivers.has(id))) throw new Error(`stage ${stage.id} is not connected`);
  return receivers;
}

/** Buffers a sink's records and writes them in batches; opens the writer at the first record. */
class SinkOutput {
  private buffer: unknown[] = [];
  private writer: SinkWriter<unknown> | undefined;

  constructor(
    private readonly sink: Sink<unknown>,
    private readonly taskContext: TaskContext,
  ) {}

  push(value: unknown): void {
    this.buffer.push(value);
  }

  async flush(threshold: number): Promise<void> {
    if (this.buffer.length === 0 || this.buffer.length < threshold) return;
    const records = this.buffer;
    this.buffer = [];
    this.writer ??= await this.sink.openWriter(this.taskContext);
    await this.writer.write(records);
  }

  async close(): Promise<{ sink: string; message: JsonValue }[]> {
    await this.flush(0);
    if (!this.writer) return [];
    const message = await this.writer.close();
    return [{ sink: this.sink.name, message }];
  }

  async abort(): Promise<void> {
    this.buffer = [];
    await this.writer?.abort().catch(() => undefined);
  }
}
