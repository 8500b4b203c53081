/**
 * The inventory of a bookkeeping table: the files its commit left and their sizes, kept in the
 * table's `_SUCCESS` (as Hadoop's S3A committers keep a manifest there), and checked before a run
 * reads the table back as what it kept from an earlier run.
 *
 * A damaged line is told by its parse (bookkeeping.ts), but a file cut at the end of a line, or a
 * file gone (a copy of the lake stopped half way, a restore that missed one), parses as well as a
 * whole one: the run would go on from a state that lacks its lines, without a word. Its size and
 * its presence tell it.
 */
import { readFile } from "node:fs/promises";
import { damagedBookkeeping } from "./bookkeeping.js";
import { childOf, formatLocation, type Location } from "./location.js";
import { getText, type S3Settings } from "./s3.js";
import { type FileEntry, isHidden, listFiles, listingOf } from "./storage.js";

/** The name of the file that marks a committed table, and holds a bookkeeping table's inventory. */
export const SUCCESS_NAME = "_SUCCESS";

/** What `_SUCCESS` holds for a bookkeeping table: each file's path in the table and its size. */
interface Inventory {
  readonly inventory: 1;
  readonly files: Record<string, number>;
}

/** How every inventory's text begins, and nothing else written to `_SUCCESS` does. */
const INVENTORY_START = '{"inventory":1,';

/** The `_SUCCESS` text that records `files` (paths relative to the table, sizes in bytes). */
export function inventoryText(files: readonly { relativePath: string; size: number }[]): string {
  const inventory: Inventory = {
    inventory: 1,
    files: Object.fromEntries(files.map((file) => [file.relativePath, file.size])),
  };
  return `${JSON.stringify(inventory)}\n`;
}

/**
 * Lists what a pipeline kept from an earlier run under `uri`, as `listFiles` does, and fails,
 * naming the file, where it is not as the last commit left it (`checkInventory`): every reader
 * of bookkeeping lists it so.
 */
export async function listBookkeeping(
  uri: string,
  s3: S3Settings = {},
  options: { readonly includeHidden?: boolean } = {},
): Promise<FileEntry[]> {
  const files = await listFiles(uri, s3, options);
  const data = options.includeHidden ? files.filter((file) => !isHidden(file.relativePath)) : files;
  await checkInventory(uri, data, s3);
  return files;
}

/** Folders above a listing's base searched for its table's `_SUCCESS` (a glob into a partition). */
const LEVELS_SEARCHED = 8;

/**
 * Fails, naming the file, when the files listed for `uri` (a table folder, a glob under one, or a
 * folder inside one) are not those its commit left: a file it recorded that the URI selects is
 * gone or has another size, or a file is there that no commit wrote. The table is the nearest
 * folder at or above the listing's base that holds a `_SUCCESS`; one that is empty (a table of an
 * earlier version of sluice, or of another writer) holds no inventory, and nothing is checked.
 */
async function checkInventory(uri: string, files: readonly FileEntry[], s3: S3Settings = {}): Promise<void> {
  const { base, keeps } = listingOf(uri);
  const table = await findMarker(base, s3);
  // Empty (a lake of an earlier version, Spark's committers), or another writer's summary (Hadoop's
  // S3A committers write JSON there too): not an inventory, nothing to check against.
  if (table === undefined || !table.text.startsWith(INVENTORY_START)) return;
  const recorded = recordedFiles(table.text);
  if (recorded === undefined) {
    throw damagedBookkeeping(
      formatLocation(childOf(table.location, SUCCESS_NAME)),
      "not the inventory of files a commit writes there",
    );
  }
  // The inventory's paths are the table's; the listing's are its base's, `below` under the table.
  const below = table.below;
  const listed = (path: string) =>
    below === "" ? path : path.startsWith(`${below}/`) ? path.slice(below.length + 1) : undefined;
  const found = new Map(files.map((file) => [file.relativePath, file]));
  const problems: [where: string, problem: string][] = [];
  for (const [tablePath, size] of Object.entries(recorded)) {
    const path = listed(tablePath);
    if (path === undefined || !keeps(path)) continue;
    const file = found.get(path);
    const bytes = `${size.toLocaleString("en-US")} bytes`;
    if (!file) problems.push([formatLocation(childOf(base, path)), `missing (its commit left ${bytes})`]);
    else if (file.size !== size) {
      problems.push([
        file.uri,
        `holds ${file.size.toLocaleString("en-US")} bytes where its commit left ${bytes} (cut short, or written over)`,
      ]);
    }
  }
  for (const file of files) {
    if (!Object.hasOwn(recorded, below === "" ? file.relativePath : `${below}/${file.relativePath}`))
      problems.push([file.uri, "no commit of this table wrote it (move it away)"]);
  }
  const [first] = problems;
  if (!first) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more file(s) not as committed)` : "";
  throw damagedBookkeeping(first[0], `${first[1]}${more}`);
}

/**
 * The files an inventory records, by path, with their sizes; undefined for a text that is no
 * inventory (empty, another writer's, or torn).
 */
export function recordedFiles(text: string | undefined): Record<string, number> | undefined {
  if (text === undefined || !text.startsWith(INVENTORY_START)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const files = (parsed as Partial<Inventory>).files;
  if (typeof files !== "object" || files === null) return undefined;
  return Object.values(files).every((size) => Number.isSafeInteger(size) && size >= 0) ? files : undefined;
}

/**
 * The nearest folder at or above `base` that holds a `_SUCCESS`, its text, and the path from it
 * down to `base` ("" for `base` itself).
 */
async function findMarker(
  base: Location,
  s3: S3Settings,
): Promise<{ location: Location; text: string; below: string } | undefined> {
  const path = base.kind === "local" ? base.path : base.key;
  const parts = path.split("/");
  for (let up = 0; up <= LEVELS_SEARCHED && up < parts.length; up++) {
    const folder = parts.slice(0, parts.length - up).join("/");
    if (folder === "" && base.kind === "local") break;
    const location: Location =
      base.kind === "local" ? { kind: "local", path: folder } : { ...base, key: folder };
    const text = await readMarker(location, s3);
    if (text !== undefined) return { location, text, below: parts.slice(parts.length - up).join("/") };
  }
  return undefined;
}

/** The text of a table's `_SUCCESS`, or undefined where it has none. */
export async function readMarker(table: Location, s3: S3Settings): Promise<string | undefined> {
  const location = childOf(table, SUCCESS_NAME);
  if (location.kind === "s3") return getText(s3, location.bucket, location.key);
  try {
    return await readFile(location.path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}
