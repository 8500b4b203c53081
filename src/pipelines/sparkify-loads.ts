/**
 * What a daily load reads: the input files not loaded before. The lake keeps the record of what it
 * loaded (`_sluice/loaded/`, committed with the tables); a file loaded before and unchanged is
 * skipped, a new one is read, and one that changed since (another size or version) stops the run,
 * named, rather than be loaded a second time.
 *
 * The record grows as a log does: a full load writes it whole (one `part-<run>.jsonl`), each daily
 * load adds a part of its own holding the files it loaded, and every `RECORD_PARTS_BEFORE_WHOLE`
 * parts a load writes the record whole again, as a checkpoint, so that a lake's daily cost does not
 * grow with its history's record and reading it stays a few files.
 */
import { SluiceError } from "../core/index.js";
import {
  damagedBookkeeping,
  type FileEntry,
  LakeCommitter,
  listBookkeeping,
  listFiles,
  parseLocation,
  readAll,
  readMarker,
  type S3Settings,
  STATE_FOLDER,
} from "../io/index.js";
import { joinUri } from "./sparkify-input.js";
import { TABLES } from "./sparkify-schemas.js";
import { type LoadedFile, loadedFileSchema, STATE } from "./sparkify-state.js";

export interface LoadDecision {
  /** Input files loaded before and unchanged: not read. */
  readonly unchanged: number;
  /** Input files this run loads, in path order. */
  readonly added: readonly FileEntry[];
  /** What this run adds to the record: the files it loads (new and changed), in path order. */
  readonly newlyLoaded: readonly LoadedFile[];
  /** Files loaded before that changed since, when told to reload them: the lake is rebuilt. */
  readonly changed: readonly FileEntry[];
}

/** Parts of the record of loaded files a lake keeps before a load writes it whole again. */
export const RECORD_PARTS_BEFORE_WHOLE = 30;

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
  const newlyLoaded = [...added.map(loadedNow), ...changed.map(loadedNow)].sort(byPath);
  return { unchanged, added, newlyLoaded, changed };
}

/** The whole record once `decision`'s run commits: every file loaded, in path order. */
export function recordAfter(previous: readonly LoadedFile[], decision: LoadDecision): LoadedFile[] {
  const replaced = new Set(decision.changed.map((file) => file.relativePath));
  const kept = replaced.size === 0 ? previous : previous.filter((file) => !replaced.has(file.path));
  // Parts are each in path order: the sort merges their runs.
  return [...kept, ...decision.newlyLoaded].sort(byPath);
}

function byPath(a: LoadedFile, b: LoadedFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** The lake's record of loaded files, and its fingerprint (the run checks nobody committed since). */
export interface LakeLoads {
  readonly files: readonly LoadedFile[];
  /** The files the record is kept in: one after a full load, one more for each daily load. */
  readonly recordParts: number;
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
    const recorded = await listBookkeeping(joinUri(output, table), s3, { includeHidden: true });
    const parts = recorded.filter((entry) => entry.relativePath.endsWith(".jsonl"));
    const records = await Promise.all(
      parts.map(async (part) => recordLines(part.uri, (await readAll(part.uri, s3)).toString("utf8"))),
    );
    const files = records.flat();
    if (recorded.some((file) => file.relativePath === "_SUCCESS")) await requireEveryTable(output, s3);
    else {
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
    return { files, recordParts: parts.length, fingerprint: await committer.fingerprint(table), compact };
  });
}

/** The tables a daily load goes on from, besides the record of loaded files: data and state. */
const TABLES_LOADED_ON = [
  ...TABLES,
  ...[STATE.plays, STATE.songs, STATE.users].map((name) => `${STATE_FOLDER}/${name}`),
];

/**
 * Fails, naming them, when tables of a lake that was loaded before are gone (no `_SUCCESS`): a
 * daily load adds to the tables as they were committed and reads its state back, so a table
 * removed, or left out by a copy of the lake stopped half way, would be written again holding
 * this load's rows alone (songplays of one day, the users of one day) and the run would succeed.
 * A state table's inventory, which tells a file of it gone, goes with its folder; this tells the
 * folder. One small read per table.
 */
async function requireEveryTable(output: string, s3: S3Settings): Promise<void> {
  const found = await Promise.all(
    TABLES_LOADED_ON.map(
      async (table) => (await readMarker(parseLocation(joinUri(output, table)), s3)) !== undefined,
    ),
  );
  const missing = TABLES_LOADED_ON.filter((_table, index) => !found[index]);
  if (missing.length === 0) return;
  const quoted = missing.map((table) => `'${table}'`);
  const named = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} and ${quoted.at(-1)}`;
  const one = missing.length === 1;
  throw new SluiceError(
    `${output} was loaded before (its record of loaded files is there), but ${one ? "its table" : "its tables"} ${named} ${one ? "is" : "are"} gone (no _SUCCESS): removed, or left out by a copy of the lake. A daily load goes on from every table and would lose what ${one ? "it" : "they"} held: put ${one ? "it" : "them"} back, or load the lake in full again with --mode overwrite`,
  );
}

/**
 * The files of a part of the record (at `uri`). Written a line each with nothing between, a part
 * reads as one JSON array (one parse of 2.5 MB instead of 20,000 small ones); lines otherwise, one
 * by one, so that a damaged line (a torn write) is named.
 */
function recordLines(uri: string, text: string): LoadedFile[] {
  const lines = text.trimEnd();
  if (lines === "") return [];
  let files: unknown;
  try {
    files = JSON.parse(`[${lines.replaceAll("\n", ",")}]`);
  } catch {
    files = lines.split("\n").map((line, index) => {
      if (line.trim() === "") return undefined;
      try {
        return JSON.parse(line) as unknown;
      } catch (error) {
        throw damagedBookkeeping(`${uri} line ${index + 1}`, `not valid JSON (${(error as Error).message})`);
      }
    });
  }
  return (files as unknown[])
    .filter((file) => file !== undefined)
    .map((file, index) => {
      const parsed = loadedFileSchema.parse(file);
      if ("problem" in parsed) throw damagedBookkeeping(`${uri} record ${index + 1}`, parsed.problem);
      return parsed.record;
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
