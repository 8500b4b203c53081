import { createHash } from "node:crypto";
import type { StateReading } from "../module-state.js";
import type { PlanSettings } from "../plan.js";
import type { ThreadTask, WorkerTask } from "./worker.js";
import type { WorkerPreload } from "./worker-preloads.js";

/** What a worker needs to rebuild a run's pipeline: the same on threads and on other machines. */
export interface PipelineBuild {
  readonly location: { readonly module: string; readonly name: string };
  readonly options: unknown;
  readonly planSettings: PlanSettings;
  /** The fingerprint of the graph the main thread built (fingerprint.ts). */
  readonly fingerprint: string;
  /** Past one machine: the fingerprint of its functions' code (fingerprint.ts's codeFingerprint). */
  readonly codeFingerprint?: string;
  /** What the transforms read from their modules on the main thread (module-state.ts). */
  readonly moduleState: readonly StateReading[];
  /** Modules each worker imports before the pipeline's module (worker-preloads.ts). */
  readonly preloads: readonly WorkerPreload[];
}

/** A task message without its spec: the same for every task of a run. */
export type WorkerTaskHeader = Omit<WorkerTask, "spec">;

/** The header of every task of a build: options as JSON text, and a key naming the build. */
export function workerTaskHeader(build: PipelineBuild): WorkerTaskHeader {
  const optionsJson = JSON.stringify(build.options ?? null);
  const buildKey = createHash("sha256")
    .update(JSON.stringify([build.location.module, build.location.name, build.planSettings]))
    .update(optionsJson)
    .digest("hex");
  return {
    module: build.location.module,
    name: build.location.name,
    optionsJson,
    buildKey,
    planSettings: build.planSettings,
    fingerprint: build.fingerprint,
    ...(build.codeFingerprint === undefined ? {} : { codeFingerprint: build.codeFingerprint }),
    moduleState: build.moduleState,
    preloads: build.preloads,
  };
}

/** A task header as worker threads get it: the options as bytes they share (see ThreadTask). */
export type ThreadTaskHeader = Omit<ThreadTask, "spec">;

/**
 * The header threads get, made once per run: the options' JSON copied into shared memory, which
 * every task's message then refers to instead of carrying a copy of the text.
 */
export function threadTaskHeader(header: WorkerTaskHeader): ThreadTaskHeader {
  const { optionsJson, ...rest } = header;
  const options = new SharedArrayBuffer(Buffer.byteLength(optionsJson, "utf8"));
  Buffer.from(options).write(optionsJson, "utf8");
  return { ...rest, options };
}
