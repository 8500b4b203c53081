/**
 * Hive-style partition folders (`year=2018/month=11`), escaped as Hive's
 * `FileUtils.escapePathName` does, so that Spark, DuckDB, Athena and pyarrow read them back and
 * no value, whatever it holds, can leave its table's folder.
 */

/** The folder name of a null or empty partition value. */
export const HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__";

function mustEscape(code: number): boolean {
  if (code < 0x20 || code === 0x7f) return true;
  return "\"#%'*/:=?\\^[]{}".includes(String.fromCharCode(code));
}

/** The characters `mustEscape` escapes, for a fast check that a value needs no escaping at all. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what Hive escapes.
const NEEDS_ESCAPING = /[\x00-\x1f\x7f"#%'*/:=?\\^[\]{}]/;

export function escapePathName(value: string): string {
  if (!NEEDS_ESCAPING.test(value)) return value;
  let escaped = "";
  for (const character of value) {
    const code = character.charCodeAt(0);
    escaped +=
      character.length === 1 && mustEscape(code)
        ? `%${code.toString(16).toUpperCase().padStart(2, "0")}`
        : character;
  }
  return escaped;
}

export function unescapePathName(escaped: string): string {
  return escaped.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/**
 * The text of a partition value, or null for Hive's default partition. A Date (which a
 * timestamp column takes, as it does epoch milliseconds) is its epoch milliseconds, the number
 * its column holds: its own text would name the folder in the writer's time zone and read back
 * as no timestamp.
 */
export function partitionText(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "string") return value;
  return value instanceof Date ? String(value.getTime()) : String(value);
}

/** The longest folder name the common file systems hold (ext4, XFS, APFS, NTFS), in bytes. */
export const MAX_FOLDER_NAME_BYTES = 255;

function partitionSegment(name: string, value: unknown): string {
  const text = partitionText(value);
  const segment = `${escapePathName(name)}=${text === null ? HIVE_DEFAULT_PARTITION : escapePathName(text)}`;
  if (segment.length > MAX_FOLDER_NAME_BYTES / 3 && Buffer.byteLength(segment) > MAX_FOLDER_NAME_BYTES) {
    throw new Error(
      `the partition value of '${name}' starting ${JSON.stringify(String(text).slice(0, 40))} makes a folder name of ${Buffer.byteLength(segment)} bytes, more than the ${MAX_FOLDER_NAME_BYTES} a file system holds`,
    );
  }
  return segment;
}

/**
 * Why a value cannot be a partition value of column `name` and read back as itself, or undefined:
 * its escaped folder name is longer than a file system holds, or it is Hive's name for null.
 * (Null and "" are written as Hive's default partition and read back as null, by design.)
 */
export function partitionValueProblem(name: string, value: unknown): string | undefined {
  const text = partitionText(value);
  if (text === HIVE_DEFAULT_PARTITION) return `${HIVE_DEFAULT_PARTITION} would read back as null`;
  if (text === null) return undefined;
  const bytes = Buffer.byteLength(`${escapePathName(name)}=${escapePathName(text)}`);
  return bytes > MAX_FOLDER_NAME_BYTES
    ? `too long for a partition folder (${bytes} bytes escaped, at most ${MAX_FOLDER_NAME_BYTES})`
    : undefined;
}

/** `name=value/...` for the given columns of a record. */
export function partitionPath(record: Record<string, unknown>, columns: readonly string[]): string {
  return columns.map((name) => partitionSegment(name, record[name])).join("/");
}

/** Bound on the paths remembered: partitioned tables may have many thousands. */
const REMEMBERED_VALUES = 4096;

/** A remembered partition path, and the paths one column deeper under it. */
interface PathNode {
  readonly path: string;
  readonly deeper: Map<unknown, PathNode>;
}

/**
 * `partitionPath` for every row a sink writes: remembers the paths of recent values, column by
 * column, so that a million rows in a few dozen partitions do not each escape and format their
 * values again, nor build a new string for a path the sink then looks up.
 */
export class PartitionPaths {
  private readonly root: PathNode = { path: "", deeper: new Map() };
  private remembered = 0;

  /** `check` throws for a value the column cannot hold; called once per value remembered. */
  constructor(
    private readonly columns: readonly string[],
    private readonly check?: (name: string, value: unknown) => void,
  ) {}

  of(record: Record<string, unknown>): string {
    let node = this.root;
    for (let index = 0; index < this.columns.length; index++) {
      const name = this.columns[index]!;
      const value = record[name];
      let next = node.deeper.get(value);
      if (next === undefined) {
        if (this.remembered >= REMEMBERED_VALUES) this.forget();
        this.check?.(name, value);
        const segment = partitionSegment(name, value);
        next = { path: index === 0 ? segment : `${node.path}/${segment}`, deeper: new Map() };
        node.deeper.set(value, next);
        this.remembered++;
      }
      node = next;
    }
    return node.path;
  }

  private forget(): void {
    this.root.deeper.clear();
    this.remembered = 0;
  }
}

/** Partition values from a relative file path (`year=2018/month=11/part-0.parquet`). */
export function partitionValues(relativePath: string): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  for (const segment of relativePath.split("/").slice(0, -1)) {
    const equals = segment.indexOf("=");
    if (equals <= 0) continue;
    const value = segment.slice(equals + 1);
    values[unescapePathName(segment.slice(0, equals))] =
      value === HIVE_DEFAULT_PARTITION ? null : unescapePathName(value);
  }
  return values;
}
