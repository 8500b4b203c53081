import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Job, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import {
  type BlockRef,
  messageOf,
  type RunContext,
  type Runner,
  SLUICE_BUILD,
  SluiceError,
  type TaskExecutor,
  type TaskResult,
  type TaskSpec,
  transformErrorOf,
  WorkerDiedError,
  workerTaskHeader,
} from "../core/index.js";
import type { S3Settings } from "../io/index.js";
import {
  DEFAULT_QUEUE,
  type FolderProbe,
  jobIdOf,
  recordKey,
  type RunRecord,
  runKey,
  runOfJobId,
  type TaskJob,
  type TaskJobOutcome,
} from "./protocol.js";
import { connect, redisFailure, within } from "./redis.js";
import { ShuffleObjects } from "./shuffle-objects.js";
import { packSpec, unpackResult } from "./wire.js";
import { makeFolders } from "../io/folders.js";

export interface ClusterOptions {
  /** The Redis (or Valkey) server the workers take tasks from: `redis://host:6379`. */
  readonly redis: string;
  /** Where the shuffle goes: `s3://bucket/prefix`, or a folder every machine mounts at the same path. */
  readonly shuffle: string;
  /** The queue the workers listen on; default `sluice`. */
  readonly queue?: string;
  /** Tasks the workers run at once, in all: partitions and read tasks are sized by it. Default 8. */
  readonly slots?: number;
  /** How to reach S3 for the shuffle (the workers use the same). */
  readonly s3?: S3Settings;
  /** How long a run waits for a worker to listen on its queue before it fails; default 60 s. */
  readonly workerWaitMs?: number;
  /** How long Redis may be unreachable before the run fails; default 10 s. */
  readonly redisTimeoutMs?: number;
  /**
   * How long the run outlives a driver that stopped renewing it (killed, say): past it, workers
   * drop its jobs and the next run on the queue removes what it left. Default 15 s; at least 3 s.
   */
  readonly runLeaseMs?: number;
}

/** How often the driver renews its run's liveness and looks after its jobs. */
const WATCH_MS = 1000;
/** A run whose driver has not renewed its key for this long is dead: workers drop its jobs. */
const DEFAULT_RUN_LEASE_MS = 15_000;

/**
 * The cluster runner: the scheduler stays here (plans, stages, retries, progress, the commit);
 * its tasks go to a BullMQ queue on Redis, `sluice worker` processes on any machine run them, and
 * the shuffle lies in shared storage.
 *
 * @example
 * await pipeline.run(options, { runner: cluster({ redis: "redis://queue:6379", shuffle: "s3://bucket/shuffle" }) });
 */
export function cluster(options: ClusterOptions): Runner {
  const slots = options.slots ?? 8;
  if (!Number.isInteger(slots) || slots < 1) {
    throw new SluiceError(`slots must be a positive integer, got ${slots}`);
  }
  const lease = options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS;
  if (!Number.isInteger(lease) || lease < 3 * WATCH_MS) {
    throw new SluiceError(`runLeaseMs must be an integer of at least ${3 * WATCH_MS}, got ${lease}`);
  }
  if (!options.shuffle)
    throw new SluiceError("the cluster runner needs a shuffle location (shuffle: 's3://bucket/prefix')");
  return {
    name: "cluster",
    parallelism: slots,
    executor: (context) => ClusterExecutor.start(options, slots, context),
  };
}

interface Pending {
  readonly resolve: (outcome: TaskJobOutcome) => void;
  readonly reject: (error: unknown) => void;
}

class ClusterExecutor implements TaskExecutor {
  readonly concurrency: number;
  readonly parallelism: number;
  readonly raiseHeap = "start the cluster's workers with a larger --heap (sluice worker --heap 2GiB)";
  private readonly queueName: string;
  private readonly pending = new Map<string, Pending>();
  /** Every job this run added, to remove them when it ends. */
  private readonly jobIds = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private watcher: NodeJS.Timeout | undefined;
  private redisLostSince: number | undefined;
  private noWorkerSince: number | undefined;
  /** Whether a worker has taken a task of this run: then workers that vanish have stopped, not never come. */
  private tasksTaken = false;
  private failure: Error | undefined;
  private closed = false;
  private fetchFolder: string | undefined;
  private prepared: Promise<void> | undefined;
  private readonly probes: FolderProbe[] = [];

