import { messageOf, SluiceError } from "../errors.js";
import { executeTask } from "../executor.js";
import type { TaskResult, TaskSpec } from "../task.js";
import type { Plan } from "../stages.js";
import type { RejectedOutput } from "../pipeline.js";
import type { TaskExecutor } from "./job.js";

/**
 * Runs every task in this thread, one at a time: the reference semantics. It still encodes shuffle
 * blocks exactly as the pool does, so that both runners see the same data.
 */
export class DirectExecutor implements TaskExecutor {
  readonly concurrency = 1;

  constructor(
    private readonly plan: Plan,
    private readonly rejected: RejectedOutput,
  ) {}

  async run(spec: TaskSpec): Promise<TaskResult> {
    try {
      return await executeTask(this.plan, spec, { sink: this.rejected.sink });
    } catch (error) {
      // In this thread every failure is the task's own: nothing to retry.
      // The error as thrown stays the cause: its stack leads into the function that threw.
      throw error instanceof SluiceError ? error : new SluiceError(messageOf(error), { cause: error });
    }
  }

  async close(): Promise<void> {}
}
