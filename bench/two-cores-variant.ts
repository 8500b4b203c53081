// One variant of the two-cores benchmark in its own process:
//   node two-cores-variant.js parse-N INPUT: the logs' lines parsed with JSON.parse on N worker
//     threads (each taking every Nth file), each user's latest play kept: parsing, the part of the
//     ETL that touches little memory per record, written by hand;
//   node two-cores-variant.js walk-N MIB BYTES: N worker threads at once, each walking an array of
//     its own of MIB MiB, 64 bytes (a cache line) at a time, until it has read BYTES;
//   node two-cores-variant.js etl-1[+NEIGHBOUR] INPUT OUTPUT: the Sparkify ETL on one thread, alone
//     or beside a neighbour process (+integer-loop: a core's worth of computing and nothing else;
//     +memory-walk: the same, walking 128 MiB);
//   node two-cores-variant.js neighbour KIND: a neighbour, until it is killed.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { defaultHeapGrowthLine } from "../src/index.js";
import { sparkify } from "../src/pipelines/sparkify-load.js";
import { report } from "./harness.js";

const LINE = 64;
const NEIGHBOUR_WALK_MIB = 128;
/** What the neighbour walks each time round: 10 GiB. */
const NEIGHBOUR_WALK_BYTES = 10 * 2 ** 30;

interface ThreadJob {
  readonly kind: "parse" | "walk";
  readonly files?: readonly string[];
  readonly mib?: number;
  readonly bytes?: number;
}

/** The log files under `input`'s log_data, sorted (every variant splits the same list). */
function logFiles(input: string): string[] {
  const folder = join(input, "log_data");
  return readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".json"))
    .map((name) => join(folder, name))
    .sort();
}

/** Plays and each user's latest play time, over `files`: what a parse thread answers. */
function parseLogs(files: readonly string[]): { plays: number; latest: [string, number][] } {
  let plays = 0;
  const latest = new Map<string, number>();
  for (const file of files) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      const event = JSON.parse(line) as { page?: string; userId?: string; ts?: number };
      if (event.page !== "NextSong" || typeof event.userId !== "string" || typeof event.ts !== "number")
        continue;
      plays++;
      if ((latest.get(event.userId) ?? Number.NEGATIVE_INFINITY) < event.ts)
        latest.set(event.userId, event.ts);
    }
  }
  return { plays, latest: [...latest] };
}

/** Walks an array of `mib` MiB a cache line at a time until `bytes` are read; a value of it. */
function walk(mib: number, bytes: number): number {
  const values = new Float64Array((mib * 2 ** 20) / 8);
  const step = LINE / 8;
  const passes = Math.round(bytes / (mib * 2 ** 20));
  for (let pass = 0; pass < passes; pass++)
    for (let index = 0; index < values.length; index += step) values[index]! += pass;
  return values[0]!;
}

function runThreads(jobs: readonly ThreadJob[]): Promise<unknown[]> {
  const script = fileURLToPath(import.meta.url);
  return Promise.all(
    jobs.map(
      (job) =>
        new Promise<unknown>((resolve, reject) => {
          const worker = new Worker(script, { workerData: job });
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
    ),
  );
}

function startNeighbour(kind: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "neighbour", kind], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  // It says when it has started its work, so that the ETL's clock starts beside it.
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`the ${kind} neighbour exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const [variant = "", first = "", second = ""] = process.argv.slice(2);
  const walkedBytes = Number(second);
  const parse = /^parse-(\d+)$/.exec(variant);
  const walking = /^walk-(\d+)$/.exec(variant);
  const etl = /^etl-1(?:\+(integer-loop|memory-walk))?$/.exec(variant);
  if (variant === "neighbour" && (first === "integer-loop" || first === "memory-walk")) {
    process.stdout.write("started\n");
    let total = 0;
    for (;;) {
      if (first === "memory-walk") total += walk(NEIGHBOUR_WALK_MIB, NEIGHBOUR_WALK_BYTES);
      else for (let index = 0; index < 1e9; index++) total = (total + index * 7) | 0;
    }
  } else if (parse && first) {
    const threads = Number(parse[1]);
    const files = logFiles(first);
    const started = performance.now();
    const answers = (await runThreads(
      Array.from({ length: threads }, (_, thread) => ({
        kind: "parse" as const,
        files: files.filter((_, index) => index % threads === thread),
      })),
    )) as ReturnType<typeof parseLogs>[];
    const wallMs = performance.now() - started;
    const latest = new Map<string, number>();
    for (const answer of answers)
      for (const [user, ts] of answer.latest) latest.set(user, Math.max(ts, latest.get(user) ?? ts));
    const plays = answers.reduce((sum, answer) => sum + answer.plays, 0);
    report(started, JSON.stringify({ plays, latest: [...latest].sort() }), wallMs);
  } else if (walking && Number(first) > 0 && walkedBytes > 0) {
    const started = performance.now();
    const values = await runThreads(
      Array.from({ length: Number(walking[1]) }, () => ({
        kind: "walk" as const,
        mib: Number(first),
        bytes: walkedBytes,
      })),
    );
    report(started, JSON.stringify([...new Set(values)]));
  } else if (etl && first && second) {
    const neighbour = etl[1] ? await startNeighbour(etl[1]) : undefined;
    const output = join(second, `run-${process.pid}`);
    const started = performance.now();
    // As the command runs it (its heap growth line too), on one thread.
    const result = await sparkify(
      { input: first, output, mode: "overwrite" },
      { threads: 1, heapGrowthBelow: defaultHeapGrowthLine() },
    );
    const wallMs = performance.now() - started;
    neighbour?.kill("SIGKILL");
    const rows = [...result.tables].map(([table, committed]) => [table, committed.rows]);
    report(started, JSON.stringify({ rows, counters: result.metrics?.counters }), wallMs);
  } else {
    console.error(
      "usage: node two-cores-variant.js parse-N INPUT | walk-N MIB BYTES | etl-1[+integer-loop|+memory-walk] INPUT OUTPUT | neighbour integer-loop|memory-walk",
    );
    process.exit(2);
  }
}

if (isMainThread) {
  await main();
} else {
  const job = workerData as ThreadJob;
  parentPort!.postMessage(
    job.kind === "parse" ? parseLogs(job.files ?? []) : walk(job.mib ?? 1, job.bytes ?? 0),
  );
}
