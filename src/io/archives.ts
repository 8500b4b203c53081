/**
 * Files inside zip archives and gzip-compressed files, read as if they were plain files.
 *
 * An archive `NAME.zip` stands for the folder `NAME/`, as `unzip -d NAME` would make it: its
 * entries are listed as `NAME/<entry>`, and a top folder `NAME/` inside it is not doubled (the
 * Sparkify sample's `song_data.zip` holds `song_data/A/A/A/...json`). An entry's URI is the
 * archive's, `!/` and the entry's name, as Java's jar URLs write it. The central directory is read
 * with ranged reads (on S3 too): an archive is never downloaded whole to list or read one entry.
 *
 * Compressed data cannot be entered in the middle: an entry or a `.gz` file is one split, read
 * from its start.
 */
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import type yauzl from "yauzl";
import { SluiceError } from "../core/errors.js";
import { parseLocation } from "./location.js";
import { objectSize, readObject, type S3Settings } from "./s3.js";

const ENTRY_SEPARATOR = "!/";

export function isZipName(path: string): boolean {
  return /\.zip$/i.test(path);
}

export function isGzipName(path: string): boolean {
  return /\.gz$/i.test(path);
}

/** Splits `archive.zip!/entry/path` into the archive's URI and the entry's name. */
export function zipEntryOf(uri: string): { readonly archive: string; readonly entry: string } | undefined {
  const at = uri.toLowerCase().indexOf(`.zip${ENTRY_SEPARATOR}`);
  if (at < 0) return undefined;
  return { archive: uri.slice(0, at + 4), entry: uri.slice(at + 4 + ENTRY_SEPARATOR.length) };
}

/** True for what can only be read from its start: a zip entry or a gzip file. */
export function isReadWholeOnly(uri: string): boolean {
  return zipEntryOf(uri) !== undefined || isGzipName(uri);
}

/**
 * What a compressed file is counted as when a run sizes its work from its input (`Source.bytesOf`):
 * JSON text shrinks to about an eighth under gzip or zip. Counting too much costs little (more
 * shuffle partitions, as for an input of unknown size); too little would make partitions large.
 */
export const COMPRESSED_TEXT_EXPANSION = 8;

/** The bytes of text a range of a listed file stands for (a compressed file: as it expands). */
export function textBytesOf(uri: string, listedBytes: number): number {
  return isReadWholeOnly(uri) ? listedBytes * COMPRESSED_TEXT_EXPANSION : listedBytes;
}

/** The folder an archive stands for: `logs/song_data.zip` -> `song_data`. */
export function archiveStem(archivePath: string): string {
  return archivePath
    .split("/")
    .at(-1)!
    .replace(/\.zip$/i, "");
}

/** An entry's path inside the folder its archive stands for (a top folder of the stem's name dropped). */
function pathInStem(stem: string, entry: string): string {
  return entry.startsWith(`${stem}/`) ? entry.slice(stem.length + 1) : entry;
}

/**
 * The zip reader, imported when the first archive is opened: a CommonJS package that every worker
 * would otherwise parse as it starts, for runs that read no archive at all.
 */
let zipReader: Promise<typeof yauzl> | undefined;
function loadZipReader(): Promise<typeof yauzl> {
  zipReader ??= import("yauzl").then((module) => module.default);
  return zipReader;
}

/** A reader of an S3 object's byte ranges, for the zip reader to fetch only what it reads. */
function s3RangeReader(zipLibrary: typeof yauzl, settings: S3Settings, bucket: string, key: string) {
  return new (class S3RangeReader extends zipLibrary.RandomAccessReader {
    override _readStreamForRange(start: number, end: number): Readable {
      return Readable.from(readObject(settings, bucket, key, start, end));
    }
  })();
}

interface OpenArchive {
  readonly zip: yauzl.ZipFile;
  readonly entries: ReadonlyMap<string, yauzl.Entry>;
}

/** Archives kept open per thread, most recently used last: reading entries one by one reopens none. */
const openArchives = new Map<string, Promise<OpenArchive>>();
const MAX_OPEN_ARCHIVES = 8;

async function openZip(uri: string, s3: S3Settings): Promise<yauzl.ZipFile> {
  const options = { lazyEntries: true, autoClose: false } as const;
  const location = parseLocation(uri);
  const zipLibrary = await loadZipReader();
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, zip?: yauzl.ZipFile) => (error ? reject(error) : resolve(zip!));
    if (location.kind === "local") {
      zipLibrary.open(location.path, options, done);
      return;
    }
    objectSize(s3, location.bucket, location.key).then((size) => {
      const reader = s3RangeReader(zipLibrary, s3, location.bucket, location.key);
      zipLibrary.fromRandomAccessReader(reader, size, options, done);
    }, reject);
  });
}

async function readDirectory(uri: string, s3: S3Settings): Promise<OpenArchive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(uri, s3);
  } catch (error) {
    throw new Error(`${uri}: not a readable zip archive (${(error as Error).message})`);
  }
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on("entry", (entry: yauzl.Entry) => {
      if (!entry.fileName.endsWith("/")) entries.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.on("end", () => resolve());
    zip.on("error", (error: Error) => reject(new Error(`${uri}: ${error.message}`)));
    zip.readEntry();
  });
  return { zip, entries };
}

