/** What the command-line programs share: argument checks, sizes, progress, and one-line failures. */
import type { JobMetrics } from "../core/index.js";

/** A bad argument: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A count in plain decimal digits (`Number` alone would take `0x10`, `1e3` and ` 7`). */
export function positiveInteger(name: string, text: string | undefined, max?: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`--${name} must be a positive integer, got '${text}'`);
  if (max !== undefined && value > max)
    throw new UsageError(`--${name} must be at most ${max.toLocaleString("en-US")}, got '${text}'`);
  return value;
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
export function parseSize(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? "?"];
  if (!match || unit === undefined)
    throw new UsageError(`--${name} must be a size such as 512MB or 1GiB, got '${text}'`);
  return Math.round(Number(match[1]) * unit);
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

export function formatCount(count: number): string {
  return Math.round(count).toLocaleString("en-US");
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

/**
 * Shows a run's progress: on a terminal, a table of stages redrawn in place (records, MB read,
 * rate, elapsed); otherwise a plain line as each stage finishes; nothing when quiet.
 */
export class ProgressDisplay {
  private latest: JobMetrics | undefined;
  private drawnLines = 0;
  private readonly reported = new Set<number>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly quiet: boolean,
  ) {
    if (!quiet && stream.isTTY) this.timer = setInterval(() => this.draw(), 250);
  }

  update(metrics: JobMetrics): void {
    this.latest = metrics;
    if (this.quiet || this.stream.isTTY) return;
    for (const stage of metrics.stages) {
      if (stage.state !== "done" || this.reported.has(stage.stageId)) continue;
      this.reported.add(stage.stageId);
      const rate = stage.wallMs > 0 ? (stage.recordsIn / stage.wallMs) * 1000 : 0;
      this.stream.write(
        `stage ${stage.stageId} done: ${stage.name}: ${formatCount(stage.recordsIn)} records in, ${formatCount(stage.recordsOut)} out, ${formatBytes(stage.bytesRead)} read, ${formatCount(rate)} records/s, ${(stage.wallMs / 1000).toFixed(1)} s\n`,
      );
    }
  }

  private draw(): void {
    const metrics = this.latest;
    if (!metrics) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const rows = metrics.stages.map((stage) => {
      const seconds = stage.wallMs / 1000;
      return [
        `${stage.stageId} ${stage.name.length > 48 ? `${stage.name.slice(0, 45)}...` : stage.name}`,
        `${stage.tasksDone}/${stage.tasks || "?"}`,
        formatCount(stage.recordsIn),
        (stage.bytesRead / 1e6).toFixed(1),
        seconds > 0 ? formatCount(stage.recordsIn / seconds) : "-",
        stage.state === "waiting" ? "-" : `${seconds.toFixed(1)} s`,
      ];
    });
    const text = `${formatTable(["stage", "tasks", "records", "MB read", "records/s", "elapsed"], rows)}\nelapsed ${elapsed.toFixed(1)} s\n`;
    if (this.drawnLines > 0) this.stream.write(`\x1b[${this.drawnLines}A\x1b[J`);
    this.stream.write(text);
    this.drawnLines = text.split("\n").length - 1;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (!this.quiet && this.stream.isTTY) this.draw();
  }
}