  private constructor(
    private readonly options: ClusterOptions,
    private readonly context: RunContext,
    private readonly redis: Redis,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly eventsConnection: Redis,
    private readonly objects: ShuffleObjects,
    slots: number,
  ) {
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    this.parallelism = slots;
    // Tasks waiting in the queue cost nothing but a few bytes in Redis, and the workers take
    // them as they free up: hand out a few rounds of them at once.
    this.concurrency = Math.max(16, 4 * slots);
  }

  static async start(options: ClusterOptions, slots: number, context: RunContext): Promise<ClusterExecutor> {
    const queueName = options.queue ?? DEFAULT_QUEUE;
    const redis = connect(options.redis, false);
    try {
      await within(redis.ping(), options.redisTimeoutMs ?? 10_000, `Redis at ${options.redis}`);
    } catch (error) {
      redis.disconnect();
      throw new SluiceError(`cannot reach Redis at ${options.redis}: ${redisFailure(redis, error)}`);
    }
    const objects = new ShuffleObjects(options.shuffle, options.s3 ?? {});
    const queue = new Queue(queueName, { connection: redis });
    const eventsConnection = connect(options.redis, true);
    const events = new QueueEvents(queueName, { connection: eventsConnection });
    try {
      // The run is alive from here: a worker that takes one of its jobs finds it so.
      await redis.set(
        runKey(queueName, context.runId),
        hostname(),
        "PX",
        options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
      );
      await events.waitUntilReady();
      await sweepDeadRuns(redis, queue, queueName, objects);
    } catch (error) {
      await Promise.allSettled([queue.close(), events.close()]);
      eventsConnection.disconnect();
      redis.disconnect();
      throw new SluiceError(`cannot start the run on Redis at ${options.redis}: ${messageOf(error)}`);
    }
    const executor = new ClusterExecutor(
      options,
      context,
      redis,
      queue,
      events,
      eventsConnection,
      objects,
      slots,
    );
    executor.listen();
    return executor;
  }

  private listen(): void {
    this.events.on("completed", ({ jobId, returnvalue }) => {
      const outcome = (
        typeof returnvalue === "string" ? JSON.parse(returnvalue) : returnvalue
      ) as TaskJobOutcome;
      this.settle(jobId, outcome);
    });
    this.events.on("failed", ({ jobId, failedReason }) => {
      this.settleFailed(jobId, failedReason);
    });
    this.events.on("stalled", ({ jobId }) => {
      // The worker holding it stopped renewing its lease (it died, or froze): run it again now,
      // and take this job out of the queue so that nobody runs it a second time as it stands.
      if (!this.pending.has(jobId)) return;
      this.settleFailed(jobId, "its worker stopped renewing the task's lease (it died or froze)");
      this.queue.remove(jobId).catch(() => undefined);
    });
    this.events.on("error", () => undefined);
    this.watcher = setInterval(() => {
      this.watch().catch(() => undefined);
    }, WATCH_MS);
    this.watcher.unref();
  }

  private settle(jobId: string, outcome: TaskJobOutcome): void {
    const waiter = this.pending.get(jobId);
    if (!waiter) return; // another run's job, or an attempt already given up on
    this.pending.delete(jobId);
    this.tasksTaken = true;
    waiter.resolve(outcome);
  }

  private settleFailed(jobId: string, reason: string): void {
    const waiter = this.pending.get(jobId);
    if (!waiter) return;
    this.pending.delete(jobId);
    this.tasksTaken = true;
    waiter.reject(new WorkerDiedError(`the task was lost with its worker: ${reason}`));
  }

  /** Fails every task under way with `error` (the run cannot go on). */
  private failAll(error: Error): void {
    this.failure ??= error;
    for (const [jobId, waiter] of this.pending) {
      this.pending.delete(jobId);
      waiter.reject(this.failure);
    }
  }

