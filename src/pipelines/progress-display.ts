/**
 * A run's progress on the command's terminal: a table of stages redrawn in place on a TTY, a plain
 * line per finished stage otherwise, nothing when quiet.
 *
 * The live table keeps three promises. It fits the terminal: every line is cut to the width the
 * terminal has at that moment, and the table to its height, so nothing wraps and the cursor
 * arithmetic stays right (a resize redraws it). It touches only lines it drew: anything else written
 * to the terminal while it is live (a warning, a notice) is written above it, the table being
 * erased first and redrawn after. And it ends once: `stop()` draws the final table and lets go of
 * the terminal, so what is printed after it (the summary) stays on screen.
 */
import type { JobMetrics, StageMetrics } from "../core/index.js";
import { formatBytes, formatCount } from "../cli/support.js";

type Write = NodeJS.WriteStream["write"];

const REDRAW_MS = 250;
/** Below this the table is cut to its first columns rather than made unreadable. */
const MIN_COLUMNS = 40;
const SEPARATOR = "  ";

/** Cuts `text` to `width` characters, keeping its start and its end around an ellipsis. */
export function shorten(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return text.slice(0, Math.max(0, width));
  const head = Math.ceil((width - 1) / 2);
  const tail = width - 1 - head;
  return `${text.slice(0, head)}…${tail > 0 ? text.slice(text.length - tail) : ""}`;
}

/**
 * Cuts a stage name (`step > step > step`) to `width`, keeping whole steps where it can: the first
 * and as many of the last as fit, so that what a stage reads and what it writes both show.
 */
export function shortenStageName(name: string, width: number): string {
  if (name.length <= width) return name;
  const steps = name.split(" > ");
  for (let kept = steps.length - 2; kept >= 1; kept--) {
    const candidate = [steps[0]!, "…", ...steps.slice(steps.length - kept)].join(" > ");
    if (candidate.length <= width) return candidate;
  }
  return shorten(name, width);
}

/**
 * The stage table for a terminal `columns` wide: the figures keep their widths and the stage
 * names get what is left, shortened in the middle so that both the first and the last step show.
 */
export function stageTable(metrics: JobMetrics, columns: number, elapsedSeconds: number): string[] {
  const header = ["stage", "tasks", "records", "MB", "rec/s", "time"];
  const figures = metrics.stages.map((stage) => figuresOf(stage));
  const widths = header
    .slice(1)
    .map((title, index) => Math.max(title.length, ...figures.map((row) => row[index]!.length)));
  const figuresWidth = widths.reduce((sum, width) => sum + width + SEPARATOR.length, 0);
  // One column is left free: a line exactly as wide as the terminal wraps on some terminals.
  const usable = Math.max(columns, MIN_COLUMNS) - 1;
  const names = metrics.stages.map((stage) => `${stage.stageId} ${stage.name}`);
  const nameWidth = Math.max(
    header[0]!.length,
    Math.min(Math.max(...names.map((name) => name.length), 0), usable - figuresWidth),
  );
  const line = (name: string, cells: readonly string[]) =>
    [
      shortenStageName(name, nameWidth).padEnd(nameWidth),
      ...cells.map((cell, index) => cell.padStart(widths[index]!)),
    ]
      .join(SEPARATOR)
      .slice(0, usable);
  return [
    line(header[0]!, header.slice(1)),
    line(
      "-".repeat(nameWidth),
      widths.map((width) => "-".repeat(width)),
    ),
    ...names.map((name, index) => line(name, figures[index]!)),
    `elapsed ${elapsedSeconds.toFixed(1)} s`.slice(0, usable),
  ];
}

function figuresOf(stage: StageMetrics): string[] {
  const seconds = stage.wallMs / 1000;
  return [
    // Tasks are counted when a stage starts: "?" until then, and 0 for one that ran none.
    `${stage.tasksDone}/${stage.tasks > 0 || stage.state !== "waiting" ? stage.tasks : "?"}`,
    formatCount(stage.recordsIn),
    (stage.bytesRead / 1e6).toFixed(1),
    seconds > 0 ? formatCount(stage.recordsIn / seconds) : "-",
    stage.state === "waiting" ? "-" : `${seconds.toFixed(1)} s`,
  ];
}

