import {
  createReadStream,
  type Dirent,
  readdirSync,
  readFileSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { basename, sep } from "node:path";
import { globToRegExp, hasWildcards, literalBase } from "./glob.js";
import { childOf, formatLocation, type Location, parseLocation, s3SchemeOf } from "./location.js";
import {
  archiveStem,
  gunzip,
  isGzipName,
  isReadWholeOnly,
  isZipName,
  listArchive,
  readEntry,
  zipEntryOf,
} from "./archives.js";
import { listObjects, readObject, type S3Settings } from "./s3.js";

/** What reading a file needs of its listing. */
export interface ListedFile {
  readonly uri: string;
  readonly size: number;
}

/** One file found by a listing. */
export interface FileEntry extends ListedFile {
  /** Path relative to the listing's base, `/`-separated. */
  readonly relativePath: string;
  /**
   * What changes when the file's content is replaced: the ETag on S3, the modification time on
   * local disk, the CRC-32 inside an archive. Daily loads tell a changed file by it (and its size).
   */
  readonly version?: string;
  /**
   * A local file's inode: another file renamed over it has another, a log appended to keeps it.
   * Kept apart from `version` because a copy of the input (another inode, the same
   * content and modification time) is the same file to a daily load.
   */
  readonly identity?: string;
}

/**
 * True for names that readers skip, as Hadoop's and Spark's do: `_SUCCESS`, `_temporary/`,
 * `_rejected/` and dot files are bookkeeping, not data.
 */
export function isHidden(relativePath: string): boolean {
  const first = relativePath[0];
  return first === "_" || first === "." || relativePath.includes("/_") || relativePath.includes("/.");
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
function walkLocal(root: string, visit: (file: LocalFile) => boolean | undefined): void {
  const walk = (
    folder: string,
    relativeFolder: string,
    ancestors: readonly string[],
    /** The folder's real path when its parent's is known and it is no link (saves a realpath each). */
    knownReal?: string,
  ): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return false;
      if (code === "ENOTDIR") {
        // The root is a file, or lies under one (a path into an archive, listed from the archive),
        // or is a named pipe or device, which the listing names.
        const found = localStats(folder);
        if (found === undefined || found.isDirectory()) return false;
        return (
          visit(
            found.isFile()
              ? {
                  path: folder,
                  relativePath: basename(folder),
                  size: found.size,
                  version: modifiedVersion(found),
                  identity: identityOf(found),
                }
              : { path: folder, relativePath: basename(folder), size: 0, special: specialKind(found) },
          ) === true
        );
      }
      throw error;
    }
    const real = knownReal ?? realpathSync(folder);
    if (ancestors.includes(real)) {
      throw new Error(`${folder} is a symbolic link loop: it leads back to ${real}, a folder it lies in`);
    }
    const lineage = [...ancestors, real];
    // Paths are joined by hand: path.join normalizes every one, a fifth of a listing's time.
    const prefix = folder.endsWith(sep) ? folder : folder + sep;
    const realPrefix = real.endsWith(sep) ? real : real + sep;
    for (const entry of entries) {
      const path = prefix + entry.name;
      const relativePath = relativeFolder + entry.name;
      let stopped = false;
      if (entry.isDirectory()) stopped = walk(path, `${relativePath}/`, lineage, realPrefix + entry.name);
      else if (entry.isFile()) {
        const stats = statSync(path);
        stopped =
          visit({
            path,
            relativePath,
            size: stats.size,
            version: modifiedVersion(stats),
            identity: identityOf(stats),
          }) === true;
      } else if (entry.isSymbolicLink()) {
        let target: ReturnType<typeof statSync>;
        try {
          target = statSync(path);
        } catch (error) {
          throw new Error(
            `${path} is a symbolic link to nothing that can be read (${(error as NodeJS.ErrnoException).code})`,
          );
        }
        if (target.isDirectory()) stopped = walk(path, `${relativePath}/`, lineage);
        else if (target.isFile())
          stopped =
            visit({
              path,
              relativePath,
              size: target.size,
              version: modifiedVersion(target),
              identity: identityOf(target),
            }) === true;
        else stopped = visit({ path, relativePath, size: 0, special: specialKind(target) }) === true;
      } else stopped = visit({ path, relativePath, size: 0, special: specialKind(entry) }) === true;
      if (stopped) return true;
    }
    return false;
  };
  walk(root, "", []);
}

