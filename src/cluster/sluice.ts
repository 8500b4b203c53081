#!/usr/bin/env node
/**
 * The `sluice` command. `sluice worker --redis URL`: a long-lived process that runs the tasks of
 * cluster runs (any pipeline, any number of runs at once) on this machine's cores.
 */
import {
  heapMegabytes,
  integerOption,
  parseCommandLine,
  positiveInteger,
  UsageError,
} from "../cli/support.js";
import { availableParallelism } from "node:os";
import { messageOf } from "../core/index.js";
import { DEFAULT_QUEUE } from "./protocol.js";
import { type ClusterWorker, startClusterWorker } from "./worker.js";

// See the Sparkify command: the SDK's notice about future Node versions would break one-line errors.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = `Usage: sluice worker --redis URL [options]

Takes tasks of cluster runs (the runner cluster(...), or sparkify --runner
cluster) from a BullMQ queue on Redis and runs them here, until SIGTERM/SIGINT.

  --redis URL        the Redis (or Valkey) server, e.g. redis://10.0.0.5:6379
  --queue NAME       the queue to take tasks from (default ${DEFAULT_QUEUE})
  --concurrency N    tasks at once, a thread each (default one per core: ${availableParallelism()})
  --lease-ms MS      a task's lease: a worker silent this long is taken for
                     dead and its task runs elsewhere (default 30000)
  --temp-dir DIR     where fetched shuffle blocks and spills wait
  --heap SIZE        old-generation heap of each thread (default 1GiB)
  --quiet            print nothing but errors
  -h, --help         this text

Workers import pipeline modules by the path the driver gives: run them from
the same code as the driver (one image, or the same checkout at one path).
`;

function parse(argv: string[]) {
  const { values, positionals } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    options: {
      redis: { type: "string" },
      queue: { type: "string" },
      concurrency: { type: "string" },
      "lease-ms": { type: "string" },
      "temp-dir": { type: "string" },
      heap: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help" as const;
  const [command, ...rest] = positionals;
  if (command !== "worker") {
    throw new UsageError(
      command === undefined ? "say what to run: sluice worker" : `unknown command '${command}'`,
    );
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (!values.redis) throw new UsageError("--redis is required (redis://host:6379)");
  if (!/^rediss?:\/\//.test(values.redis)) {
    throw new UsageError(`--redis must look like redis://host:6379, got '${values.redis}'`);
  }
  const concurrency = positiveInteger("concurrency", values.concurrency);
  const leaseMs = integerOption("lease-ms", values["lease-ms"], { min: 1000 });
  return {
    redis: values.redis,
    quiet: values.quiet === true,
    ...(values.queue ? { queue: values.queue } : {}),
    ...(concurrency ? { concurrency } : {}),
    ...(leaseMs ? { leaseMs } : {}),
    ...(values["temp-dir"] ? { tempDir: values["temp-dir"] } : {}),
    ...(values.heap ? { maxOldGenerationSizeMb: heapMegabytes("heap", values.heap) } : {}),
  };
}

async function main(): Promise<number> {
  let options: Exclude<ReturnType<typeof parse>, "help">;
  try {
    const parsed = parse(process.argv.slice(2));
    if (parsed === "help") {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`sluice: ${messageOf(error)}\n\n${USAGE}`);
    return 2;
  }
  const log = options.quiet ? undefined : (line: string) => process.stderr.write(`sluice worker: ${line}\n`);
  let worker: ClusterWorker;
  try {
    worker = await startClusterWorker({ ...options, ...(log ? { log } : {}) });
  } catch (error) {
    process.stderr.write(`sluice worker: ${messageOf(error)}\n`);
    return 1;
  }
  // The first signal lets the tasks under way finish (their leases stay valid); a second stops now.
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      const status = 128 + (signal === "SIGINT" ? 2 : 15);
      if (stopping) process.exit(status);
      stopping = true;
      log?.(`${signal}: finishing the tasks under way, then stopping`);
      worker.close().then(
        () => resolve(0),
        () => resolve(status),
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

process.exitCode = await main();