/** Keeps the header, the rule and the last stages when the table is taller than the terminal. */
function fitHeight(lines: string[], rows: number): string[] {
  const room = Math.max(rows - 1, 4);
  if (lines.length <= room) return lines;
  return [...lines.slice(0, 2), ...lines.slice(lines.length - (room - 2))];
}

export class ProgressDisplay {
  private latest: JobMetrics | undefined;
  private readonly reported = new Set<number>();
  private readonly started = performance.now();
  private readonly live: boolean;
  private timer: NodeJS.Timeout | undefined;
  /** Widths of the lines on screen now, to erase them whatever the terminal's width has become. */
  private drawn: number[] = [];
  private stopped = false;
  /** The streams whose writes go above the table, and their own `write`, put back at stop. */
  private readonly wrapped: { stream: NodeJS.WriteStream; write: Write }[] = [];
  private readonly onResize = () => this.redraw();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly quiet: boolean,
    /** Other streams that write to the same terminal (stdout beside stderr). */
    others: readonly NodeJS.WriteStream[] = [],
  ) {
    this.live = !quiet && stream.isTTY === true;
    if (!this.live) return;
    this.timer = setInterval(() => this.redraw(), REDRAW_MS);
    this.timer.unref();
    stream.on("resize", this.onResize);
    for (const other of [stream, ...others.filter((candidate) => candidate.isTTY)]) this.wrap(other);
  }

  /** Writes on `target` erase the table first; the next redraw puts it back below them. */
  private wrap(target: NodeJS.WriteStream): void {
    const write = target.write;
    this.wrapped.push({ stream: target, write });
    target.write = ((...args: Parameters<Write>) => {
      this.erase();
      return write.apply(target, args);
    }) as Write;
  }

  private rawWrite(text: string): void {
    const own = this.wrapped.find((entry) => entry.stream === this.stream);
    (own?.write ?? this.stream.write).call(this.stream, text);
  }

  update(metrics: JobMetrics): void {
    this.latest = metrics;
    if (this.quiet || this.live) return;
    for (const stage of metrics.stages) {
      if (stage.state !== "done" || this.reported.has(stage.stageId)) continue;
      this.reported.add(stage.stageId);
      const rate = stage.wallMs > 0 ? (stage.recordsIn / stage.wallMs) * 1000 : 0;
      this.stream.write(
        `stage ${stage.stageId} done: ${stage.name}: ${formatCount(stage.recordsIn)} records in, ${formatCount(stage.recordsOut)} out, ${formatBytes(stage.bytesRead)} read, ${formatCount(rate)} records/s, ${(stage.wallMs / 1000).toFixed(1)} s\n`,
      );
    }
  }

  /** Rows the lines on screen take at the terminal's current width (a narrower one wraps them). */
  private drawnRows(): number {
    const columns = Math.max(this.stream.columns || 80, 1);
    return this.drawn.reduce((rows, width) => rows + Math.max(1, Math.ceil(width / columns)), 0);
  }

  private erase(): void {
    if (this.drawn.length === 0) return;
    this.rawWrite(`\r\x1b[${this.drawnRows()}A\x1b[J`);
    this.drawn = [];
  }

  private redraw(): void {
    const metrics = this.latest;
    if (!metrics || this.stopped) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const lines = fitHeight(stageTable(metrics, this.stream.columns || 80, elapsed), this.stream.rows || 24);
    this.erase();
    this.rawWrite(`${lines.join("\n")}\n`);
    this.drawn = lines.map((line) => line.length);
  }

  /** Draws the final table and lets go of the terminal; later calls do nothing. */
  stop(): void {
    if (this.stopped) return;
    if (this.live) {
      if (this.timer) clearInterval(this.timer);
      this.redraw();
      this.stopped = true;
      this.stream.off("resize", this.onResize);
      for (const { stream, write } of this.wrapped) stream.write = write;
    }
    this.stopped = true;
  }

  /** The last metrics reported, for a summary of a run that failed. */
  get lastMetrics(): JobMetrics | undefined {
    return this.latest;
  }
}
