import { executeTask, type TaskResult, type TaskSpec } from "../executor.js";
import type { Plan } from "../plan.js";
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

  run(spec: TaskSpec): Promise<TaskResult> {
    return executeTask(this.plan, spec, { sink: this.rejected.sink });
  }

  async close(): Promise<void> {}
}
