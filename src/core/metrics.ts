import type { Plan } from "./stages.js";

/** What a task counts and a stage sums over its tasks. */
const COUNTERS = [
  "recordsIn",
  "recordsOut",
  "bytesRead",
  "bytesShuffled",
  "bytesSpilled",
  "recordsSeen",
  "rejected",
] as const;

export type Counters = Record<(typeof COUNTERS)[number], number>;

export function emptyCounters(): Counters {
  return Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Counters;
}

/** Counters of one task; the runner adds them up per stage. */
export interface TaskMetrics extends Counters {
  /** A few rejection reasons, for the message when no rejected-records sink is set. */
  rejectedSamples: string[];
  /** Records out of each transform, by node id. */
  transformRecords: Record<number, number>;
  /** What the task's functions added to each counter (`counter(name).inc()`), by name. */
  counters: [string, number][];
}

/**
 * A task's metrics, counted from zero. Made by a constructor, not by spreading the counters into a
 * literal: V8 gave objects made by that spread a map that later tasks' objects no longer matched,
 * and every function that counts into them (each operator, for every record) was optimized again
 * in every task. Objects of one class keep one map.
 */
class TaskCounters implements TaskMetrics {
  recordsIn = 0;
  recordsOut = 0;
  bytesRead = 0;
  bytesShuffled = 0;
  bytesSpilled = 0;
  recordsSeen = 0;
  rejected = 0;
  rejectedSamples: string[] = [];
  transformRecords: Record<number, number> = {};
  counters: [string, number][] = [];
}

export function newTaskMetrics(): TaskMetrics {
  return new TaskCounters();
}

/** Counters of one stage, summed over its tasks. */
export interface StageMetrics extends Counters {
  readonly stageId: number;
  readonly name: string;
  tasks: number;
  tasksDone: number;
  /** Milliseconds from the stage's first task start to its last task end (so far). */
  wallMs: number;
  state: "waiting" | "running" | "done";
}

/** What a run reports while it runs and when it ends. */
export interface JobMetrics {
  readonly runId: string;
  readonly stages: StageMetrics[];
  /** Records out of each transform, by name. */
  readonly transforms: { id: number; name: string; records: number }[];
  /** Each shuffle and the partitions it was cut into (sized from the run's input unless set). */
  readonly shuffles: { id: number; name: string; partitions: number }[];
  wallMs: number;
  rejected: number;
  recordsSeen: number;
  bytesRead: number;
  rejectedSamples: string[];
  /** The counters the pipeline's functions incremented (`counter(name).inc()`), by name. */
  readonly counters: Record<string, number>;
}

export function emptyJobMetrics(plan: Plan, runId: string): JobMetrics {
  return {
    runId,
    stages: plan.stages.map((stage) => ({
      stageId: stage.id,
      name: stage.name,
      tasks: 0,
      tasksDone: 0,
      ...emptyCounters(),
      wallMs: 0,
      state: "waiting",
    })),
    transforms: plan.graph.nodes.map((node) => ({ id: node.id, name: node.name, records: 0 })),
    shuffles: [...plan.shuffles.values()].map((shuffle) => ({
      id: shuffle.id,
      name: shuffle.name,
      partitions: shuffle.partitionCount,
    })),
    wallMs: 0,
    rejected: 0,
    recordsSeen: 0,
    bytesRead: 0,
    rejectedSamples: [],
    counters: {},
  };
}

export function addTaskMetrics(job: JobMetrics, stageId: number, task: TaskMetrics): void {
  const stage = job.stages[stageId];
  if (!stage) return;
  stage.tasksDone++;
  for (const name of COUNTERS) stage[name] += task[name];
  job.rejected += task.rejected;
  job.recordsSeen += task.recordsSeen;
  job.bytesRead += task.bytesRead;
  for (const sample of task.rejectedSamples)
    if (job.rejectedSamples.length < 5) job.rejectedSamples.push(sample);
  for (const [id, records] of Object.entries(task.transformRecords)) {
    const transform = job.transforms[Number(id)];
    if (transform) transform.records += records;
  }
  for (const [name, by] of task.counters) {
    const before = Object.hasOwn(job.counters, name) ? job.counters[name]! : 0;
    // Defined, not assigned: a counter may be named "__proto__".
    Object.defineProperty(job.counters, name, {
      value: before + by,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
}

/** A deep copy for progress callbacks, so that a listener can keep it. */
export function snapshot(job: JobMetrics): JobMetrics {
  return structuredClone(job);
}
