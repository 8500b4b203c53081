import type { Pipeline } from "./pipeline.js";
import type { Plan, PlanSettings } from "./plan.js";

/** Where a pipeline's module is, so that workers can import it and rebuild the same graph. */
export interface PipelineLocation {
  /** The module's URL: pass `import.meta.url`. */
  readonly module: string;
  /** Unique within the module. */
  readonly name: string;
}

/**
 * What a worker needs of a pipeline definition found among a module's exports: where it is, and
 * how to build its plan again. Kept apart from the definition itself, whose `run` starts pools and
 * jobs, so that a worker does not load the machinery of the main thread.
 */
export interface BuildablePipeline {
  readonly location: PipelineLocation;
  planWith(options: unknown, settings: PlanSettings): { pipeline: Pipeline; plan: Plan };
}

/** Marks pipeline definitions; a symbol of the global registry, so that two copies of sluice agree. */
export const DEFINITION_BRAND = Symbol.for("sluice.PipelineDefinition");

export function isPipelineDefinition(value: unknown): value is BuildablePipeline {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[DEFINITION_BRAND] === true
  );
}
