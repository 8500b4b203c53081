/**
 * The scheduler on its own, driven by a fake executor through every interleaving of completions
 * and worker deaths a property test reaches: stages start only after what they read, no more
 * tasks run than the concurrency (and no more outputs wait to be taken in), each task succeeds
 * once (retried after a death up to its attempts, then the job gives up), and the job is finished
 * exactly when every stage is.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type ScheduledTask, Scheduler, type SchedulerStage } from "../src/core/runner/scheduler.js";

/** Stages in topological order (each reads only earlier ones), with their task counts. */
const jobArbitrary = fc
  .array(fc.record({ tasks: fc.integer({ min: 0, max: 5 }), reads: fc.array(fc.nat(), { maxLength: 3 }) }), {
    minLength: 1,
    maxLength: 6,
  })
  .map((drafts) =>
    drafts.map((draft, id) => ({
      id,
      tasks: draft.tasks,
      dependsOn: id === 0 ? [] : [...new Set(draft.reads.map((read) => read % id))],
    })),
  );

describe("the scheduler", () => {
  it("keeps its rules under any order of completions and worker deaths", () => {
    fc.assert(
      fc.property(
        jobArbitrary,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        // At each step: which task reports (running, or having its output taken in), and how.
        fc.infiniteStream(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 4 }))),
        (job, concurrency, taskAttempts, choices) => {
          const startedStages: number[] = [];
          const doneStages: number[] = [];
          const succeeded = new Map<string, number>();
          const scheduler = new Scheduler<string>(job as SchedulerStage[], {
            concurrency,
            taskAttempts,
            startStage: (stageId) => {
              const stage = job[stageId]!;
              for (const read of stage.dependsOn)
                assert.ok(doneStages.includes(read), `${stageId} before ${read}`);
              assert.ok(!startedStages.includes(stageId), `stage ${stageId} started twice`);
              startedStages.push(stageId);
              return Array.from({ length: stage.tasks }, (_, index) => `input ${stageId}/${index}`);
            },
            stageDone: (stageId) => {
              assert.ok(!doneStages.includes(stageId), `stage ${stageId} done twice`);
              doneStages.push(stageId);
            },
          });
          const running: ScheduledTask<string>[] = [];
          /** Tasks whose run ended and whose output is being taken in. */
          const takingIn: ScheduledTask<string>[] = [];
          const steps = choices[Symbol.iterator]();
          let gaveUp = false;
          for (let step = 0; step < 500 && !scheduler.finished; step++) {
            for (let task = scheduler.next(); task; task = scheduler.next()) {
              assert.ok(
                doneStages.every((id) => id !== task!.stageId),
                "a task of a finished stage",
              );
              for (const read of job[task.stageId]!.dependsOn) assert.ok(doneStages.includes(read));
              assert.equal(task.input, `input ${task.stageId}/${task.taskIndex}`, "a retry keeps its input");
              running.push(task);
            }
            assert.ok(running.length <= concurrency, `${running.length} running, concurrency ${concurrency}`);
            assert.ok(
              running.length + takingIn.length <= 2 * concurrency,
              `${running.length} running and ${takingIn.length} taken in, concurrency ${concurrency}`,
            );
            assert.equal(scheduler.running, running.length);
            assert.equal(scheduler.beingTakenIn, takingIn.length);
            assert.ok(running.length + takingIn.length > 0, "nothing runs, yet the job is not finished");
            const [pick, fate] = steps.next().value as [number, number];
            const index = pick % (running.length + takingIn.length);
            if (index >= running.length) {
              // An output taken in: the task succeeds.
              const [task] = takingIn.splice(index - running.length, 1) as [ScheduledTask<string>];
              const key = `${task.stageId}/${task.taskIndex}`;
              succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
              scheduler.succeeded(task);
              continue;
            }
            const [task] = running.splice(index, 1) as [ScheduledTask<string>];
            if (fate === 1) {
              // The run ended; its output is taken in while the next task runs.
              scheduler.ran(task);
              takingIn.push(task);
              continue;
            }
            if (fate === 0) {
              // The worker died: the task runs again, or the job gives up after its attempts.
              if (!scheduler.lost(task)) {
                assert.equal(task.attempt, taskAttempts);
                gaveUp = true;
                scheduler.stop();
                break;
              }
            } else {
              const key = `${task.stageId}/${task.taskIndex}`;
              succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
              scheduler.succeeded(task);
            }
          }
          if (gaveUp) {
            assert.equal(scheduler.next(), undefined, "nothing is handed out after the job gave up");
            return;
          }
          assert.ok(scheduler.finished);
          assert.deepEqual([...doneStages].sort(), job.map((stage) => stage.id).sort());
          const expected = job.flatMap((stage) =>
            Array.from({ length: stage.tasks }, (_, index) => `${stage.id}/${index}`),
          );
          assert.deepEqual([...succeeded.keys()].sort(), expected.sort());
          assert.ok(
            [...succeeded.values()].every((times) => times === 1),
            "each task succeeds once",
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses a task reported or ended twice, and one never handed out", () => {
    const scheduler = new Scheduler<string>([{ id: 0, dependsOn: [] }], {
      concurrency: 2,
      taskAttempts: 1,
      startStage: () => ["a", "b"],
    });
    const first = scheduler.next()!;
    scheduler.ran(first);
    assert.throws(() => scheduler.ran(first), /ended without running, or twice/);
    scheduler.succeeded(first);
    assert.throws(() => scheduler.succeeded(first), /reported without being handed out, or twice/);
    assert.throws(
      () => scheduler.succeeded({ stageId: 0, taskIndex: 1, attempt: 1, input: "b" }),
      /reported without being handed out/,
    );
  });

  it("finishes a job whose stages have no tasks without handing any out", () => {
    const scheduler = new Scheduler<string>(
      [
        { id: 0, dependsOn: [] },
        { id: 1, dependsOn: [0] },
      ],
      { concurrency: 1, taskAttempts: 1, startStage: () => [] },
    );
    assert.ok(scheduler.finished);
    assert.equal(scheduler.next(), undefined);
  });
});
