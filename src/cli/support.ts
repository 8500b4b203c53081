/** What the command-line programs share: argument checks, sizes and tables. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { didYouMean } from "../core/closest-name.js";

/** A bad argument: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A count in plain decimal digits (`Number` alone would take `0x10`, `1e3` and ` 7`), at least 1. */
export function positiveInteger(name: string, text: string, max?: number): number;
export function positiveInteger(name: string, text: string | undefined, max?: number): number | undefined;
export function positiveInteger(name: string, text: string | undefined, max?: number): number | undefined {
  return integerOption(name, text, { min: 1, ...(max === undefined ? {} : { max }) });
}

/** A count in plain decimal digits between `min` and `max`; a usage error names the bound it missed. */
export function integerOption(
  name: string,
  text: string | undefined,
  bounds: { readonly min: number; readonly max?: number },
): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min) {
    const wanted =
      bounds.min === 1 ? "a positive integer" : `an integer of at least ${formatCount(bounds.min)}`;
    throw new UsageError(`--${name} must be ${wanted}, got '${text}'`);
  }
  if (bounds.max !== undefined && value > bounds.max)
    throw new UsageError(`--${name} must be at most ${formatCount(bounds.max)}, got '${text}'`);
  return value;
}

/**
 * parseArgs, its errors told as usage errors in plain words: a valued option given no value (at
 * the end, or before another option) "needs a value", rather than parseArgs's "argument is
 * ambiguous"; an unknown option is named with the nearest known one.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const valueless =
      /use '(--[\w-]+)=-XYZ'/.exec(message) ??
      /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument missing/.exec(message);
    if (valueless) throw new UsageError(`${valueless[1]} needs a value`);
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    if (unknown) {
      const known = Object.keys(config.options ?? {}).map((name) => `--${name}`);
      throw new UsageError(`unknown option '${unknown[1]}'${didYouMean(unknown[1]!, known)}`);
    }
    throw new UsageError(message);
  }
}

/**
 * Writes `--name -5` as `--name=-5` for the options that take a value, so that a negative value is
 * answered with what is wrong with it rather than parseArgs's "argument is ambiguous".
 */
export function attachNegativeValues(argv: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const next = argv[index + 1];
    if (valued.has(argument) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argument}=${next}`);
      index++;
    } else {
      out.push(argument);
    }
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Parses sizes such as `512MB`, `1GiB` or `1048576`. */
export function parseSize(name: string, text: string): number;
export function parseSize(name: string, text: string | undefined): number | undefined;
export function parseSize(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? "?"];
  if (!match || unit === undefined)
    throw new UsageError(`--${name} must be a size such as 512MB or 1GiB, got '${text}'`);
  return Math.round(Number(match[1]) * unit);
}

/** A thread's heap option, in whole MiB as V8 takes it; less than 64 MiB cannot even load a pipeline. */
export function heapMegabytes(name: string, text: string): number {
  const megabytes = Math.floor((parseSize(name, text) ?? 0) / (1024 * 1024));
  if (megabytes < 64) throw new UsageError(`--${name} must be at least 64MiB, got '${text}'`);
  return megabytes;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A whole count with its thousands separated by commas, as en-US writes it. Written out rather
 * than asked of Intl: the first call of toLocaleString loads ICU's number formats, a cost a short
 * daily load would pay in every run.
 */
export function formatCount(count: number): string {
  const digits = String(Math.round(count));
  return Number.isFinite(count) ? digits.replace(/\B(?=(\d{3})+$)/g, ",") : digits;
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}
