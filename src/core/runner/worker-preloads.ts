import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * A module each worker imports before the pipeline's module. `register`: the module is tsx's ESM
 * API, whose `register()` the worker calls (tsx's `--import` entry registers its hooks on the main
 * thread only, on the Node versions that do not give workers the main thread's hooks).
 */
export interface WorkerPreload {
  readonly url: string;
  readonly register?: true;
}

/**
 * What a worker needs to load the modules the main thread can load. Node 20 runs `--import`
 * modules on the main thread only, and module hooks registered there (a TypeScript loader) do not
 * reach worker threads: a pipeline module in TypeScript would fail in every worker with `Unknown
 * file extension ".ts"`. So each `--import` of this process is imported again in each worker,
 * tsx's is registered there through its API, and `extra` (the run option `workerImports`) follow.
 */
export function workerPreloadsOf(
  execArgv: readonly string[],
  extra: readonly string[] = [],
  cwd: string = process.cwd(),
): WorkerPreload[] {
  const preloads: WorkerPreload[] = [];
  for (const specifier of [...importsIn(execArgv), ...extra]) {
    const url = resolveFromCwd(specifier, cwd);
    if (url === undefined) continue;
    const tsxApi = tsxApiFor(url);
    preloads.push(tsxApi ? { url: tsxApi, register: true } : { url });
  }
  return preloads;
}

/** The values of `--import X` and `--import=X`, in order. */
function importsIn(execArgv: readonly string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    if (arg === "--import" && i + 1 < execArgv.length) found.push(execArgv[++i] as string);
    else if (arg.startsWith("--import=")) found.push(arg.slice("--import=".length));
  }
  return found;
}

/**
 * A specifier resolved as Node resolves `--import`: from the working directory. A bare name that
 * cannot be resolved here is left out (the main thread loaded it some other way; importing it
 * again in a worker could not help).
 */
function resolveFromCwd(specifier: string, cwd: string): string | undefined {
  if (/^(file|data|node):/.test(specifier)) return specifier;
  if (specifier.startsWith(".") || isAbsolute(specifier)) {
    return pathToFileURL(isAbsolute(specifier) ? specifier : resolve(cwd, specifier)).href;
  }
  try {
    return pathToFileURL(createRequire(join(cwd, "noop.js")).resolve(specifier)).href;
  } catch {
    return undefined;
  }
}

/** tsx's ESM API beside its `--import` entry (`tsx/dist/loader.mjs`), if the URL is that entry. */
function tsxApiFor(url: string): string | undefined {
  if (!/\/tsx\/dist\/loader\.mjs$/.test(url)) return undefined;
  return new URL("./esm/api/index.mjs", url).href;
}

/** Imports the preloads in order, once per worker; called before the pipeline's module. */
export async function runPreloads(preloads: readonly WorkerPreload[]): Promise<void> {
  for (const preload of preloads) {
    const namespace = (await import(preload.url)) as { register?: () => unknown };
    if (preload.register && typeof namespace.register === "function") namespace.register();
  }
}
