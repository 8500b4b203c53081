/**
 * Real Redis servers and real `sluice worker` processes for the cluster runner's tests. The test
 * command starts one Redis for the suite (SLUICE_TEST_REDIS_URL); tests that stop Redis start their
 * own. Each test uses a queue of its own, so that workers of one test never take another's tasks.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { runKey } from "../../src/cluster/protocol.js";
import { connect } from "../../src/cluster/redis.js";

export { waitFor } from "./wait.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
export const sluiceCommand = join(root, "dist/cluster/sluice.js");

export const redisUrl = process.env.SLUICE_TEST_REDIS_URL;
export const redisUnavailable = redisUrl
  ? false
  : "SLUICE_TEST_REDIS_URL is not set: run the tests with `npm test`, which starts Redis";

export function freshQueue(): string {
  return `test-${randomBytes(4).toString("hex")}`;
}

export interface RedisServer {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): void;
}

/** A Redis server of the test's own, on a free port (for tests that stop it). */
export async function startRedis(): Promise<RedisServer> {
  if (spawnSync("sh", ["-c", "command -v redis-server"]).status !== 0) {
    throw new Error("redis-server is not installed: `npm test` installs it (apt-get) where it may");
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 30000 + Math.floor(Math.random() * 10000);
    const server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    const ready = await new Promise<boolean>((resolve) => {
      server.stdout!.on("data", (chunk) => {
        if (String(chunk).includes("Ready to accept connections")) resolve(true);
      });
      server.on("exit", () => resolve(false));
    });
    if (ready) {
      server.stdout!.resume();
      return { url: `redis://127.0.0.1:${port}`, process: server, stop: () => server.kill("SIGKILL") };
    }
  }
  throw new Error("could not start a Redis server");
}

export interface WorkerProcess {
  readonly process: ChildProcess;
  readonly pid: number;
  /** What it printed so far. */
  output(): string;
  /** SIGTERM, then waits for it to exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Starts `sluice worker` processes and waits until each listens on the queue. */
export async function startWorkers(
  count: number,
  options: {
    redis: string;
    queue: string;
    concurrency?: number;
    leaseMs?: number;
    /** Each thread's old-generation heap (`--heap`). */
    heap?: string;
    wrap?: string[];
    /** Another build's `sluice` command. */
    command?: string;
  },
): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  for (let index = 0; index < count; index++) {
    const args = [
      options.command ?? sluiceCommand,
      "worker",
      "--redis",
      options.redis,
      "--queue",
      options.queue,
      "--concurrency",
      String(options.concurrency ?? 1),
      "--lease-ms",
      String(options.leaseMs ?? 2000),
      ...(options.heap ? ["--heap", options.heap] : []),
    ];
    const [program, ...rest] = options.wrap
      ? [...options.wrap, process.execPath, ...args]
      : [process.execPath, ...args];
    const child = spawn(program!, rest, { stdio: ["ignore", "ignore", "pipe"] });
    let printed = "";
    child.stderr!.on("data", (chunk) => {
      printed += String(chunk);
    });
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (printed.includes("taking tasks")) {
          clearInterval(check);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearInterval(check);
          reject(new Error(`sluice worker exited at start: ${printed}`));
        }
      }, 50);
    });
    workers.push({
      process: child,
      pid: child.pid!,
      output: () => printed,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGCONT");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      },
    });
  }
  return workers;
}

/** The ids of every job still in the queue, whatever its state. */
export async function jobsInQueue(redis: string, queue: string): Promise<string[]> {
  const connection = connect(redis, false);
  const handle = new Queue(queue, { connection });
  try {
    const jobs = await handle.getJobs([
      "waiting",
      "delayed",
      "prioritized",
      "paused",
      "active",
      "completed",
      "failed",
    ]);
    return jobs.flatMap((job) => (job?.id ? [job.id] : []));
  } finally {
    await handle.close();
    connection.disconnect();
  }
}

/** True while a run's driver keeps its lease. */
export async function runAlive(redis: string, queue: string, runId: string): Promise<boolean> {
  const connection = connect(redis, false);
  try {
    return (await connection.exists(runKey(queue, runId))) === 1;
  } finally {
    connection.disconnect();
  }
}

/** Runs `body` with `count` workers on a queue of its own, and stops them after it, whatever happens. */
export async function withWorkers<T>(
  count: number,
  options: { redis: string; concurrency?: number; heap?: string },
  body: (queue: string, workers: WorkerProcess[]) => Promise<T>,
): Promise<T> {
  const queue = freshQueue();
  const workers = await startWorkers(count, { ...options, queue });
  try {
    return await body(queue, workers);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