function archive(uri: string, s3: S3Settings): Promise<OpenArchive> {
  let opened = openArchives.get(uri);
  if (opened) {
    openArchives.delete(uri);
  } else {
    opened = readDirectory(uri, s3);
    opened.catch(() => openArchives.delete(uri));
    while (openArchives.size >= MAX_OPEN_ARCHIVES) {
      const [oldest, closing] = openArchives.entries().next().value!;
      openArchives.delete(oldest);
      closing.then(
        ({ zip }) => zip.close(),
        () => undefined,
      );
    }
  }
  openArchives.set(uri, opened);
  return opened;
}

/** An entry of a listed archive: its URI, its path in the folder the archive stands for, its size. */
export interface ArchiveEntry {
  readonly uri: string;
  readonly path: string;
  readonly size: number;
  /** The entry's CRC-32: what changes when its content does. */
  readonly version: string;
}

/** The files in an archive, with their paths inside the folder it stands for. */
export async function listArchive(uri: string, s3: S3Settings = {}): Promise<ArchiveEntry[]> {
  const stem = archiveStem(uri);
  const { entries } = await archive(uri, s3);
  return [...entries.values()].map((entry) => ({
    uri: `${uri}${ENTRY_SEPARATOR}${entry.fileName}`,
    path: pathInStem(stem, entry.fileName),
    size: entry.uncompressedSize,
    version: `crc32:${entry.crc32}`,
  }));
}

/** The bytes of an archive entry, uncompressed, as a stream. */
export async function* readEntry(uri: string, s3: S3Settings = {}): AsyncGenerator<Uint8Array> {
  const parts = zipEntryOf(uri);
  if (!parts) throw new Error(`${uri} is not an archive entry`);
  const { zip, entries } = await archive(parts.archive, s3);
  const entry = entries.get(parts.entry);
  if (!entry) throw new Error(`${uri}: the archive has no entry '${parts.entry}'`);
  const stream = await new Promise<Readable>((resolve, reject) =>
    zip.openReadStream(entry, (error, opened) => (error ? reject(error) : resolve(opened!))),
  );
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (error) {
    throw new Error(`${uri}: ${(error as Error).message}`);
  }
}

/**
 * The bytes of a gzip-compressed stream, uncompressed; errors name the file and say what is wrong
 * with it. A file of no bytes at all holds no records, as an empty plain file holds none: a log
 * shipper that died before its first write leaves one, and failing the whole run on it would
 * gain nothing (there is nothing in it to lose). A file with any bytes must be whole gzip.
 */
export async function* gunzip(
  uri: string,
  compressed: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let compressedBytes = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of compressed) {
      compressedBytes += chunk.length;
      yield chunk;
    }
  }
  // pipeline, not pipe: an error reading the compressed bytes ends the uncompressed stream too.
  const stream = pipeline(Readable.from(counted()), createGunzip(), () => undefined);
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (error) {
    // An error reading the compressed bytes (a file gone, a connection lost) is its own, and
    // names the file if it does not already.
    if (!isZlibError(error)) {
      const message = (error as Error | undefined)?.message ?? String(error);
      throw message.includes(uri) ? error : new Error(`${uri}: ${message}`, { cause: error });
    }
    if (compressedBytes === 0) return;
    throw new Error(`${uri}: not readable as gzip (${(error as Error).message})${gzipHint(error)}`);
  } finally {
    stream.destroy();
  }
}

function isZlibError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && code.startsWith("Z_");
}

/** What a zlib error says about the file, for the person who has to mend it. */
function gzipHint(error: unknown): string {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case "Z_BUF_ERROR":
      return ": the file ends before its compressed data does, as an upload or copy cut short leaves it; copy it again, or move it out of the input";
    case "Z_DATA_ERROR":
      return (error as Error).message.includes("header")
        ? ": its name ends in .gz but it is not gzip; rename it, or move it out of the input"
        : ": its compressed data is damaged; copy it again, or move it out of the input";
    default:
      return "";
  }
}

/** The first bytes of compressed files, which no JSON text starts with. */
const COMPRESSED_MAGIC: readonly {
  readonly bytes: readonly number[];
  readonly kind: string;
  readonly advice: string;
}[] = [
  { bytes: [0x1f, 0x8b], kind: "gzip", advice: "rename it to end in .gz to have it read" },
  {
    bytes: [0x50, 0x4b, 0x03, 0x04],
    kind: "a zip archive",
    advice: "rename it to end in .zip to have its files read",
  },
  {
    bytes: [0x28, 0xb5, 0x2f, 0xfd],
    kind: "zstd",
    advice: "uncompress it, or compress it with gzip as .json.gz",
  },
  { bytes: [0x42, 0x5a, 0x68], kind: "bzip2", advice: "uncompress it, or compress it with gzip as .json.gz" },
  {
    bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
    kind: "xz",
    advice: "uncompress it, or compress it with gzip as .json.gz",
  },
];

/**
 * The error for a file whose bytes from `at` are a compressed format its name does not say (a
 * gzip file named .json): read as text, every line of it would be rejected as not UTF-8, its
 * content lost to the rejected records. Undefined when the bytes are no such format.
 */
export function misnamedCompressed(uri: string, bytes: Uint8Array, at = 0): SluiceError | undefined {
  const found = COMPRESSED_MAGIC.find((magic) =>
    magic.bytes.every((byte, index) => bytes[at + index] === byte),
  );
  if (!found) return undefined;
  const what = found.kind === "a zip archive" ? found.kind : `${found.kind}-compressed`;
  if (isReadWholeOnly(uri))
    return new SluiceError(
      `${uri}: what it holds, once uncompressed, is ${what} again: compress its content once, or move it out of the input`,
    );
  return new SluiceError(
    `${uri} is ${what}, and its name does not say so: ${found.advice}, or move it out of the input`,
  );
}