  /**
   * Once a second: renews the run's liveness, notices a Redis that is gone or a queue nobody
   * listens on (which would otherwise be a run that waits forever), and picks up results whose
   * event it missed (QueueEvents reads a stream; a reconnection can skip entries).
   */
  private async watch(): Promise<void> {
    if (this.closed) return;
    const timeoutMs = this.options.redisTimeoutMs ?? 10_000;
    const now = Date.now();
    try {
      await within(
        this.redis.set(
          runKey(this.queueName, this.context.runId),
          hostname(),
          "PX",
          this.options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
        ),
        Math.min(timeoutMs, 5000),
        "renewing the run",
      );
      this.redisLostSince = undefined;
    } catch (error) {
      this.redisLostSince ??= now;
      if (now - this.redisLostSince >= timeoutMs) {
        this.failAll(
          new SluiceError(
            `lost Redis at ${this.options.redis} for ${Math.round((now - this.redisLostSince) / 1000)} s (${redisFailure(this.redis, error)}): the run stops, nothing committed`,
          ),
        );
      }
      return;
    }
    if (this.pending.size === 0) {
      this.noWorkerSince = undefined;
      return;
    }
    const workers = await this.queue.getWorkersCount().catch(() => undefined);
    if (workers === 0) {
      this.noWorkerSince ??= now;
      const waitMs = this.options.workerWaitMs ?? 60_000;
      if (now - this.noWorkerSince >= waitMs) {
        const start = `start some with \`sluice worker --redis ${this.options.redis}${this.queueName === DEFAULT_QUEUE ? "" : ` --queue ${this.queueName}`}\``;
        const where = `queue '${this.queueName}' on ${this.options.redis}`;
        const seconds = Math.round(waitMs / 1000);
        this.failAll(
          new SluiceError(
            this.tasksTaken
              ? // A worker process can die of one thread's heap (Node aborts the whole process on
                // some allocations past a thread's limit): say where to look, and what helps.
                `every sluice worker on ${where} stopped while this run's tasks were under way, and none came back for ${seconds} s: their logs say why (a worker whose thread runs out of memory can die with it: give workers a larger --heap); ${start}`
              : `no sluice worker has taken tasks from ${where} for ${seconds} s: ${start}`,
          ),
        );
      }
    } else if (workers !== undefined) {
      this.noWorkerSince = undefined;
    }
    for (const jobId of [...this.pending.keys()]) {
      const job = await Job.fromId(this.queue, jobId).catch(() => undefined);
      if (!job) continue;
      if (job.processedOn) this.tasksTaken = true;
      if (job.finishedOn && job.returnvalue !== null && job.returnvalue !== undefined && !job.failedReason) {
        this.settle(jobId, job.returnvalue as TaskJobOutcome);
      } else if (job.failedReason && job.finishedOn) {
        this.settleFailed(jobId, job.failedReason);
      }
    }
  }