/** What a directory entry that is neither file, folder nor link is, for the message that names it. */
function specialKind(entry: Dirent | Stats): string {
  if (entry.isFIFO()) return "a named pipe";
  if (entry.isSocket()) return "a socket";
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Whether a source's URI names its input literally: no wildcard, and no list of files given in
 * its place (a list, empty or not, is what the caller found). See `Source.literalInput`.
 */
export function isLiteralInput(uri: string, files: readonly unknown[] | undefined): boolean {
  return files === undefined && !hasWildcards(uri);
}

/** A file found by walking a local folder; `relativePath` is `/`-separated, from the walk's root. */
interface LocalFile {
  readonly path: string;
  readonly relativePath: string;
  readonly size: number;
  readonly version?: string;
  readonly identity?: string;
  /** What it is when it is no regular file (a named pipe, a socket, a device): it cannot be read as one. */
  readonly special?: string;
}

/**
 * Where `listFiles(uri)` starts (its `relativePath`s are relative to it), and which paths under it
 * the URI's glob keeps (hidden ones only when asked for).
 */
export function listingOf(
  uri: string,
  includeHidden = false,
): { base: Location; keeps: (relativePath: string) => boolean } {
  const scheme = s3SchemeOf(uri);
  const isS3 = scheme !== undefined;
  const afterScheme = isS3 ? uri.slice(scheme.length) : uri;
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

function localEntry(file: LocalFile): FileEntry {
  return {
    uri: file.path,
    relativePath: file.relativePath,
    size: file.size,
    ...(file.version === undefined ? {} : { version: file.version }),
    ...(file.identity === undefined ? {} : { identity: file.identity }),
  };
}

const ETAG_VERSION = "etag:";

/** A local file's version: its modification time, to the millisecond. */
function modifiedVersion(stats: { mtimeMs: number }): string {
  return `mtime:${Math.floor(stats.mtimeMs)}`;
}

/**
 * A local file's identity (FileEntry.identity): its inode. Not its device too: a folder shared by
 * the machines of a cluster is mounted as a device of another number on each.
 */
function identityOf(stats: { ino: number }): string {
  return `ino:${stats.ino}`;
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
  const plain = await openArchives(base, await listPlain(base, s3, keeps), s3);
  const entries = [...plain, ...(await listThroughArchives(base, s3, plain.length))];
  return entries
    .filter((entry) => keeps(entry.relativePath))
    .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/**
 * The files under `base`, as they are stored. A named pipe, socket or device that the listing
 * keeps fails it, named: reading a pipe would wait for a writer forever, and dropping what the
 * pattern asked for would be a silent loss. Those it does not keep are no input, and left alone.
 */
async function listPlain(
  base: Location,
  s3: S3Settings,
  keeps: (relativePath: string) => boolean,
): Promise<FileEntry[]> {
  let entries: FileEntry[];
  if (base.kind === "local") {
    entries = [];
    walkLocal(base.path, (file) => {
      if (file.special === undefined) entries.push(localEntry(file));
      else if (keeps(file.relativePath))
        throw new Error(
          `${file.path} is ${file.special}, not a file: move it away, or narrow the input's pattern`,
        );
      return false;
    });
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
        ...(object.etag === undefined ? {} : { version: `${ETAG_VERSION}${object.etag}` }),
      }));
  }
  return entries;
}

/**
 * Replaces each zip archive among `entries` by its files, in the folder it stands for: `x.zip`
 * lists as `x/...`, and an archive that is the base itself lists as the base's files.
 */
async function openArchives(base: Location, entries: FileEntry[], s3: S3Settings): Promise<FileEntry[]> {
  const opened: FileEntry[] = [];
  const baseUri = formatLocation(base);
  for (const entry of entries) {
    if (!isZipName(entry.uri) || isHidden(entry.relativePath)) {
      opened.push(entry);
      continue;
    }
    const folder =
      entry.uri === baseUri ? "" : `${entry.relativePath.replace(/[^/]*$/, "")}${archiveStem(entry.uri)}/`;
    for (const file of await listArchive(entry.uri, s3))
      opened.push({
        uri: file.uri,
        relativePath: `${folder}${file.path}`,
        size: file.size,
        version: file.version,
      });
  }
  return opened;
}

