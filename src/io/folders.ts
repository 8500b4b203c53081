/** Making folders on the local disk: `mkdir -p` that always ends. */
import { mkdirSync, readlinkSync, type Stats, statSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/**
 * Creates a folder and its parents (`mkdir -p`), without Node's recursive mkdir: where a parent
 * exists but `mkdir` of its child still says ENOENT (a path under /proc, some FUSE mounts) that
 * one tries the parent and the child again forever, at full CPU (Node 20, sync and async alike),
 * and it reports a read-only file system as ENOENT. Here each level is made once: a child that
 * cannot be made once its parent stands fails with the file system's error, and a dangling
 * symbolic link on the way is named.
 */
export async function makeFolders(path: string): Promise<void> {
  const folder = resolve(path);
  const failure = await mkdir(folder).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error,
  );
  if (failure?.code === "ENOENT" && dirname(folder) !== folder) {
    await makeFolders(dirname(folder));
    const again = await mkdir(folder).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error,
    );
    if (again?.code === "EEXIST") checkFolder(again, await stat(folder).catch(danglingLink(folder)));
    else if (again) throw childRefused(dirname(folder), again);
  } else if (failure?.code === "EEXIST") checkFolder(failure, await stat(folder).catch(danglingLink(folder)));
  else if (failure) throw failure;
}

/** The blocking twin of `makeFolders`. */
export function makeFoldersSync(path: string): void {
  const folder = resolve(path);
  const failure = mkdirOnce(folder);
  if (failure?.code === "ENOENT" && dirname(folder) !== folder) {
    makeFoldersSync(dirname(folder));
    const again = mkdirOnce(folder);
    if (again?.code === "EEXIST") checkFolder(again, statOrDangling(folder));
    else if (again) throw childRefused(dirname(folder), again);
  } else if (failure?.code === "EEXIST") checkFolder(failure, statOrDangling(folder));
  else if (failure) throw failure;
}

/** Makes one folder; its error, if any (the parent must exist). */
function mkdirOnce(folder: string): NodeJS.ErrnoException | undefined {
  try {
    mkdirSync(folder);
    return undefined;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

function statOrDangling(folder: string): Stats {
  try {
    return statSync(folder);
  } catch (error) {
    return danglingLink(folder)(error);
  }
}

/** An existing path is fine when it is a folder (or a link to one); a file there is the mkdir error. */
function checkFolder(error: unknown, stats: Stats): void {
  if (!stats.isDirectory()) throw error;
}

/** Turns a failed `stat` of a path that exists (mkdir said so) into an error naming the dangling link. */
function danglingLink(folder: string): (error: unknown) => never {
  return (error) => {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    let target: string;
    try {
      target = readlinkSync(folder);
    } catch {
      // Not a link after all (removed since): the stat's own error says enough.
      throw error;
    }
    throw Object.assign(new Error(`${folder} is a symbolic link to ${target}, which does not exist`), {
      code: "ENOENT",
    });
  };
}

/** The child of an existing folder still cannot be made: the file system's error, said as such. */
function childRefused(parent: string, error: unknown): Error {
  if ((error as NodeJS.ErrnoException).code !== "ENOENT") return error as Error;
  return Object.assign(
    new Error(`${parent} exists but no folder can be made in it (${(error as Error).message})`),
    { code: "ENOENT" },
  );
}
