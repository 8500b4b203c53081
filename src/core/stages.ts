import type { Combiner } from "./combiners.js";
import type { Graph, GraphNode, ShuffleMode } from "./graph.js";

// The shape of a plan, apart from the planner (plan.ts) that makes it: operators, the executor and
// the runners read it without loading the planner and its table of operators.

/** A shuffle: written by the stages that feed it, read by the stage it roots. */
export interface ShufflePlan {
  readonly id: number;
  readonly name: string;
  readonly mode: ShuffleMode;
  readonly partitionCount: number;
  /**
   * Only in a plan made to be shown before its run lists its input (`explain`): the partitions a
   * run may choose, `partitionCount` being the most.
   */
  readonly partitionRange?: readonly [fewest: number, most: number];
  /** Tasks that read it: its partition count when set by the pipeline, else the settings' default. */
  readonly readTasks: number;
  /** Fewest tasks that read it: `readTasks` unless they are sized from its bytes (see PlanSettings). */
  readonly minReadTasks: number;
  readonly inputCount: number;
  readonly combiner: Combiner<unknown, unknown, unknown> | undefined;
  readonly writerStages: number[];
  readonly readerStage: number;
}

/**
 * A stage: a root (a source, or the read side of a shuffle) and every element-wise transform and
 * output reachable from it without crossing a shuffle, fused so that a record goes through all of
 * them in one call chain. A task is (stage, group of splits or partitions).
 */
export interface StagePlan {
  readonly id: number;
  readonly name: string;
  readonly root: GraphNode;
  /** The transforms fused into this stage after the root, in topological order. */
  readonly nodes: readonly GraphNode[];
  /** Shuffles this stage writes to, with the input slot it fills and the node that feeds it. */
  readonly shuffleWrites: readonly { shuffleId: number; slot: number; fromNode: number }[];
  /** Lookup tables this stage computes: `fromNode`'s records, for the lookup node `lookupNode`. */
  readonly tableWrites: readonly { lookupNode: number; fromNode: number }[];
  /** At most this many tasks (from `coalesce`), or undefined. */
  readonly maxTasks: number | undefined;
  readonly dependsOn: readonly number[];
}

export interface Plan {
  readonly graph: Graph;
  readonly stages: readonly StagePlan[];
  readonly shuffles: ReadonlyMap<number, ShufflePlan>;
}
