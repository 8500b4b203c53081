import { SluiceError } from "./errors.js";
import type { Graph, GraphNode, NodeKind } from "./graph.js";
import { OPERATORS } from "./operators/index.js";
import type { Operator } from "./operators/operator.js";
import { describeShuffleWrite, partitionsText } from "./operators/shuffle-write.js";
import type { Plan, ShufflePlan, StagePlan } from "./stages.js";

export type { Plan, ShufflePlan, StagePlan } from "./stages.js";

/** Settings that shape a plan; the same settings give the same plan in every thread. */
export interface PlanSettings {
  /** Partitions of a shuffle that does not set its own. */
  readonly defaultPartitions: number;
  /**
   * Tasks that read a shuffle of the default width (default: one per partition). Each task reads
   * a contiguous group of partitions, one partition at a time, so that many narrow partitions
   * bound a task's memory while the number of tasks, and of the files they write, stays small.
   */
  readonly defaultReadTasks?: number;
  /**
   * Fewest tasks that read a shuffle of the default width. When set, the read tasks of such a
   * shuffle are sized from the bytes it holds once written (`READ_TASK_BYTES` each), between this
   * and `defaultReadTasks`, as Spark's adaptive execution coalesces small shuffle partitions: a
   * small shuffle is then read by a few tasks, not by dozens that each pay a task's fixed cost
   * and write a file of a few rows.
   */
  readonly minReadTasks?: number;
  /**
   * Set when the plan is made to be shown before its run lists its input (`explain`): the run sizes
   * `defaultPartitions` from its input, between these two.
   */
  readonly defaultPartitionRange?: readonly [fewest: number, most: number];
}

/**
 * Encoded shuffle bytes a read task of a data-sized shuffle takes on. Rows in columnar blocks
 * (block-codec.ts) take about a quarter of their JSON size, and a task holds them decoded: 2 MiB
 * of blocks is about what 8 MiB of JSON was, a few hundred thousand rows.
 */
export const READ_TASK_BYTES = 2 * 1024 * 1024;

/** Cuts the graph into stages at each shuffle and fuses the element-wise transforms in between. */
export function planGraph(graph: Graph, settings: PlanSettings): Plan {
  const consumers = graph.consumers();
  const roots = graph.nodes.filter((node) => OPERATORS[node.kind].placement === "root");
  const stageOfRoot = new Map<number, number>();
  for (const [index, root] of roots.entries()) stageOfRoot.set(root.id, index);

  const writers = new Map<number, Set<number>>();
  const stages: StagePlan[] = roots.map((root, stageId) => {
    const reached = new Set<number>();
    const shuffleWrites: { shuffleId: number; slot: number; fromNode: number }[] = [];
    const tableWrites: { lookupNode: number; fromNode: number }[] = [];
    const visit = (from: GraphNode): void => {
      for (const { node, slot } of consumers.get(from.id) ?? []) {
        const operator = OPERATORS[node.kind];
        if (operator.placement === "root") {
          // A stage's root with inputs reads a shuffle: this stage writes into it.
          shuffleWrites.push({ shuffleId: node.id, slot, fromNode: from.id });
          const set = writers.get(node.id) ?? new Set<number>();
          set.add(stageId);
          writers.set(node.id, set);
        } else if (operator.wholeInputs?.includes(slot)) {
          // A lookup's table: collected in full here, handed whole to the lookup's stage.
          tableWrites.push({ lookupNode: node.id, fromNode: from.id });
        } else if (!reached.has(node.id)) {
          reached.add(node.id);
          if (operator.placement === "fused") visit(node);
        }
      }
    };
    visit(root);
    const nodes = [...reached].sort((a, b) => a - b).map((id) => graph.node(id));
    const limits = nodes.flatMap((node) => {
      const operator = OPERATORS[node.kind] as Operator<NodeKind>;
      const limit = operator.placement === "root" ? undefined : operator.maxTasks?.(node);
      return limit === undefined ? [] : [limit];
    });
    const elementWise = nodes.filter((node) => node.kind !== "flatten").map((node) => node.name);
    const summary = elementWise.length > 3 ? [...elementWise.slice(0, 3), "..."] : elementWise;
    return {
      id: stageId,
      name: [root.name, ...summary].join(" > "),
      root,
      nodes,
      shuffleWrites,
      tableWrites,
      maxTasks: limits.length > 0 ? Math.min(...limits) : undefined,
      dependsOn: [],
    };
  });

  const shuffles = new Map<number, ShufflePlan>();
  for (const root of roots) {
    if (root.kind !== "shuffle") continue;
    const readerStage = stageOfRoot.get(root.id) ?? -1;
    const writerStages = [...(writers.get(root.id) ?? [])].sort((a, b) => a - b);
    const readTasks =
      root.partitionCount ??
      Math.min(settings.defaultPartitions, settings.defaultReadTasks ?? Number.POSITIVE_INFINITY);
    shuffles.set(root.id, {
      id: root.id,
      name: root.name,
      mode: root.mode,
      partitionCount: root.partitionCount ?? settings.defaultPartitions,
      ...(root.partitionCount === undefined && settings.defaultPartitionRange
        ? { partitionRange: settings.defaultPartitionRange }
        : {}),
      readTasks,
      minReadTasks:
        root.partitionCount === undefined && settings.minReadTasks !== undefined
          ? Math.min(settings.minReadTasks, readTasks)
          : readTasks,
      inputCount: root.inputs.length,
      combiner: root.combiner,
      writerStages,
      readerStage,
    });
    const stage = stages[readerStage];
    if (stage) (stage.dependsOn as number[]).push(...writerStages);
  }
  for (const stage of stages) {
    for (const lookup of stage.nodes.filter((node) => node.kind === "lookup")) {
      const tableStages = stages.filter((other) =>
        other.tableWrites.some((write) => write.lookupNode === lookup.id),
      );
      (stage.dependsOn as number[]).push(...tableStages.map((other) => other.id));
    }
  }
  assertPlaced(graph, stages);
  rejectCycles(stages);
  return { graph, stages, shuffles };
}

