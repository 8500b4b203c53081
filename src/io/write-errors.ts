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
