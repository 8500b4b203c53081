// What crosses Redis between a driver and the workers: JSON only, under keys scoped to a queue.
import type { TransformFailure, WorkerTaskHeader } from "../core/index.js";
import type { S3Settings } from "../io/index.js";
import type { PackedResult, PackedSpec } from "./wire.js";

/** The queue drivers and workers meet on unless told otherwise. */
export const DEFAULT_QUEUE = "sluice";

/** BullMQ's own keys start with `bull:`; ours sit beside them. */
export function runKey(queue: string, runId: string): string {
  return `sluice:${queue}:run:${runId}`;
}

/** What every task of a run shares, written once by the driver and read once per run by a worker. */
export function recordKey(queue: string, runId: string): string {
  return `sluice:${queue}:run:${runId}:record`;
}

/** A file the driver wrote in a local folder the run needs; a worker that cannot read it does not see the folder. */
export interface FolderProbe {
  readonly folder: string;
  readonly file: string;
  readonly token: string;
}

export interface RunRecord {
  readonly header: WorkerTaskHeader;
  /** The shuffle location (`s3://bucket/prefix` or a shared folder) and how to reach it. */
  readonly shuffle: string;
  readonly s3: S3Settings;
  readonly probes: readonly FolderProbe[];
  /** The host the driver runs on, for messages. */
  readonly driverHost: string;
  /** The driver's sluice (SLUICE_BUILD): a worker of another one refuses the run's tasks. */
  readonly build: string;
}

/** The data of one BullMQ job: one attempt of one task. */
export interface TaskJob {
  readonly runId: string;
  /** The driver's attempt of this task (1 for the first). */
  readonly attempt: number;
  readonly spec: PackedSpec;
}

/** What a worker answers for a job; a thrown error is kept for the worker's own failures. */
export type TaskJobOutcome =
  /** The task succeeded; its blocks are ranges of the attempt's shuffle object. */
  | { readonly result: PackedResult; readonly host: string }
  /** The task failed in its own code or data: the same on any worker, not retried. */
  | {
      readonly taskFailed: string;
      readonly transform?: TransformFailure;
      readonly host: string;
    }
  /** The thread running it died (an exhausted heap, say): worth running again. */
  | { readonly workerDied: string; readonly code?: string; readonly host: string }
  /** The run had ended when the worker took the job. */
  | { readonly abandoned: true; readonly host: string };

/** The id of a job: unique per run, task and attempt (BullMQ refuses ids with a colon). */
export function jobIdOf(runId: string, stageId: number, taskIndex: number, attempt: number): string {
  return `${runId}.s${stageId}.t${taskIndex}.a${attempt}`;
}

/** The run a job id belongs to. */
export function runOfJobId(jobId: string): string {
  return jobId.replace(/\.s\d+\.t\d+\.a\d+$/, "");
}
