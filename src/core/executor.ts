import { messageOf, TransformError } from "./errors.js";
import type { GraphNode, NodeKind } from "./graph.js";
import type { RejectedRecord, Sink } from "./interfaces.js";
import { newTaskMetrics, type TaskMetrics } from "./metrics.js";
import { OPERATORS } from "./operators/index.js";
import { openTableWrite } from "./operators/lookup.js";
import type {
  FusedOperator,
  Operator,
  Receiver,
  RootOperator,
  Routes,
  RunningOperator,
  TaskRuntime,
} from "./operators/operator.js";
import { openShuffleWrite, type RunningShuffleWrite } from "./operators/shuffle-write.js";
import { SinkOutput } from "./operators/sink.js";
import { freezeShared, sharedRecordHint } from "./shared-records.js";
import type { Plan, StagePlan } from "./stages.js";
import type { TaskOutputs, TaskResult, TaskSpec } from "./task.js";
import { countingTask, type TaskCounts } from "./user-counters.js";

/** How rejected records leave a task: the pipeline's rejected-records sink, if it has one. */
export interface RejectRouting {
  readonly sink: Sink<RejectedRecord> | undefined;
}

const MAX_REJECTED_SAMPLES = 5;

/**
 * Runs one task: opens the stage's operators (each consumer before its producer), lets the root
 * read the task's input through them, finishes the blocking ones, and closes the outputs. The
 * counters its functions increment are the task's own (`oneTaskPerThread` where nothing else runs
 * in the thread until it ends: user-counters.ts).
 */
export async function executeTask(
  plan: Plan,
  spec: TaskSpec,
  rejects: RejectRouting,
  oneTaskPerThread = false,
): Promise<TaskResult> {
  const counts: TaskCounts = new Map();
  const result = await countingTask(counts, oneTaskPerThread, () => runTask(plan, spec, rejects));
  result.metrics.counters = [...counts];
  return result;
}

async function runTask(plan: Plan, spec: TaskSpec, rejects: RejectRouting): Promise<TaskResult> {
  const stage = plan.stages[spec.stageId];
  if (!stage) throw new Error(`no stage ${spec.stageId} in the plan`);
  const metrics: TaskMetrics = newTaskMetrics();
  const taskContext = {
    runId: spec.runId,
    stageId: spec.stageId,
    taskId: `s${spec.stageId}t${String(spec.taskIndex).padStart(5, "0")}`,
  };
  let origin = (): string => `stage ${stage.id} task ${spec.taskIndex}`;
  const rejectedOutput = rejects.sink ? new SinkOutput(rejects.sink, taskContext) : undefined;
  const runtime: TaskRuntime = {
    taskContext,
    taskIndex: spec.taskIndex,
    batchSize: spec.batchSize,
    memoryBudget: spec.memoryBudget,
    spillDirectory: spec.spillDirectory,
    metrics,
    origin: () => origin(),
    setOrigin(describe) {
      origin = describe;
    },
    tableBlocks: (lookupNode) => spec.tables?.[lookupNode] ?? [],
    shuffle(shuffleId) {
      const shuffle = plan.shuffles.get(shuffleId);
      if (!shuffle) throw new Error(`no shuffle ${shuffleId} in the plan`);
      return shuffle;
    },
    reject(record) {
      metrics.rejected++;
      if (metrics.rejectedSamples.length < MAX_REJECTED_SAMPLES) {
        const where =
          record.line !== undefined
            ? ` line ${record.line}`
            : record.row !== undefined
              ? ` row ${record.row}`
              : record.offset !== undefined
                ? ` byte ${record.offset}`
                : "";
        metrics.rejectedSamples.push(`${record.source}${where}: ${record.reason}`);
      }
      rejectedOutput?.push(record);
    },
    fail(node, error) {
      throw new TransformError(node.name, origin(), `${messageOf(error)}${sharedRecordHint(error)}`, {
        cause: error,
      });
    },
  };

  const opened: OpenedOperator[] = [];
  try {
    const root = await openStage(plan, stage, runtime, opened);
    const flushing = opened.filter((entry) => entry.running.flush);
    // Sinks and spills are asynchronous; pushes are not. Between batches the task awaits them,
    // which is the back-pressure that keeps a fast source from filling memory.
    const drain = async (force: boolean): Promise<void> => {
      for (const { running } of flushing) await running.flush!(force);
      if (rejectedOutput) await rejectedOutput.flush(force ? 0 : spec.batchSize);
    };
    await rootOperatorOf(stage.root).read(stage.root, spec.input, runtime, root, () => drain(false));
    // Blocking operators pass on what they held, upstream first (ids follow the graph's order), so
    // that one's output reaches the next before that one finishes.
    for (const { node, running } of opened) {
      if (!running.finish || !node) continue;
      origin = () => `the end of the task's input (${node.name})`;
      running.finish();
      await drain(false);
    }
    await drain(true);

    const outputs: TaskOutputs = { shuffleBlocks: [], collected: [], sinkMessages: [] };
    for (const { running } of opened) {
      const output = await running.close?.();
      outputs.shuffleBlocks.push(...(output?.shuffleBlocks ?? []));
      outputs.collected.push(...(output?.collected ?? []));
      outputs.sinkMessages.push(...(output?.sinkMessages ?? []));
    }
    if (rejectedOutput) outputs.sinkMessages.push(...(await rejectedOutput.close()));
    return { ...outputs, metrics };
  } catch (error) {
    for (const { running } of opened) await running.abort?.();
    await rejectedOutput?.abort();
    throw error;
  }
}

