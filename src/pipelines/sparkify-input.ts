/**
 * What a Sparkify input holds, before anything is read: the song documents, the event logs, and
 * every other file, which the run does not read and names in its summary. A file that is not read
 * is never lost in silence (a `log-data/` folder, logs compressed as `.bz2`, a stray export).
 */
import { SluiceError } from "../core/index.js";
import { type FileEntry, isHidden, listFiles, type S3Settings } from "../io/index.js";
import { globToRegExp } from "../io/glob.js";

/**
 * Where the song documents are, relative to the input: plain or gzip-compressed JSON, in folders
 * or in zip archives (a `song_data.zip` stands for `song_data/`).
 */
export const SONG_FILES = "song_data/**/*.{json,json.gz}";
/** Where the event logs are, relative to the input, in the same forms. */
export const LOG_FILES = "log_data/**/*.{json,json.gz}";

export interface InputInventory {
  readonly songFiles: number;
  readonly logFiles: number;
  /** The song documents, in path order. */
  readonly songs: readonly FileEntry[];
  /** The event logs, in path order. */
  readonly logs: readonly FileEntry[];
  /** Files under the input that the run does not read, relative to it, in path order. */
  readonly skipped: readonly string[];
}

export function joinUri(base: string, relative: string): string {
  return `${base.replace(/\/+$/, "")}/${relative}`;
}

/** Lists the input once and sorts its files into songs, logs and skipped. */
export async function inventoryInput(input: string, s3: S3Settings = {}): Promise<InputInventory> {
  const songs = globToRegExp(SONG_FILES);
  const logs = globToRegExp(LOG_FILES);
  const songFiles: FileEntry[] = [];
  const logFiles: FileEntry[] = [];
  const skipped: string[] = [];
  // Listing errors name the path or bucket already (`s3://b/raw: the bucket 'b' does not exist`).
  for (const file of await listFiles(input, s3, { includeHidden: true })) {
    const path = file.relativePath;
    if (!isHidden(path) && songs.test(path)) songFiles.push(file);
    else if (!isHidden(path) && logs.test(path)) logFiles.push(file);
    else skipped.push(path);
  }
  return {
    songFiles: songFiles.length,
    logFiles: logFiles.length,
    songs: songFiles,
    logs: logFiles,
    skipped,
  };
}

/**
 * Fails, naming what it looked for, when the input holds no song documents or no event logs: a
 * misnamed folder must not become empty tables, which in overwrite mode would replace good ones.
 */
export function requireSongsAndLogs(input: string, inventory: InputInventory): void {
  const missing = [
    ...(inventory.songFiles === 0 ? [`no songs (no file matches ${joinUri(input, SONG_FILES)})`] : []),
    ...(inventory.logFiles === 0 ? [`no events (no file matches ${joinUri(input, LOG_FILES)})`] : []),
  ];
  if (missing.length === 0) return;
  const skipped =
    inventory.skipped.length > 0
      ? `; not read: ${inventory.skipped.slice(0, 3).join(", ")}${inventory.skipped.length > 3 ? ` and ${inventory.skipped.length - 3} more` : ""}`
      : "";
  throw new SluiceError(
    `found ${missing.join(" and ")}${skipped} (--allow-empty, or allowEmpty: true, runs without them)`,
  );
}
