import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { availableParallelism, hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { type Job, Worker } from "bullmq";
import {
  type BlockRef,
  DEFAULT_WORKER_OLD_GENERATION_MB,
  DEFAULT_WORKER_YOUNG_GENERATION_MB,
  messageOf,
  SLUICE_BUILD,
  SluiceError,
  type TaskInput,
  type TaskSpec,
  ThreadPool,
  type ThreadTaskHeader,
  threadTaskHeader,
  WorkerDiedError,
} from "../core/index.js";
import {
  DEFAULT_QUEUE,
  recordKey,
  type RunRecord,
  runKey,
  type TaskJob,
  type TaskJobOutcome,
} from "./protocol.js";
import { connect, redisFailure, within } from "./redis.js";
import { ShuffleObjects } from "./shuffle-objects.js";
import { packResult, unpackSpec } from "./wire.js";
import { makeFolders } from "../io/folders.js";

export interface ClusterWorkerOptions {
  /** The Redis (or Valkey) server drivers queue tasks on: `redis://host:6379`. */
  readonly redis: string;
  /** The queue to take tasks from; default `sluice`. */
  readonly queue?: string;
  /** Tasks run at once, each on a thread of its own; default one per core. */
  readonly concurrency?: number;
  /**
   * How long a task's lease lasts without renewal (renewed at half of it while the task runs):
   * a worker silent for longer is taken for dead and its task runs elsewhere. Default 30 s.
   */
  readonly leaseMs?: number;
  /** Parent of the folder where fetched shuffle blocks and spills wait; default the OS temporary folder. */
  readonly tempDir?: string;
  /**
   * The old-generation heap of each thread, in MiB; default `DEFAULT_WORKER_OLD_GENERATION_MB`
   * (1 GiB), as the pool runner's `workerResourceLimits`. A task that exhausts it fails the run
   * saying so, after its retries; on some allocations Node aborts the worker's whole process
   * instead (nodejs/node#47224), and the driver sees the worker gone.
   */
  readonly maxOldGenerationSizeMb?: number;
  /** Where the worker says what it does (one line each); default nowhere. */
  readonly log?: (line: string) => void;
}

export interface ClusterWorker {
  /** Stops taking tasks, lets the ones under way finish, and stops the threads. */
  close(): Promise<void>;
}

/** What a worker knows of a run it has taken tasks of. */
interface KnownRun {
  readonly record: RunRecord;
  /** The record's task header as the pool's threads take it, made once per run. */
  readonly header: ThreadTaskHeader;
  readonly objects: ShuffleObjects;
  readonly folder: string;
  /** Lookup tables fetched once per run, by stage and node. */
  readonly tables: Map<string, Promise<BlockRef[]>>;
}

/**
 * A long-lived worker: takes tasks of any run of any pipeline from a BullMQ queue, runs each on a
 * thread of its own pool (the same threads the pool runner uses), writes the task's output blocks
 * to the run's shuffle location and answers their places.
 */
export async function startClusterWorker(options: ClusterWorkerOptions): Promise<ClusterWorker> {
  const queueName = options.queue ?? DEFAULT_QUEUE;
  const concurrency = options.concurrency ?? availableParallelism();
  const leaseMs = options.leaseMs ?? 30_000;
  const log = options.log ?? (() => undefined);
  const host = `${hostname()}:${process.pid}`;
  const root = await mkdtemp(join(options.tempDir ?? tmpdir(), "sluice-worker-"));
  const redis = connect(options.redis, false);
  try {
    await within(redis.ping(), 10_000, `Redis at ${options.redis}`);
  } catch (error) {
    redis.disconnect();
    await rm(root, { recursive: true, force: true });
    throw new SluiceError(`cannot reach Redis at ${options.redis}: ${redisFailure(redis, error)}`);
  }
  const pool = new ThreadPool({
    threads: concurrency,
    v8HelperThreads: "on",
    resourceLimits: {
      maxOldGenerationSizeMb: options.maxOldGenerationSizeMb ?? DEFAULT_WORKER_OLD_GENERATION_MB,
      maxYoungGenerationSizeMb: DEFAULT_WORKER_YOUNG_GENERATION_MB,
    },
  });
  const runs = new Map<string, Promise<KnownRun>>();

  const alive = async (runId: string) => (await redis.exists(runKey(queueName, runId))) === 1;

  const knownRun = (runId: string): Promise<KnownRun> => {
    let entry = runs.get(runId);
    if (!entry) {
      entry = (async () => {
        const text = await redis.get(recordKey(queueName, runId));
        if (text === null) throw new Error(`run ${runId} left no record on Redis`);
        const record = JSON.parse(text) as RunRecord;
        if (record.build !== SLUICE_BUILD) {
          throw new Error(
            `worker ${host} runs ${SLUICE_BUILD} and the driver on ${record.driverHost} ${record.build ?? "an older sluice"}: run workers from the same image (or checkout and build) as the driver`,
          );
        }
        for (const probe of record.probes)
          checkProbe(probe.folder, probe.file, probe.token, record.driverHost);
        const folder = join(root, runId);
        await makeFolders(folder);
        return {
          record,
          header: threadTaskHeader(record.header),
          objects: new ShuffleObjects(record.shuffle, record.s3),
          folder,
          tables: new Map(),
        };
      })();
      entry.catch(() => runs.delete(runId));
      runs.set(runId, entry);
    }
    return entry;
  };

  const fetchInput = async (run: KnownRun, spec: TaskSpec, folder: string): Promise<TaskSpec> => {
    let input: TaskInput = spec.input;
    if (input.kind === "partitions") {
      const flat = input.partitions.flatMap((entry) => entry.blocks);
      const fetched = await run.objects.fetch(flat, join(folder, "input.blocks"));
      let next = 0;
      input = {
        kind: "partitions",
        partitions: input.partitions.map((entry) => ({
          partition: entry.partition,
          blocks: entry.blocks.map(() => fetched[next++]!),
        })),
      };
    }
    const tables: Record<number, BlockRef[]> = {};
    for (const [nodeId, blocks] of Object.entries(spec.tables ?? {})) {
      const key = `${spec.stageId}/${nodeId}`;
      let table = run.tables.get(key);
      if (!table) {
        table = run.objects.fetch(blocks, join(run.folder, `table-${spec.stageId}-${nodeId}.blocks`));
        table.catch(() => run.tables.delete(key));
        run.tables.set(key, table);
      }
      tables[Number(nodeId)] = await table;
    }
    return { ...spec, input, tables, spillDirectory: folder };
  };

  const runTask = async (job: Job<TaskJob>): Promise<TaskJobOutcome> => {
    const { runId, attempt } = job.data;
    const spec = unpackSpec(job.data.spec);
    if (!(await alive(runId))) return { abandoned: true, host };
    let run: KnownRun;
    try {
      run = await knownRun(runId);
    } catch (error) {
      return { taskFailed: messageOf(error), host };
    }
    const folder = await mkdtemp(join(run.folder, `s${spec.stageId}-t${spec.taskIndex}-`));
    try {
      let local: TaskSpec;
      try {
        local = await fetchInput(run, spec, folder);
      } catch (error) {
        return { taskFailed: `could not fetch the task's shuffle input: ${messageOf(error)}`, host };
      }
      let outcome: Awaited<ReturnType<ThreadPool["outcomeOf"]>>;
      try {
        outcome = await pool.outcomeOf({ ...run.header, spec: local });
      } catch (error) {
        if (error instanceof WorkerDiedError) {
          return { workerDied: error.message, ...(error.code ? { code: error.code } : {}), host };
        }
        return { taskFailed: messageOf(error), host };
      }
      if ("taskFailed" in outcome) return { ...outcome, host };
      const object = run.objects.objectFor(runId, spec.stageId, spec.taskIndex, attempt);
      let stored: Awaited<ReturnType<ShuffleObjects["store"]>>;
      try {
        stored = await run.objects.store(outcome, object);
      } catch (error) {
        return { taskFailed: messageOf(error), host };
      }
      if (!(await alive(runId).catch(() => true))) {
        // The run ended while this task ran (it was given up on, or its driver died): nobody
        // will read the object, and the driver has already removed the run's others.
        await run.objects.remove(object).catch(() => undefined);
        return { abandoned: true, host };
      }
      log(`${job.id}: ${stored.bytes} shuffle byte(s)`);
      return { result: packResult(stored.result), host };
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  };

  // BullMQ leaves connections it was given open when it closes: the worker closes them itself.
  const workerConnection = connect(options.redis, true);
  const worker = new Worker<TaskJob, TaskJobOutcome>(queueName, runTask, {
    connection: workerConnection,
    concurrency,
    lockDuration: leaseMs,
    stalledInterval: Math.max(1000, Math.floor(leaseMs / 2)),
    // A task whose worker went silent fails at once in BullMQ's eyes; the driver runs it again
    // (its own bounded attempts), so that one rule decides retries on every runner.
    maxStalledCount: 0,
    name: host,
  });
  worker.on("error", (error) => log(`queue: ${messageOf(error)}`));

  // Folders of runs that have ended (their driver's key is gone) are removed now and then.
  const sweeper = setInterval(() => {
    void (async () => {
      for (const name of await readdir(root).catch(() => [] as string[])) {
        if (await alive(name).catch(() => true)) continue;
        runs.delete(name);
        await rm(join(root, name), { recursive: true, force: true });
      }
    })().catch(() => undefined);
  }, 30_000);
  sweeper.unref();

  await worker.waitUntilReady();
  const heapMb = options.maxOldGenerationSizeMb ?? DEFAULT_WORKER_OLD_GENERATION_MB;
  log(
    `taking tasks from queue '${queueName}' on ${options.redis} with ${concurrency} thread(s) of ${heapMb} MiB of heap each, as ${host}`,
  );

  return {
    async close() {
      clearInterval(sweeper);
      await worker.close();
      await pool.close();
      workerConnection.disconnect();
      redis.disconnect();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Fails when this machine does not see `folder` as the driver's machine does. */
function checkProbe(folder: string, file: string, token: string, driverHost: string): void {
  let found: string | undefined;
  try {
    found = readFileSync(file, "utf8");
  } catch {}
  if (found !== token) {
    throw new Error(
      `the folder ${folder} on ${driverHost} is not the one this worker (${hostname()}) sees at that path: a local folder works on the cluster runner only where every machine mounts the same one at the same path; use s3:// (or mount it on every worker)`,
    );
  }
}