/** The size of a local file, or undefined when the path is a folder, missing, or under a file. */
function localFileSize(path: string): number | undefined {
  const found = localStats(path);
  return found?.isFile() ? found.size : undefined;
}

/** What stands at a local path; undefined when nothing does (or a file stands where a folder would). */
function localStats(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw error;
  }
}

/** True when `location` is a file (not a folder, not missing). */
async function isFile(location: Location, s3: S3Settings): Promise<boolean> {
  if (location.kind === "local") return localFileSize(location.path) !== undefined;
  if (location.key === "") return false;
  return (await listObjects(s3, location.bucket, location.key)).some((object) => object.key === location.key);
}

/**
 * Where the base lies inside an archive: the archive's files under it. The archive may be named in
 * the path (`data.zip/song_data`, `data.zip!/song_data`) or stand for a folder of the path
 * (`song_data.zip` for `input/song_data/A`). Local ancestors are checked with a stat each; on S3,
 * each check is a listing, so ancestors are only searched when the base itself holds nothing.
 */
async function listThroughArchives(base: Location, s3: S3Settings, found: number): Promise<FileEntry[]> {
  const baseUri = formatLocation(base).replace(/(\.zip)!\//i, "$1/");
  const scheme = s3SchemeOf(baseUri) ?? "";
  const segments = baseUri.slice(scheme.length).split("/");
  const deepest = base.kind === "s3" && found > 0 ? segments.length - 1 : 1;
  for (let end = segments.length; end > deepest; end--) {
    const ancestor = scheme + segments.slice(0, end).join("/");
    const inner = segments.slice(end).join("/");
    const archiveUri = isZipName(ancestor) ? ancestor : `${ancestor}.zip`;
    // The base itself, an archive, was opened with the plain listing.
    if (end === segments.length && isZipName(ancestor)) continue;
    // An archive named in the path is entered; one beside a folder of the base only adds to it.
    if (!isZipName(ancestor) && end < segments.length && found > 0) continue;
    const archive = parseLocation(archiveUri);
    if (archive.kind === "s3" && archive.key === "") continue;
    if (!(await isFile(archive, s3))) continue;
    const files = await listArchive(formatLocation(archive), s3);
    const matched: FileEntry[] = [];
    for (const file of files) {
      if (inner === "")
        matched.push({ uri: file.uri, relativePath: file.path, size: file.size, version: file.version });
      else if (file.path === inner)
        matched.push({
          uri: file.uri,
          relativePath: inner.split("/").at(-1)!,
          size: file.size,
          version: file.version,
        });
      else if (file.path.startsWith(`${inner}/`))
        matched.push({
          uri: file.uri,
          relativePath: file.path.slice(inner.length + 1),
          size: file.size,
          version: file.version,
        });
    }
    return matched;
  }
  return [];
}

/**
 * True when `listFiles(uri)` would find anything. On local disk it stops at the first match, so
 * that checking an input of 200,000 files does not list them all before the job lists them again.
 */
export async function anyFileMatches(uri: string, s3: S3Settings = {}): Promise<boolean> {
  const { base, keeps } = listingOf(uri);
  if (base.kind !== "local") return (await listFiles(uri, s3)).length > 0;
  let found = false;
  // What an archive holds is listed below.
  walkLocal(base.path, (file) => {
    // A pipe or device the pattern keeps is found here, and named by the listing that reads.
    if (isZipName(file.path)) return true;
    found = keeps(file.relativePath);
    return found;
  });
  return found || (await listFiles(uri, s3)).length > 0;
}

/** What a listing gave of a file: read against it, a file replaced since is told (readBytes). */
export interface ListedAs {
  readonly size: number;
  readonly version?: string;
  readonly identity?: string;
}

/**
 * Streams a file's bytes from `start` on. A zip entry or a `.gz` file is uncompressed on the way,
 * and read from its start only. With `listed` (what its listing gave), a file whose content was
 * replaced since is not read: the byte ranges of one file that tasks read apart would otherwise
 * come from two contents, and lines be lost or read twice without a word. An S3 object is read in
 * the version listed (If-Match on its ETag); a local file, which a log may still be appended to
 * (every range then sees the listed bytes alike), only when it is the file listed (the same
 * inode: not another renamed over it) and longer than listed, or of the listed size and
 * modification time.
 */
export function readBytes(
  uri: string,
  s3: S3Settings = {},
  start = 0,
  listed?: ListedAs,
): AsyncIterable<Uint8Array> {
  if (isReadWholeOnly(uri)) {
    if (start !== 0) throw new Error(`${uri} is compressed: it can only be read from its start`);
    const stored = zipEntryOf(uri) ? readEntry(uri, s3) : readStored(uri, s3);
    // A .gz file inside an archive is compressed twice: the archive's entry, then gzip.
    return isGzipName(uri) ? gunzip(uri, stored) : stored;
  }
  return readStored(uri, s3, start, listed);
}

/** Streams a file's bytes as they are stored. */
function readStored(uri: string, s3: S3Settings, start = 0, listed?: ListedAs): AsyncIterable<Uint8Array> {
  const location = parseLocation(uri);
  if (location.kind === "s3") {
    const version = listed?.version;
    const etag = version?.startsWith(ETAG_VERSION) ? version.slice(ETAG_VERSION.length) : undefined;
    return readListedObject(s3, location.bucket, location.key, start, etag);
  }
  return readLocal(location.path, start, listed);
}

async function* readListedObject(
  s3: S3Settings,
  bucket: string,
  key: string,
  start: number,
  listedEtag: string | undefined,
): AsyncGenerator<Uint8Array> {
  try {
    yield* readObject(s3, bucket, key, start, undefined, listedEtag);
  } catch (error) {
    throw goneOrAsIs(`s3://${bucket}/${key}`, error);
  }
}

async function* readLocal(
  path: string,
  start: number,
  listed: ListedAs | undefined,
): AsyncGenerator<Uint8Array> {
  try {
    // One stat per range of a large file: one shorter than listed was cut short or rewritten, one
    // of the listed size modified since was rewritten in place, and one of another inode is another
    // file renamed over it, whatever its size (a log appended to keeps its inode and grows).
    if (listed !== undefined) {
      const now = statSync(path);
      const rewritten =
        now.size === listed.size && listed.version !== undefined && modifiedVersion(now) !== listed.version;
      const another = listed.identity !== undefined && identityOf(now) !== listed.identity;
      if (now.size < listed.size || rewritten || another) throw replaced(path);
    }
    yield* createReadStream(path, { start, highWaterMark: 1 << 20 });
  } catch (error) {
    throw goneOrAsIs(path, error);
  }
}

function replaced(path: string): Error {
  return new Error(
    `${path} was changed after the run listed it: its parts, read by several tasks, could come from two contents; run again once the input holds still`,
  );
}

/**
 * A file that was listed and cannot be found when read was removed or renamed during the run:
 * said so, rather than as Node's "ENOENT: no such file or directory, open".
 */
function goneOrAsIs(path: string, error: unknown): unknown {
  const s3Name = ((error as { cause?: { name?: unknown } } | undefined)?.cause?.name ?? "") as string;
  if (s3Name === "PreconditionFailed") return replaced(path);
  const missing =
    (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT" ||
    s3Name === "NoSuchKey" ||
    s3Name === "NotFound";
  if (!missing) return error;
  return new Error(
    `${path} was listed when the run began and is gone now: it was removed or renamed while the run read its input (as a log rotation does); run again once the input holds still`,
  );
}

/** Reads a whole (small) file. */
export async function readAll(uri: string, s3: S3Settings = {}): Promise<Buffer> {
  const location = parseLocation(uri);
  if (location.kind === "local" && !isReadWholeOnly(uri)) {
    // One blocking read: for a small file, cheaper than the four thread-pool round trips of an
    // asynchronous one, and tasks run on worker threads, whose event loops have nothing else to do.
    try {
      return readFileSync(location.path);
    } catch (error) {
      throw goneOrAsIs(location.path, error);
    }
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of readBytes(uri, s3)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export { childOf, formatLocation, type Location, parseLocation };
