/**
 * The file piscina loads in each worker thread.
 *
 * piscina loads a worker's file with require() first. On Node versions whose require() loads ES
 * modules, a worker terminated while it does so (a job that fails while its workers still import
 * the pipeline) ends the whole process on an assertion inside Node's module loader
 * (`CreateRequiredModuleFacade`). This CommonJS file leaves require() nothing but itself to load,
 * and loads the ES modules with import(), which a termination interrupts cleanly.
 */
async function runTask(task: unknown): Promise<unknown> {
  const worker = await import("./worker.js");
  return worker.default(task as Parameters<typeof worker.default>[0]);
}

export = runTask;