/** An operator opened for a task: a node's, or the write side of a shuffle or a lookup's table. */
interface OpenedOperator {
  readonly node: GraphNode | undefined;
  readonly running: Omit<RunningOperator, "process">;
}

function rootOperatorOf(node: GraphNode): RootOperator<NodeKind> {
  const operator = OPERATORS[node.kind] as Operator<NodeKind>;
  if (operator.placement !== "root") throw new Error(`'${node.name}' (${node.kind}) cannot start a stage`);
  return operator;
}

function fusedOperatorOf(node: GraphNode): FusedOperator<NodeKind> {
  const operator = OPERATORS[node.kind] as Operator<NodeKind>;
  if (operator.placement === "root") throw new Error(`'${node.name}' (${node.kind}) cannot be fused`);
  return operator;
}

/**
 * Opens every operator of the stage for one task, in `opened` in graph order (the order they
 * finish and close in), and returns the receiver of the root's records.
 */
async function openStage(
  plan: Plan,
  stage: StagePlan,
  runtime: TaskRuntime,
  opened: OpenedOperator[],
): Promise<Receiver> {
  const receivers = new Map<number, Receiver>();
  const shuffleWrites = new Map<number, RunningShuffleWrite>();
  const tableWrites = new Map<number, RunningOperator>();
  const edges: OpenedOperator[] = [];

  const downstreamOf = (node: GraphNode): Receiver => {
    const targets: Receiver[] = [];
    for (const consumer of stage.nodes) {
      const receiver = receivers.get(consumer.id);
      if (receiver) for (const input of consumer.inputs) if (input === node.id) targets.push(receiver);
    }
    for (const write of stage.shuffleWrites) {
      if (write.fromNode !== node.id) continue;
      let writer = shuffleWrites.get(write.shuffleId);
      if (!writer) {
        writer = openShuffleWrite(
          runtime.shuffle(write.shuffleId),
          plan.graph.node(write.shuffleId),
          runtime,
        );
        shuffleWrites.set(write.shuffleId, writer);
        edges.push({ node: undefined, running: writer });
      }
      targets.push(writer.input(write.slot));
    }
    for (const write of stage.tableWrites) {
      if (write.fromNode !== node.id) continue;
      let writer = tableWrites.get(write.lookupNode);
      if (!writer) {
        writer = openTableWrite(write.lookupNode, plan.graph.node(write.lookupNode).name);
        tableWrites.set(write.lookupNode, writer);
        edges.push({ node: undefined, running: writer });
      }
      targets.push(writer.process);
    }
    if (targets.length === 1) return targets[0]!;
    return (value) => {
      freezeShared(value);
      for (const target of targets) target(value);
    };
  };

  /** The receiver of the `tagged` consumer of `node` for each tag (a `withOutputs` node's). */
  const routesOf =
    (node: GraphNode): Routes =>
    (tag) => {
      const consumer = stage.nodes.find(
        (candidate) =>
          candidate.kind === "tagged" && candidate.tag === tag && candidate.inputs[0] === node.id,
      );
      const receiver = consumer && receivers.get(consumer.id);
      if (!receiver) throw new Error(`'${node.name}' has no consumer of its output '${tag}' in its stage`);
      return receiver;
    };

  // Consumers are opened before their producers: walk the fused nodes from last to first.
  const nodeOperators: OpenedOperator[] = [];
  for (const node of [...stage.nodes].reverse()) {
    const running = await fusedOperatorOf(node).open(node, downstreamOf(node), runtime, routesOf(node));
    receivers.set(node.id, running.process);
    nodeOperators.unshift({ node, running });
  }
  const counts = runtime.metrics.transformRecords;
  const rootId = stage.root.id;
  counts[rootId] = 0;
  const next = downstreamOf(stage.root);
  opened.push(...nodeOperators, ...edges);
  return (value) => {
    counts[rootId]!++;
    next(value);
  };
}
