/**
 * The Sparkify ETL as a load: lists the input, reads what the lake has loaded (update mode),
 * decides what to read, and runs the pipeline of sparkify-pipeline.ts on it. The command and
 * library users call `sparkify()`; workers import only the pipeline's module.
 *
 * @example
 * import { sparkify } from "sluice/pipelines/sparkify";
 * const result = await sparkify({ input: "s3://bucket/raw", output: "s3://bucket/lake", mode: "overwrite" }, { threads: 4 });
 */
import { newRunId, type RunOptions, type RunResult, SluiceError } from "../core/index.js";
import type { CommittedTable, FileEntry, ListedFile } from "../io/index.js";
import { playDays } from "./sparkify-days.js";
import { type InputInventory, inventoryInput, requireSongsAndLogs } from "./sparkify-input.js";
import {
  decideLoad,
  type LakeLoads,
  type LoadDecision,
  RECORD_PARTS_BEFORE_WHOLE,
  readLakeLoads,
  recordAfter,
} from "./sparkify-loads.js";
import { type SparkifyOptions, type SparkifyRunInputs, sparkifyPipeline } from "./sparkify-pipeline.js";

// The pipeline's own exports (its options, transforms and definition) are part of this module's.
export * from "./sparkify-pipeline.js";

export interface SparkifyResult {
  readonly runId: string;
  /** Undefined when an update found nothing new and ran nothing. */
  readonly metrics: RunResult<unknown>["metrics"] | undefined;
  /** Rows, files, partitions and bytes each table took in this run (added, in update mode). */
  readonly tables: ReadonlyMap<string, CommittedTable>;
  /** Files under the input that are not song documents or event logs, so not read (relative paths). */
  readonly skipped: readonly string[];
  /** Input files this run loaded. */
  readonly loadedFiles: number;
  /** Input files loaded by earlier runs, so not read again (update mode). */
  readonly alreadyLoaded: number;
  /** Changed files reloaded by rebuilding the lake (update mode with reloadChanged). */
  readonly reloaded?: readonly string[];
}

/**
 * Reloads changed files by rebuilding the lake from the whole input, in one commit: every table
 * and the state beside them replaced (the record of loaded files with the changed files' new
 * versions). Under the daily load's check that nobody committed since the lake was read.
 */
async function rebuild(
  options: SparkifyOptions,
  runOptions: RunOptions,
  runId: string,
  inventory: InputInventory,
  decision: LoadDecision,
  previous: LakeLoads,
): Promise<SparkifyResult> {
  const result = await sparkifyPipeline.run(
    {
      ...options,
      mode: "overwrite",
      songFiles: inventory.songs.map(listed),
      songFileCount: inventory.songs.length,
      logFiles: inventory.logs.map(listed),
      loaded: recordAfter(previous.files, decision),
      expectedLoads: previous.fingerprint,
    },
    { ...runOptions, runId },
  );
  return {
    runId: result.runId,
    metrics: result.metrics,
    tables: result.outputs.lake.committer.committed,
    skipped: inventory.skipped,
    loadedFiles: inventory.songs.length + inventory.logs.length,
    alreadyLoaded: 0,
    reloaded: decision.changed.map((file) => file.relativePath),
  };
}

/**
 * What a run writes into the record of loaded files: a part of its own when the lake's record has
 * room for one, the whole record otherwise (a full load, a first load, a compaction, every
 * `RECORD_PARTS_BEFORE_WHOLE` daily loads).
 */
function recordOfRun(
  previous: LakeLoads | undefined,
  decision: LoadDecision,
  compact: boolean,
): Pick<SparkifyRunInputs, "loaded" | "appendLoaded"> {
  const roomForPart = previous !== undefined && previous.recordParts < RECORD_PARTS_BEFORE_WHOLE;
  if (roomForPart && previous.files.length > 0 && !compact)
    return { loaded: decision.newlyLoaded, appendLoaded: true };
  return { loaded: recordAfter(previous?.files ?? [], decision) };
}

/** The tables that grow with each daily load, and which a compaction rewrites. */
const GROWING_TABLES = ["songs", "artists", "time", "songplays"];

/** What a source needs of a listed file (the rest of a listing need not cross to the workers). */
function listed(file: FileEntry): ListedFile {
  return { uri: file.uri, size: file.size };
}

/**
 * New input below which a daily load runs on one thread unless told otherwise: a day of logs is
 * read and merged in about the time a pool takes to start its workers and load their modules.
 */
const SMALL_LOAD_BYTES = 64 * 1024 * 1024;

function isSmallLoad(added: readonly FileEntry[]): boolean {
  return added.reduce((total, file) => total + file.size, 0) < SMALL_LOAD_BYTES;
}

/**
 * Runs the Sparkify ETL: in full (`overwrite`, `error-if-exists`), or as a daily load (`update`)
 * of the input files the lake has not loaded, merged into its tables.
 */
export async function sparkify(
  options: SparkifyOptions,
  runOptions: RunOptions = {},
): Promise<SparkifyResult> {
  const inventory = await inventoryInput(options.input, options.s3);
  if (!options.allowEmpty) requireSongsAndLogs(options.input, inventory);
  const runId = runOptions.runId ?? newRunId();
  const update = options.mode === "update";
  if (options.compact && !update) throw new SluiceError("compact applies to mode update only");
  const previous = update
    ? await readLakeLoads(options.output, options.s3 ?? {}, runId, options.compact ? GROWING_TABLES : [])
    : undefined;
  const compactFiles = previous?.compact ?? {};
  // A compaction rewrites the partitions that hold several files, and the record when it is in parts.
  const compacting =
    Object.keys(compactFiles).length > 0 || (options.compact === true && (previous?.recordParts ?? 0) > 1);
  if (options.reloadChanged && !update) throw new SluiceError("reloadChanged applies to mode update only");
  const decision = decideLoad(
    [...inventory.songs, ...inventory.logs],
    previous?.files ?? [],
    runId,
    options.reloadChanged,
  );
  if (previous && decision.changed.length > 0)
    return rebuild(options, runOptions, runId, inventory, decision, previous);
  const songUris = new Set(inventory.songs.map((file) => file.uri));
  const newSongs = decision.added.filter((file) => songUris.has(file.uri));
  const newLogs = decision.added.filter((file) => !songUris.has(file.uri));
  const days =
    update && previous && previous.files.length > 0
      ? await playDays({
          logFiles: newLogs.map(listed),
          ...(options.s3 ? { s3: options.s3 } : {}),
        })
      : undefined;
  const counts = {
    skipped: inventory.skipped,
    loadedFiles: decision.added.length,
    alreadyLoaded: decision.unchanged,
  };
  if (update && decision.added.length === 0 && !compacting)
    return { runId, metrics: undefined, tables: new Map(), ...counts };
  const result = await sparkifyPipeline.run(
    {
      ...options,
      songFiles: newSongs.map(listed),
      songFileCount: newSongs.length,
      logFiles: newLogs.map(listed),
      ...recordOfRun(previous, decision, options.compact === true),
      ...(previous ? { expectedLoads: previous.fingerprint } : {}),
      ...(days ? { playDays: days } : {}),
      ...(compacting ? { compactFiles } : {}),
    },
    {
      ...runOptions,
      runId,
      ...(update &&
      runOptions.runner === undefined &&
      runOptions.threads === undefined &&
      isSmallLoad(decision.added)
        ? { runner: "direct" as const }
        : {}),
    },
  );
  return {
    runId: result.runId,
    metrics: result.metrics,
    tables: result.outputs.lake.committer.committed,
    ...counts,
  };
}
