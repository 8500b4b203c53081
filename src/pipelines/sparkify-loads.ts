/**
 * What a daily load reads: the input files not loaded before. The lake keeps the record of what it
 * loaded (`_sluice/loaded/`, committed with the tables); a file loaded before and unchanged is
 * skipped, a new one is read, and one that changed since (another size or version) stops the run,
 * named, rather than be loaded a second time.
 */
import { SluiceError } from "../core/index.js";
import {
  type FileEntry,
  LakeCommitter,
  listFiles,
  parseLocation,
  readAll,
  type S3Settings,
  STATE_FOLDER,
} from "../io/index.js";
import { joinUri } from "./sparkify-input.js";
import { type LoadedFile, STATE } from "./sparkify-state.js";

export interface LoadDecision {
  /** Input files loaded before and unchanged: not read. */
  readonly unchanged: number;
  /** Input files this run loads, in path order. */
  readonly added: readonly FileEntry[];
  /** Every input file loaded once this run commits. */
  readonly loaded: readonly LoadedFile[];
  /** Files loaded before that changed since, when told to reload them: the lake is rebuilt. */
  readonly changed: readonly FileEntry[];
}

/**
 * Sorts the input's files into loaded before (skipped) and new. A file that changed since it was
 * loaded fails the run, unless `reloadChanged`: then the whole lake is to be rebuilt from the
 * input, which must still hold every file loaded before.
 */
export function decideLoad(
  files: readonly FileEntry[],
  previous: readonly LoadedFile[],
  runId: string,
  reloadChanged = false,
): LoadDecision {
  const before = new Map<string, LoadedFile>();
  for (const file of previous) before.set(file.path, file);
  let unchanged = 0;
  const added: FileEntry[] = [];
  const changed: FileEntry[] = [];
  const described: string[] = [];
  for (const file of files) {
    const loaded = before.get(file.relativePath);
    if (!loaded) added.push(file);
    else if (loaded.size !== file.size || loaded.version !== (file.version ?? null)) {
      changed.push(file);
      described.push(
        `${file.relativePath} (loaded by run ${loaded.run} at ${loaded.size} bytes, ${loaded.version ?? "no version"}; now ${file.size} bytes, ${file.version ?? "no version"})`,
      );
    } else unchanged++;
  }
  if (changed.length > 0 && !reloadChanged) {
    throw new SluiceError(
      `${changed.length} input file(s) changed since they were loaded, for example ${described[0]}; a file is loaded once: restore it, put corrections in a new file, or run with --reload-changed`,
    );
  }
  if (changed.length > 0) {
    const listed = new Set(files.map((file) => file.relativePath));
    const missing = previous.filter((file) => !listed.has(file.path));
    if (missing.length > 0) {
      throw new SluiceError(
        `cannot reload ${described[0]}: a reload rebuilds the lake from its input, and ${missing.length} file(s) loaded before are no longer in it, for example ${missing[0]!.path}`,
      );
    }
  }
  const loadedNow = (file: FileEntry): LoadedFile => ({
    path: file.relativePath,
    size: file.size,
    version: file.version ?? null,
    run: runId,
  });
  const changedPaths = new Set(changed.map((file) => file.relativePath));
  const kept = changed.length === 0 ? previous : previous.filter((file) => !changedPaths.has(file.path));
  const loaded = mergedByPath(kept, [...added.map(loadedNow), ...changed.map(loadedNow)]);
  return { unchanged, added, loaded, changed };
}

function byPath(a: LoadedFile, b: LoadedFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * The record in path order, as it is written: `more` (this load's files, a few) placed into
 * `record` (every file loaded before, thousands, in that order as the last load wrote it) by a
 * binary search each, instead of sorting the whole again: comparing paths that share their first
 * twenty characters is most of what a sort of 20,000 of them costs.
 */
function mergedByPath(record: readonly LoadedFile[], more: LoadedFile[]): LoadedFile[] {
  more.sort(byPath);
  const merged: LoadedFile[] = [];
  let from = 0;
  for (const file of more) {
    const at = firstAfter(record, file, from);
    for (let index = from; index < at; index++) merged.push(record[index]!);
    merged.push(file);
    from = at;
  }
  for (let index = from; index < record.length; index++) merged.push(record[index]!);
  return merged;
}

/** The first index from `from` on whose file comes after `file` in path order (`record` being in it). */
function firstAfter(record: readonly LoadedFile[], file: LoadedFile, from: number): number {
  let low = from;
  let high = record.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (byPath(record[middle]!, file) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The lake's record of loaded files, and its fingerprint (the run checks nobody committed since). */
export interface LakeLoads {
  readonly files: readonly LoadedFile[];
  readonly fingerprint: string;
  /** Per table asked to be compacted: the files of its partitions that hold more than one. */
  readonly compact: Record<string, { uri: string; relativePath: string }[]>;
}

/**
 * Reads what the lake at `output` has loaded, under its lock and after finishing any commit a
 * killed run left half done. A lake with tables but no record (written by an older version, or
 * by hand) cannot be updated safely: its files would all load again.
 */
export async function readLakeLoads(
  output: string,
  s3: S3Settings,
  runId: string,
  compactTables: readonly string[] = [],
): Promise<LakeLoads> {
  const committer = new LakeCommitter(parseLocation(output), "update", s3);
  const table = `${STATE_FOLDER}/${STATE.loaded}`;
  return committer.inspect(runId, async () => {
    const recorded = await listFiles(joinUri(output, table), s3, { includeHidden: true });
    const files: LoadedFile[] = [];
    for (const file of recorded.filter((entry) => entry.relativePath.endsWith(".jsonl"))) {
      const text = (await readAll(file.uri, s3)).toString("utf8");
      for (const line of text.split("\n")) if (line.trim() !== "") files.push(JSON.parse(line) as LoadedFile);
    }
    if (!recorded.some((file) => file.relativePath === "_SUCCESS")) {
      const songplays = await listFiles(joinUri(output, "songplays"), s3, { includeHidden: true });
      if (songplays.length > 0) {
        throw new SluiceError(
          `${output} holds tables but no record of the files they were loaded from (${table}/), so a daily load cannot tell what is new; load it in full once with --mode overwrite`,
        );
      }
    }
    const compact: LakeLoads["compact"] = {};
    for (const name of compactTables) {
      const parts = await filesToCompact(joinUri(output, name), s3);
      if (parts.length > 0) compact[name] = parts;
    }
    return { files, fingerprint: await committer.fingerprint(table), compact };
  });
}

/** The Parquet files of a table's partitions that hold more than one: what a compaction rewrites. */
async function filesToCompact(
  table: string,
  s3: S3Settings,
): Promise<{ uri: string; relativePath: string }[]> {
  const files = (await listFiles(table, s3)).filter((file) => file.relativePath.endsWith(".parquet"));
  const byPartition = new Map<string, FileEntry[]>();
  for (const file of files) {
    const partition = file.relativePath.replace(/[^/]*$/, "");
    const group = byPartition.get(partition);
    if (group) group.push(file);
    else byPartition.set(partition, [file]);
  }
  return [...byPartition.values()]
    .filter((group) => group.length > 1)
    .flat()
    .map((file) => ({ uri: file.uri, relativePath: file.relativePath }));
}