  /**
   * Writes the run's record for the workers, with a probe in each local folder the run needs.
   * Done with the first task, after the outputs' committers have set up (and cleared their
   * staging folders, where the probes go).
   */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      const folders = [...this.context.localFolders];
      if (this.objects.root.kind === "local") folders.push(this.objects.root.path);
      for (const folder of folders) this.probes.push(await writeProbe(folder, this.context.runId));
      const record: RunRecord = {
        header: workerTaskHeader(this.context),
        shuffle: this.options.shuffle,
        s3: this.options.s3 ?? {},
        probes: this.probes,
        driverHost: hostname(),
        build: SLUICE_BUILD,
      };
      await this.redis.set(
        recordKey(this.queueName, this.context.runId),
        JSON.stringify(record),
        "EX",
        7 * 24 * 3600,
      );
    })();
    return this.prepared;
  }

  async run(spec: TaskSpec): Promise<TaskResult> {
    if (this.failure) throw this.failure;
    await this.prepare();
    const taskKey = `${spec.stageId}/${spec.taskIndex}`;
    const attempt = (this.attempts.get(taskKey) ?? 0) + 1;
    this.attempts.set(taskKey, attempt);
    const jobId = jobIdOf(this.context.runId, spec.stageId, spec.taskIndex, attempt);
    const data: TaskJob = { runId: this.context.runId, attempt, spec: packSpec(spec) };
    const outcome = new Promise<TaskJobOutcome>((resolve, reject) => {
      this.pending.set(jobId, { resolve, reject });
    });
    this.jobIds.add(jobId);
    try {
      await this.queue.add("task", data, {
        jobId,
        attempts: 1,
        removeOnComplete: false,
        removeOnFail: false,
      });
    } catch (error) {
      this.pending.delete(jobId);
      throw new SluiceError(`could not queue a task on Redis at ${this.options.redis}: ${messageOf(error)}`);
    }
    const answer = await outcome;
    // Its result is in hand: the job need not hold it in Redis any longer.
    this.queue.remove(jobId).catch(() => undefined);
    if ("result" in answer) return unpackResult(answer.result);
    if ("taskFailed" in answer) {
      const where = ` (on worker ${answer.host})`;
      if (answer.transform) throw transformErrorOf(answer.transform);
      throw new SluiceError(`${answer.taskFailed}${where}`);
    }
    if ("workerDied" in answer) {
      throw new WorkerDiedError(`a thread of worker ${answer.host} died: ${answer.workerDied}`, answer.code);
    }
    throw new SluiceError(`worker ${answer.host} found the run ended when it took the task`);
  }

  async fetchBlocks(blocks: readonly BlockRef[]): Promise<BlockRef[]> {
    this.fetchFolder ??= await mkdtemp(join(tmpdir(), `sluice-${this.context.runId}-fetch-`));
    return this.objects.fetch(blocks, join(this.fetchFolder, `${randomBytes(4).toString("hex")}.blocks`));
  }

  /**
   * Ends the run: its jobs still waiting leave the queue, jobs under way are waited for (a
   * bounded time) so that nothing writes after the staged output is removed, and its shuffle
   * objects, record and probes are removed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watcher);
    const queueName = this.queueName;
    const runId = this.context.runId;
    const redisUp = this.redisLostSince === undefined;
    for (const waiter of this.pending.values()) waiter.reject(new SluiceError("the run ended"));
    this.pending.clear();
    if (redisUp) {
      await within(
        (async () => {
          await this.redis.del(runKey(queueName, runId));
          await waitForActiveJobs(this.queue, [...this.jobIds], 30_000);
          for (const jobId of this.jobIds) await this.queue.remove(jobId).catch(() => undefined);
          await this.redis.del(recordKey(queueName, runId));
          // Jobs of dead runs that were still running when this run started have ended by now.
          await sweepDeadRuns(this.redis, this.queue, queueName, this.objects);
        })(),
        40_000,
        "ending the run's jobs",
      ).catch(() => undefined);
    }
    await this.objects.removeRun(runId).catch(() => undefined);
    await removeProbes(this.probes);
    if (this.fetchFolder) await rm(this.fetchFolder, { recursive: true, force: true });
    await Promise.allSettled([
      within(this.events.close(), 5000, "closing"),
      within(this.queue.close(), 5000, "closing"),
    ]);
    this.eventsConnection.disconnect();
    this.redis.disconnect();
  }
}

/** Writes a file with a random token into `folder`, for workers to prove they see the folder. */
async function writeProbe(folder: string, runId: string): Promise<FolderProbe> {
  const token = randomBytes(16).toString("hex");
  const file = join(folder, "_temporary", `.probe-${runId}`);
  try {
    await makeFolders(join(folder, "_temporary"));
    await writeFile(file, token);
  } catch (error) {
    throw new SluiceError(`cannot write into ${folder}: ${messageOf(error)}`);
  }
  return { folder, file, token };
}

async function removeProbes(probes: readonly FolderProbe[]): Promise<void> {
  for (const probe of probes) await rm(probe.file, { force: true }).catch(() => undefined);
}

async function waitForActiveJobs(queue: Queue, jobIds: readonly string[], limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (const jobId of jobIds) {
    while (Date.now() < deadline) {
      const state = await queue.getJobState(jobId).catch(() => "unknown");
      if (state !== "active") break;
      // A job stays active after its worker died until another worker finds it stalled; with no
      // worker listening, nothing runs it, and there is nothing to wait for.
      if ((await queue.getWorkersCount().catch(() => undefined)) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * Removes what runs whose driver died left behind: their waiting jobs (a worker would only drop
 * them) and their shuffle objects in this run's shuffle location.
 */
async function sweepDeadRuns(
  redis: Redis,
  queue: Queue,
  queueName: string,
  objects: ShuffleObjects,
): Promise<void> {
  const alive = async (runId: string) => (await redis.exists(runKey(queueName, runId))) === 1;
  const waiting = await queue.getJobs(["waiting", "delayed", "prioritized", "paused"]);
  for (const job of waiting) {
    if (job?.id && !(await alive(runOfJobId(job.id)))) await job.remove().catch(() => undefined);
  }
  const finished = await queue.getJobs(["completed", "failed"]);
  for (const job of finished) {
    if (job?.id && !(await alive(runOfJobId(job.id)))) await job.remove().catch(() => undefined);
  }
  for (const runId of await objects.runsStored().catch(() => [])) {
    if (!(await alive(runId))) await objects.removeRun(runId).catch(() => undefined);
  }
}