/**
 * Every node lands in a stage: a root in the one it starts; a fused node or an output in exactly
 * the stages of its fused inputs (more than one only after a flatten of several stages, which
 * fusion copies into each, as Beam's does).
 */
function assertPlaced(graph: Graph, stages: readonly StagePlan[]): void {
  const stagesOf = new Map<number, Set<number>>();
  for (const stage of stages) {
    for (const node of [stage.root, ...stage.nodes]) {
      const set = stagesOf.get(node.id) ?? new Set<number>();
      set.add(stage.id);
      stagesOf.set(node.id, set);
    }
  }
  for (const node of graph.nodes) {
    const placed = [...(stagesOf.get(node.id) ?? [])].sort((a, b) => a - b);
    const operator = OPERATORS[node.kind];
    let expected: number[];
    if (operator.placement === "root") {
      expected = placed.length === 1 && stages[placed[0]!]?.root.id === node.id ? placed : [-1];
    } else {
      const fusedInputs = node.inputs.filter((_, slot) => !operator.wholeInputs?.includes(slot));
      const fromInputs = new Set(fusedInputs.flatMap((input) => [...(stagesOf.get(input) ?? [])]));
      expected = [...fromInputs].sort((a, b) => a - b);
    }
    if (placed.length === 0 || placed.join() !== expected.join()) {
      throw new Error(
        `the planner placed '${node.name}' (${node.kind}) in stage(s) [${placed.join(", ")}], not [${expected.join(", ")}]`,
      );
    }
  }
}

/** A lookup whose table depends on the records it looks up would wait for itself. */
function rejectCycles(stages: readonly StagePlan[]): void {
  const state = new Map<number, "visiting" | "done">();
  const visit = (stage: StagePlan): void => {
    if (state.get(stage.id) === "done") return;
    if (state.get(stage.id) === "visiting") {
      const lookup = stage.nodes.find((node) => node.kind === "lookup");
      throw new SluiceError(
        `the table of '${lookup?.name ?? stage.name}' depends on the records it looks up (stage ${stage.id}); compute the table from other inputs, or use join`,
      );
    }
    state.set(stage.id, "visiting");
    for (const id of stage.dependsOn) visit(stages[id]!);
    state.set(stage.id, "done");
  };
  for (const stage of stages) visit(stage);
}

/** What a node does, in its operator's words. */
function describeNode(node: GraphNode): string {
  return (OPERATORS[node.kind] as Operator<NodeKind>).describe(node);
}

/** The fewest and the most tasks that may read a shuffle, within its stage's own limit. */
function readTaskBounds(shuffle: ShufflePlan, maxTasks: number | undefined): [number, number] {
  const most = Math.min(maxTasks ?? Number.POSITIVE_INFINITY, shuffle.readTasks);
  return [Math.min(most, shuffle.minReadTasks), most];
}

/** How many tasks read a shuffle: a number, or a range when they are sized from its bytes (see readTasksFor). */
function readTasksText(shuffle: ShufflePlan, maxTasks: number | undefined, sinksOnly: boolean): string {
  const [fewest, most] = readTaskBounds(shuffle, maxTasks);
  if (fewest === most) return `${most} task(s)`;
  const perTask = `one per ${(sinksOnly ? SINK_READ_TASK_BYTES : READ_TASK_BYTES) / 1024 / 1024} MiB shuffled`;
  return sinksOnly
    ? `up to ${most} task(s), ${perTask}`
    : `up to ${most} task(s), ${perTask} (at least ${fewest} while each gets ${MIN_READ_TASK_BYTES / 1024} KiB)`;
}

/**
 * Encoded shuffle bytes a read task takes on when its stage writes only to sinks. Such a task
 * holds one partition at a time and passes its rows on to files as it goes, so it may take more
 * partitions without holding more; and each of its tasks writes a file per table partition, with
 * a dictionary and statistics of its own, so that fewer, larger tasks make fewer, smaller files.
 */
export const SINK_READ_TASK_BYTES = 4 * READ_TASK_BYTES;

