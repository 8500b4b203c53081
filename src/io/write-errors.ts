import { existsSync, mkdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { SluiceError } from "../core/index.js";

/** What a file-system error code means to someone whose output could not be written. */
const EXPLANATIONS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is used up",
  EFBIG: "the file grew past the largest file this process may write",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "the operation is not permitted",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "a folder stands where the file should be",
  EIO: "the device reported an I/O error",
};

/**
 * Turns an error met while writing local output into one sentence that names the path and what
 * went wrong, so that a full or read-only disk reads as such rather than as a failed task.
 */
export function writeFailure(path: string, error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const explanation = code ? EXPLANATIONS[code] : undefined;
  const detail = explanation
    ? `${explanation} (${code})`
    : error instanceof Error
      ? error.message
      : String(error);
  return new SluiceError(`cannot write ${path}: ${detail}`);
}

/**
 * Creates a folder and its parents. Node's recursive mkdir reports some failures, a read-only
 * file system among them, as ENOENT; on failure this makes each missing level in turn, so that the
 * error thrown is the one the file system gave.
 */
export async function makeFolders(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    for (const level of missingLevels(path)) await mkdir(level).catch(ignoreExisting);
    throw error;
  }
}

/** The blocking twin of `makeFolders`. */
export function makeFoldersSync(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    for (const level of missingLevels(path)) {
      try {
        mkdirSync(level);
      } catch (levelError) {
        ignoreExisting(levelError);
      }
    }
    throw error;
  }
}

/** The path's missing ancestors and itself, outermost first. */
function missingLevels(path: string): string[] {
  const levels: string[] = [];
  for (let level = resolve(path); !existsSync(level); level = dirname(level)) levels.unshift(level);
  return levels;
}

function ignoreExisting(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
}
