import { createReadStream, type Dirent, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { globToRegExp, hasWildcards, literalBase } from "./glob.js";
import { childOf, formatLocation, type Location, parseLocation } from "./location.js";
import { listObjects, readObject, type S3Settings } from "./s3.js";

/** One file found by a listing. */
export interface FileEntry {
  /** Local path or `s3://bucket/key`. */
  readonly uri: string;
  /** Path relative to the listing's base, `/`-separated. */
  readonly relativePath: string;
  readonly size: number;
}

/**
 * True for names that readers skip, as Hadoop's and Spark's do: `_SUCCESS`, `_temporary/`,
 * `_rejected/` and dot files are bookkeeping, not data.
 */
export function isHidden(relativePath: string): boolean {
  return relativePath.split("/").some((segment) => segment.startsWith("_") || segment.startsWith("."));
}

/**
 * Walks a local folder with blocking calls, yielding its files as it finds them: five times faster
 * than promises at 20,000 files (each promise is a round trip through libuv's thread pool, and the
 * main thread has nothing else to do while a job lists its inputs).
 *
 * Symbolic links are followed, as Hadoop's local file system follows them (a `log_data/2018`
 * linked to another disk is read like a folder); files keep the path through the link. A link
 * that points to a folder it lies in, or to nothing, fails the listing with its path: the first
 * would be listed forever, the second cannot be read, and neither may vanish in silence.
 */
function* walkLocal(
  root: string,
  ancestors: readonly string[] = [],
): Generator<{ path: string; size: number }> {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") {
      yield { path: root, size: statSync(root).size };
      return;
    }
    throw error;
  }
  const real = realpathSync(root);
  if (ancestors.includes(real)) {
    throw new Error(`${root} is a symbolic link loop: it leads back to ${real}, a folder it lies in`);
  }
  const lineage = [...ancestors, real];
  for (const entry of entries) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) yield* walkLocal(path, lineage);
    else if (entry.isFile()) yield { path, size: statSync(path).size };
    else if (entry.isSymbolicLink()) {
      let target: ReturnType<typeof statSync>;
      try {
        target = statSync(path);
      } catch (error) {
        throw new Error(
          `${path} is a symbolic link to nothing that can be read (${(error as NodeJS.ErrnoException).code})`,
        );
      }
      if (target.isDirectory()) yield* walkLocal(path, lineage);
      else if (target.isFile()) yield { path, size: target.size };
    }
  }
}

/** Where a listing starts, and which of the files under it a URI's glob keeps. */
function listingOf(
  uri: string,
  includeHidden = false,
): { base: Location; keeps: (relativePath: string) => boolean } {
  const isS3 = uri.startsWith("s3://");
  const afterScheme = isS3 ? uri.slice(5) : uri;
  const pattern = hasWildcards(afterScheme) ? afterScheme : undefined;
  const baseUri = pattern ? `${isS3 ? "s3://" : ""}${literalBase(afterScheme)}` : uri;
  const matcher = pattern
    ? globToRegExp(pattern.slice(literalBase(afterScheme).length).replace(/^\//, ""))
    : undefined;
  return {
    base: parseLocation(baseUri || "."),
    keeps: (relativePath) =>
      (includeHidden || !isHidden(relativePath)) && (!matcher || matcher.test(relativePath)),
  };
}

function localEntry(basePath: string, file: { path: string; size: number }): FileEntry {
  return {
    uri: file.path,
    relativePath: relative(basePath, file.path).split(sep).join("/") || file.path.split(sep).at(-1)!,
    size: file.size,
  };
}

/**
 * Files matching a URI that may end in a glob (`s3://bucket/log_data/**\/*.json`, `./data/*.json`).
 * A URI without wildcards lists everything under it. Hidden files are left out. Sorted by path,
 * so that "the first file in path order" means the same thing everywhere.
 */
export async function listFiles(
  uri: string,
  s3: S3Settings = {},
  options: { readonly includeHidden?: boolean } = {},
): Promise<FileEntry[]> {
  const { base, keeps } = listingOf(uri, options.includeHidden);
  let entries: FileEntry[];
  if (base.kind === "local") {
    entries = [...walkLocal(base.path)].map((file) => localEntry(base.path, file));
  } else {
    const objects = await listObjects(s3, base.bucket, base.key);
    const prefix = base.key === "" ? "" : `${base.key}/`;
    entries = objects
      .filter((object) => !object.key.endsWith("/"))
      .map((object) => ({
        uri: `s3://${base.bucket}/${object.key}`,
        relativePath: object.key.startsWith(prefix)
          ? object.key.slice(prefix.length)
          : object.key.split("/").at(-1)!,
        size: object.size,
      }));
  }
  return entries
    .filter((entry) => keeps(entry.relativePath))
    .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/**
 * True when `listFiles(uri)` would find anything. On local disk it stops at the first match, so
 * that checking an input of 200,000 files does not list them all before the job lists them again.
 */
export async function anyFileMatches(uri: string, s3: S3Settings = {}): Promise<boolean> {
  const { base, keeps } = listingOf(uri);
  if (base.kind !== "local") return (await listFiles(uri, s3)).length > 0;
  for (const file of walkLocal(base.path)) {
    if (keeps(localEntry(base.path, file).relativePath)) return true;
  }
  return false;
}

/** Streams a file's bytes from `start` on. */
export function readBytes(uri: string, s3: S3Settings = {}, start = 0): AsyncIterable<Uint8Array> {
  const location = parseLocation(uri);
  if (location.kind === "s3") return readObject(s3, location.bucket, location.key, start);
  return createReadStream(location.path, { start, highWaterMark: 1 << 20 });
}

/** Reads a whole (small) file. */
export async function readAll(uri: string, s3: S3Settings = {}): Promise<Buffer> {
  const location = parseLocation(uri);
  if (location.kind === "local") {
    // One blocking read: for a small file, cheaper than the four thread-pool round trips of an
    // asynchronous one, and tasks run on worker threads, whose event loops have nothing else to do.
    return readFileSync(location.path);
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of readBytes(uri, s3)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export { childOf, formatLocation, type Location, parseLocation };