/**
 * The least a read task of a data-sized shuffle takes on before the fewest-tasks bound gives way:
 * below it, a task's fixed cost (scheduling, a message each way, a file per sink partition)
 * outweighs what it reads, and a shuffle of 24 rows is one task, not eight.
 */
export const MIN_READ_TASK_BYTES = 256 * 1024;

/**
 * Tasks that read a shuffle holding `bytes`: one per `READ_TASK_BYTES` (`SINK_READ_TASK_BYTES` for
 * a stage that writes only to sinks), within the shuffle's bounds. The fewest-tasks bound, which
 * keeps the threads balanced, holds only while each task gets `MIN_READ_TASK_BYTES`; a stage that
 * only writes is not held to it (each of its tasks writes files of its own).
 */
export function readTasksFor(
  shuffle: ShufflePlan,
  bytes: number,
  maxTasks: number | undefined,
  sinksOnly = false,
): number {
  const [fewest, most] = readTaskBounds(shuffle, maxTasks);
  if (fewest === most) return most;
  const perTask = sinksOnly ? SINK_READ_TASK_BYTES : READ_TASK_BYTES;
  const worthSplitting = sinksOnly ? 1 : Math.max(1, Math.ceil(bytes / MIN_READ_TASK_BYTES));
  return Math.max(Math.min(fewest, worthSplitting), Math.min(most, Math.ceil(bytes / perTask)));
}

/** The plan as text: one block per stage, its fused transforms, and where its records go. */
export function explainText(plan: Plan): string {
  const lines = [`plan: ${plan.stages.length} stage(s), ${plan.shuffles.size} shuffle(s)`];
  for (const stage of plan.stages) {
    const shuffle = plan.shuffles.get(stage.root.id);
    const tasks = shuffle
      ? readTasksText(shuffle, stage.maxTasks, stage.shuffleWrites.length === 0)
      : `one task per split${stage.maxTasks ? `, at most ${stage.maxTasks}` : ""}`;
    const after = stage.dependsOn.length > 0 ? `, after stage(s) ${stage.dependsOn.join(", ")}` : "";
    lines.push(`stage ${stage.id}: ${tasks}${after}`);
    lines.push(
      shuffle
        ? `  root: read shuffle '${shuffle.name}' (${shuffle.mode}, ${partitionsText(shuffle)}${shuffle.partitionRange ? ", sized from the input when the run lists it" : ""})`
        : `  root: '${stage.root.name}' (${describeNode(stage.root)})`,
    );
    for (const node of stage.nodes) {
      const from = node.inputs.map((id) => `'${plan.graph.node(id).name}'`).join(" + ");
      lines.push(`  ${OPERATORS[node.kind].placement}: '${node.name}' (${describeNode(node)}) <- ${from}`);
    }
    for (const write of stage.shuffleWrites) {
      const target = plan.shuffles.get(write.shuffleId);
      if (!target) continue;
      lines.push(
        `  shuffle write: '${plan.graph.node(write.fromNode).name}' -> '${target.name}' input ${write.slot} (${describeShuffleWrite(target)})`,
      );
    }
    for (const write of stage.tableWrites) {
      lines.push(
        `  table write: '${plan.graph.node(write.fromNode).name}' -> '${plan.graph.node(write.lookupNode).name}' (collected whole, given to every task that looks it up)`,
      );
    }
  }
  return lines.join("\n");
}

function dotLabel(text: string): string {
  return JSON.stringify(text);
}

/** The plan as Graphviz DOT: a cluster per stage, dashed edges for shuffles, dotted ones for lookup tables. */
export function explainDot(plan: Plan): string {
  const lines = ["digraph plan {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"];
  for (const stage of plan.stages) {
    lines.push(`  subgraph cluster_${stage.id} {`, `    label=${dotLabel(`stage ${stage.id}`)};`);
    for (const node of [stage.root, ...stage.nodes]) {
      lines.push(`    n${node.id}_s${stage.id} [label=${dotLabel(`${node.name}\n${describeNode(node)}`)}];`);
    }
    lines.push("  }");
    for (const node of stage.nodes) {
      for (const input of node.inputs) {
        const inputInStage = input === stage.root.id || stage.nodes.some((other) => other.id === input);
        if (inputInStage) lines.push(`  n${input}_s${stage.id} -> n${node.id}_s${stage.id};`);
      }
    }
    for (const write of stage.shuffleWrites) {
      const target = plan.shuffles.get(write.shuffleId);
      if (!target) continue;
      lines.push(
        `  n${write.fromNode}_s${stage.id} -> n${target.id}_s${target.readerStage} [style=dashed, label=${dotLabel(`shuffle, ${partitionsText(target)}`)}];`,
      );
    }
    for (const write of stage.tableWrites) {
      const reader = plan.stages.find((other) => other.nodes.some((node) => node.id === write.lookupNode));
      if (!reader) continue;
      lines.push(
        `  n${write.fromNode}_s${stage.id} -> n${write.lookupNode}_s${reader.id} [style=dotted, label=${dotLabel("table")}];`,
      );
    }
  }
  lines.push("}");
  return lines.join("\n");
}
