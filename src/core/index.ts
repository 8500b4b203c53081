export {
  Combiners,
  type Combiner,
  type CombinerOrFold,
  count,
  largest,
  max,
  maxBy,
  mean,
  min,
  minBy,
  type RankBy,
  smallest,
  sum,
  type Widened,
} from "./combiners.js";
export {
  defaultPartitionsFor,
  definePipeline,
  INPUT_BYTES_PER_PARTITION,
  MAX_PARTITIONS,
  MAX_THREADS_PER_CORE,
  maxThreads,
  PARTITIONS_PER_THREAD,
  PipelineDefinition,
  type PipelineLocation,
  type PipelineSettings,
  type Resolved,
  type RunResult,
  runDirect,
} from "./definition.js";
export {
  fileFailure,
  messageOf,
  RecordFunctionError,
  RejectLimitError,
  SluiceError,
  TransformError,
  WorkerDiedError,
} from "./errors.js";
export type {
  JobCommitter,
  RejectedRecord,
  Sink,
  SinkWriter,
  Source,
  SourceBatch,
  SourceReadContext,
  SplitContext,
  TaskContext,
} from "./interfaces.js";
export { canonicalJson, compareValues, type JsonValue, KeyMap, partitionOf, stableHash } from "./keys.js";
export type { JobMetrics, StageMetrics } from "./metrics.js";
export {
  coGroupByKey,
  Collected,
  flatten,
  type Joined,
  type JoinType,
  PCollection,
  type TransformOptions,
  Windowed,
} from "./pcollection.js";
export { Pipeline, type ReadOptions, type RejectedOutput, type RejectLimit } from "./pipeline.js";
export { explainDot, explainText, type Plan, planGraph } from "./plan.js";
export { newRunId, type RunOptions } from "./runner/job.js";
export { defaultHeapGrowthLine } from "./runner/heap-growth.js";
export type { V8HelperThreads } from "./runner/v8-helper-threads.js";
export { Column, type ColumnType, type Columns, column, type Infer, Schema, schema } from "./schema.js";
export { fixed, sessions, sliding, type Window, type WindowFn } from "./windows.js";
export { Counter, counter } from "./user-counters.js";
export { SLUICE_BUILD } from "./build-info.js";
// For runners of their own (sluice/cluster): what a task is, and how a thread pool runs one.
export { type BlockRef, isObjectBlock, type ObjectBlockRef } from "./blocks.js";
export type { TaskInput, TaskResult, TaskSpec } from "./task.js";
export {
  DEFAULT_MAX_COLLECT_BYTES,
  DEFAULT_WORKER_OLD_GENERATION_MB,
  DEFAULT_WORKER_YOUNG_GENERATION_MB,
  isRunner,
  type RunContext,
  type Runner,
  type TaskExecutor,
} from "./runner/job.js";
export {
  type PipelineBuild,
  type ThreadTaskHeader,
  threadTaskHeader,
  type WorkerTaskHeader,
  workerTaskHeader,
} from "./runner/pipeline-build.js";
export { ThreadPool, type ThreadPoolSettings } from "./runner/thread-pool.js";
export type { TaskFailure, WorkerTask } from "./runner/worker.js";
export { type TransformFailure, transformErrorOf, transformFailureOf } from "./errors.js";
