/**
 * What runs when, as a plain state machine: which stages are ready, which task goes next, what a
 * finished or lost task changes, when the job is done. It knows nothing of threads, blocks or
 * metrics: the job runner carries its decisions out on an executor (a thread pool, this thread,
 * other machines) and tells it what happened, so its rules are tested apart from all of them.
 */

/** A stage as the scheduler sees it: an id and the stages whose output it reads. */
export interface SchedulerStage {
  readonly id: number;
  readonly dependsOn: readonly number[];
}

/** One run of one task: its stage, its index in the stage, which attempt, and its input. */
export interface ScheduledTask<Input> {
  readonly stageId: number;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly input: Input;
}

export interface SchedulerSettings<Input> {
  /** Tasks running at once, at most. */
  readonly concurrency: number;
  /** Runs of a task whose worker died, before the job gives up on it. */
  readonly taskAttempts: number;
  /**
   * Called once per stage, when every stage it reads is done: the inputs of its tasks (reading a
   * shuffle's size, taking its blocks). A stage with no task is done at once.
   */
  readonly startStage: (stageId: number) => Input[];
  /** Called once per stage, when its last task has succeeded (or at once when it has none). */
  readonly stageDone?: (stageId: number) => void;
}

export class Scheduler<Input> {
  private readonly started = new Set<number>();
  private readonly done = new Set<number>();
  private readonly remaining = new Map<number, number>();
  /** Tasks waiting for a slot; a retried task goes first. */
  private readonly waiting: ScheduledTask<Input>[] = [];
  /** Tasks handed out whose run has not ended, by `stageId/taskIndex`: each holds a slot. */
  private readonly out = new Set<string>();
  /**
   * Tasks whose run has ended and whose output is being taken in (stored, spilled to disk): they
   * hold no slot, so that the next task runs meanwhile; but no task starts while the tasks running
   * and those being taken in are twice `concurrency`, which bounds the outputs held in memory
   * while a slow disk takes them.
   */
  private readonly takingIn = new Set<string>();
  private stopped = false;

  constructor(
    private readonly stages: readonly SchedulerStage[],
    private readonly settings: SchedulerSettings<Input>,
  ) {
    if (!Number.isInteger(settings.concurrency) || settings.concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${settings.concurrency}`);
    this.startReadyStages();
  }

  /** Every stage is done. */
  get finished(): boolean {
    return this.done.size === this.stages.length;
  }

  /** Tasks handed out whose run has not ended. */
  get running(): number {
    return this.out.size;
  }

  /** Tasks whose run has ended and whose output is being taken in. */
  get beingTakenIn(): number {
    return this.takingIn.size;
  }

  /** The next task to run, while a slot is free and a task waits; none once stopped. */
  next(): ScheduledTask<Input> | undefined {
    const { concurrency } = this.settings;
    if (this.stopped || this.out.size >= concurrency || this.out.size + this.takingIn.size >= 2 * concurrency)
      return undefined;
    const task = this.waiting.shift();
    if (task) this.out.add(keyOf(task));
    return task;
  }

  /**
   * The task's run has ended and its output is being taken in: its slot is free for the next
   * task. It is reported as succeeded once its output is in.
   */
  ran(task: ScheduledTask<Input>): void {
    const key = keyOf(task);
    if (!this.out.delete(key)) throw new Error(`task ${key} ended without running, or twice`);
    this.takingIn.add(key);
  }

  /** A task's output has been accepted: its stage may be done, and later stages may start. */
  succeeded(task: ScheduledTask<Input>): void {
    this.report(task);
    const left = this.remaining.get(task.stageId)! - 1;
    this.remaining.set(task.stageId, left);
    if (left === 0) this.finishStage(task.stageId);
  }

  /**
   * The task was lost with its worker. True: it waits to run again, first in line; false: it
   * has had its attempts, and the job should fail.
   */
  lost(task: ScheduledTask<Input>): boolean {
    this.report(task);
    if (task.attempt >= this.settings.taskAttempts) return false;
    this.waiting.unshift({ ...task, attempt: task.attempt + 1 });
    return true;
  }

  /** Hands out nothing more (the job failed or was stopped); tasks under way may still report. */
  stop(): void {
    this.stopped = true;
  }

  private report(task: ScheduledTask<Input>): void {
    const key = keyOf(task);
    if (!this.out.delete(key) && !this.takingIn.delete(key)) {
      throw new Error(`task ${key} reported without being handed out, or twice`);
    }
  }

  private startReadyStages(): void {
    for (const stage of this.stages) {
      if (this.started.has(stage.id) || !stage.dependsOn.every((id) => this.done.has(id))) continue;
      this.started.add(stage.id);
      const inputs = this.settings.startStage(stage.id);
      this.remaining.set(stage.id, inputs.length);
      inputs.forEach((input, taskIndex) => {
        this.waiting.push({ stageId: stage.id, taskIndex, attempt: 1, input });
      });
      if (inputs.length === 0) this.finishStage(stage.id);
    }
  }

  private finishStage(stageId: number): void {
    this.done.add(stageId);
    this.settings.stageDone?.(stageId);
    this.startReadyStages();
  }
}

function keyOf(task: { stageId: number; taskIndex: number }): string {
  return `${task.stageId}/${task.taskIndex}`;
}
