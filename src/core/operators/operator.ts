// The protocol every physical operator follows: a planning rule (where it goes in a stage, what it
// limits), a line for `explain`, and how one task opens it, gives it records and finishes it, as
// Beam's DoFn has start, process and finish bundle. operators/index.ts holds the table of them.
import type { BlockRef } from "../blocks.js";
import type { GraphNode, NodeKind } from "../graph.js";
import type { RejectedRecord, TaskContext } from "../interfaces.js";
import type { TaskMetrics } from "../metrics.js";
import type { ShufflePlan } from "../stages.js";
import type { TaskInput, TaskOutputs } from "../task.js";

export type Receiver = (value: unknown) => void;

/** The graph node of one kind. */
export type NodeOf<K extends NodeKind> = Extract<GraphNode, { kind: K }>;

/** What one task gives its operators: its identity, its counters and how to name the current record. */
export interface TaskRuntime {
  readonly taskContext: TaskContext;
  readonly taskIndex: number;
  readonly batchSize: number;
  readonly memoryBudget: number;
  readonly spillDirectory: string;
  readonly metrics: TaskMetrics;
  /** Where the record being processed came from, for error messages. */
  origin(): string;
  /** Sets how `origin` names the record being processed (a root sets it as it reads). */
  setOrigin(describe: () => string): void;
  /** The blocks of the table of the lookup with this node id, given to every task of its stage. */
  tableBlocks(lookupNode: number): readonly BlockRef[];
  shuffle(shuffleId: number): ShufflePlan;
  /** Counts a rejected input record and sends it to the pipeline's rejected-records sink, if any. */
  reject(record: RejectedRecord): void;
  /** Wraps an exception of a user function with the transform and the record it failed on. */
  fail(node: GraphNode, error: unknown): never;
}

/** An operator as one task runs it. */
export interface RunningOperator {
  /** Takes one record. Synchronous: asynchronous work waits for `flush`. */
  readonly process: Receiver;
  /** At the end of the task's input: passes on what it held (blocking operators). */
  readonly finish?: () => void;
  /** Between batches: writes what it buffered (at least a batch, or all when forced). */
  readonly flush?: (force: boolean) => Promise<void>;
  /** After the last record: what the task leaves behind. */
  readonly close?: () => Promise<Partial<TaskOutputs>>;
  /** When the task fails: undoes what it wrote. */
  readonly abort?: () => Promise<void>;
}

interface Described<K extends NodeKind> {
  /** What it does, for `explain`. */
  describe(node: NodeOf<K>): string;
}

/** Starts a stage: reads the task's input and pushes each record on. */
export interface RootOperator<K extends NodeKind> extends Described<K> {
  readonly placement: "root";
  /** Whether a task of this stage reads source splits or shuffle partitions. */
  readonly reads: TaskInput["kind"];
  /** Reads the task's input into `next`, awaiting `drain` between batches (the back-pressure). */
  read(
    node: NodeOf<K>,
    input: TaskInput,
    runtime: TaskRuntime,
    next: Receiver,
    drain: () => Promise<void>,
  ): Promise<void>;
}

/** Runs inside the stage that feeds it: element-wise, blocking within a task, or an output. */
export interface FusedOperator<K extends NodeKind> extends Described<K> {
  /** `fused` passes records on; `output` ends the stage (a sink, a collect). */
  readonly placement: "fused" | "output";
  /** Input slots that are not fused but collected whole where they are made (a lookup's table). */
  readonly wholeInputs?: readonly number[];
  /** The most tasks its stage may have. */
  maxTasks?(node: NodeOf<K>): number | undefined;
  /** Opens it for one task (asynchronous for what it loads first, as a lookup its table). */
  open(
    node: NodeOf<K>,
    next: Receiver,
    runtime: TaskRuntime,
    routes: Routes,
  ): RunningOperator | Promise<RunningOperator>;
}

/**
 * The receiver of each `tagged` consumer of a node, by tag: what a node with several outputs
 * (`withOutputs`) sends each record to, instead of `next`, which every consumer takes.
 */
export type Routes = (tag: string) => Receiver;

export type Operator<K extends NodeKind> = RootOperator<K> | FusedOperator<K>;

/** The task's record counts by node id, with this node's set to zero: operators add to it as they pass records on. */
export function countsFor(node: GraphNode, runtime: TaskRuntime): Record<number, number> {
  const counts = runtime.metrics.transformRecords;
  counts[node.id] = 0;
  return counts;
}

/** Opens an operator that passes each record on unchanged, counting it (flatten, coalesce). */
export function passThrough(node: GraphNode, next: Receiver, runtime: TaskRuntime): RunningOperator {
  const counts = countsFor(node, runtime);
  const { id } = node;
  return {
    process(value) {
      counts[id]!++;
      next(value);
    },
  };
}
