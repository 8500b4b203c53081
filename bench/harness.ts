/**
 * What every sluice benchmark shares: each variant runs in its own child process (so that its peak
 * RSS is its own), variants alternate from run to run (so that a noisy minute hurts all alike), and
 * the median of the runs is quoted with its min and max. Results print as a table and go to JSON.
 */
import { spawn } from "node:child_process";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSparkifyInput, INPUT_SHAPES } from "../src/pipelines/sparkify-generator.js";

/** What a variant's child process prints (as its last stdout line, JSON). */
export interface Measurement {
  readonly wallMs: number;
  readonly peakRssBytes: number;
  /** A digest of the result, compared across variants: a benchmark of a wrong answer is worthless. */
  readonly check: string;
}

export interface Variant {
  readonly name: string;
  /** Arguments for `node`: a script and its arguments. */
  readonly args: string[];
}

export interface Row {
  readonly workload: string;
  readonly variant: string;
  readonly records: number;
  readonly inputBytes: number;
  readonly runs: number;
  readonly wallMsMedian: number;
  readonly wallMsMin: number;
  readonly wallMsMax: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly peakRssMiB: number;
  /**
   * The median share of the machine's CPU time that its hypervisor gave to others while a run
   * ran (Linux's steal time), in percent; NaN where the system does not count it. A virtual
   * machine's second core is worth less in a run where it is high: read a ratio beside it.
   */
  readonly cpuStolenPercent: number;
  /** Median wall time of the baseline divided by this variant's (above 1: faster than the baseline). */
  readonly speedupVsBaseline: number;
  readonly baseline: string;
  /** Why the variant produced no measurement, when it failed. */
  readonly failed?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `node args...` and parses its last stdout line as JSON (a Measurement, by default). */
export function runChild<T = Measurement>(args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.on("exit", (code, signal) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (signal !== null) reject(new Error(`${args.join(" ")} was killed by ${signal}`));
      else if (code !== 0) reject(new Error(`${args.join(" ")} exited with ${code}`));
      else resolve(JSON.parse(last) as T);
    });
  });
}

/** The machine's CPU time so far, and the part of it stolen (ticks, from /proc/stat), if counted. */
function cpuTimes(): { readonly total: number; readonly stolen: number } | undefined {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9);
    if (fields.length < 8) return undefined;
    const ticks = fields.map(Number);
    return { total: ticks.reduce((sum, value) => sum + value, 0), stolen: ticks[7]! };
  } catch {
    return undefined;
  }
}

/** The percentage of CPU time stolen between two readings, NaN if either is missing. */
function stolenPercent(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>): number {
  if (!before || !after || after.total === before.total) return Number.NaN;
  return (100 * (after.stolen - before.stolen)) / (after.total - before.total);
}

/** Runs each variant `runs` times, alternating, and checks that every variant computed the same result. */
export async function measure(
  workload: string,
  variants: readonly Variant[],
  runs: number,
  records: number,
  inputBytes: number,
  baseline: string,
): Promise<Row[]> {
  const samples = new Map<string, Measurement[]>(variants.map((variant) => [variant.name, []]));
  const stolen = new Map<string, number[]>(variants.map((variant) => [variant.name, []]));
  const failures = new Map<string, string>();
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      if (failures.has(variant.name)) continue;
      try {
        const before = cpuTimes();
        const measurement = await runChild(variant.args);
        const percent = stolenPercent(before, cpuTimes());
        samples.get(variant.name)!.push(measurement);
        stolen.get(variant.name)!.push(percent);
        process.stderr.write(
          `  ${workload} ${variant.name} run ${run + 1}: ${(measurement.wallMs / 1000).toFixed(2)} s${Number.isNaN(percent) ? "" : `, ${percent.toFixed(0)}% of the CPU stolen`}\n`,
        );
      } catch (error) {
        // A variant that fails (DuckDB out of memory, say) is reported as failed, not timed.
        failures.set(variant.name, (error as Error).message);
        process.stderr.write(`  ${workload} ${variant.name} run ${run + 1}: failed\n`);
      }
    }
  }
  const checks = new Set(
    [...samples.entries()]
      .filter(([name]) => !failures.has(name))
      .flatMap(([, list]) => list.map((measurement) => measurement.check)),
  );
  if (checks.size > 1)
    throw new Error(`${workload}: variants disagree on the result: ${[...checks].join(" / ")}`);
  const medianOf = (name: string) => median(samples.get(name)!.map((measurement) => measurement.wallMs));
  const baselineMedian = failures.has(baseline) ? Number.NaN : medianOf(baseline);
  return variants.map((variant) => {
    const list = samples.get(variant.name)!;
    const what = { workload, variant: variant.name, records, inputBytes, runs, baseline };
    if (failures.has(variant.name) || list.length === 0) {
      return {
        ...what,
        wallMsMedian: Number.NaN,
        wallMsMin: Number.NaN,
        wallMsMax: Number.NaN,
        recordsPerSecond: Number.NaN,
        megabytesPerSecond: Number.NaN,
        peakRssMiB: Number.NaN,
        cpuStolenPercent: Number.NaN,
        speedupVsBaseline: Number.NaN,
        failed: failures.get(variant.name) ?? "no run",
      };
    }
    const wall = medianOf(variant.name);
    return {
      ...what,
      wallMsMedian: wall,
      wallMsMin: Math.min(...list.map((measurement) => measurement.wallMs)),
      wallMsMax: Math.max(...list.map((measurement) => measurement.wallMs)),
      recordsPerSecond: records / (wall / 1000),
      megabytesPerSecond: inputBytes / 1e6 / (wall / 1000),
      peakRssMiB: median(list.map((measurement) => measurement.peakRssBytes)) / 2 ** 20,
      cpuStolenPercent: median(stolen.get(variant.name)!),
      speedupVsBaseline: baselineMedian / wall,
    };
  });
}

export function formatTable(rows: readonly Row[]): string {
  const header = [
    "workload",
    "variant",
    "records",
    "input MB",
    "wall s (min-max)",
    "records/s",
    "MB/s",
    "peak RSS MiB",
    "CPU stolen",
    "vs baseline",
  ];
  const body = rows.map((row) =>
    row.failed !== undefined
      ? [
          row.workload,
          row.variant,
          row.records.toLocaleString("en-US"),
          (row.inputBytes / 1e6).toFixed(1),
          "failed",
          "-",
          "-",
          "-",
          "-",
          "-",
        ]
      : [
          row.workload,
          row.variant,
          row.records.toLocaleString("en-US"),
          (row.inputBytes / 1e6).toFixed(1),
          `${(row.wallMsMedian / 1000).toFixed(2)} (${(row.wallMsMin / 1000).toFixed(2)}-${(row.wallMsMax / 1000).toFixed(2)})`,
          Math.round(row.recordsPerSecond).toLocaleString("en-US"),
          row.megabytesPerSecond.toFixed(1),
          row.peakRssMiB.toFixed(0),
          Number.isNaN(row.cpuStolenPercent) ? "-" : `${row.cpuStolenPercent.toFixed(0)}%`,
          Number.isNaN(row.speedupVsBaseline)
            ? `- (${row.baseline} failed)`
            : `${row.speedupVsBaseline.toFixed(2)}x ${row.baseline}`,
        ],
  );
  const widths = header.map((title, column) =>
    Math.max(title.length, ...body.map((cells) => cells[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...body.map(line),
  ].join("\n");
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export async function writeResults(
  name: string,
  rows: readonly Row[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const folder = join(dirname(fileURLToPath(import.meta.url)), "../../bench/results");
  await mkdir(folder, { recursive: true });
  const file = join(folder, `${name}.json`);
  const document = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...extra, rows };
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`);
  return file;
}

/** The process's peak RSS so far, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * Reports a child's measurement: call last in a variant's process. `wallMs` and `peakRssBytes`
 * may be taken before checking the result, so that the check's own time and memory are left out.
 */
export function report(
  started: number,
  check: string,
  wallMs = performance.now() - started,
  peakRssBytes = peakRss(),
): void {
  console.log(JSON.stringify({ wallMs, peakRssBytes, check } satisfies Measurement));
}

/** A benchmark's options; an unknown or malformed one prints `usage` and exits with status 2. */
export function benchOptions<Options extends NonNullable<ParseArgsConfig["options"]>>(
  usage: string,
  options: Options,
): ReturnType<typeof parseArgs<{ options: Options; strict: true }>>["values"] {
  // Asked for, the usage is the answer (exit 0); given with a mistake, it is the error (exit 2).
  if (process.argv.slice(2).some((arg) => arg === "--help" || arg === "-h")) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

/**
 * A benchmark's options that are all counts (`--runs 3`), by name, with their defaults; one that
 * is not a positive integer prints `usage` and exits with status 2.
 */
export function benchCounts<Name extends string>(
  usage: string,
  defaults: Record<Name, number>,
): Record<Name, number> {
  const names = Object.keys(defaults) as Name[];
  const values = benchOptions(
    usage,
    Object.fromEntries(
      names.map((name) => [name, { type: "string" as const, default: String(defaults[name]) }]),
    ),
  ) as Record<string, string>;
  const counts = Object.fromEntries(names.map((name) => [name, Number(values[name])])) as Record<
    Name,
    number
  >;
  if (!names.every((name) => Number.isInteger(counts[name]) && counts[name] > 0)) {
    console.error(usage);
    process.exit(2);
  }
  return counts;
}

/**
 * The generated Sparkify input of a size and shape (INPUT_SHAPES), cached in bench/data/ (made
 * once, seed 42, and moved into place whole, so that a run cut off while generating leaves no
 * half input to be taken for whole).
 */
export async function sparkifyBenchInput(songs: number, events: number, shape = "default"): Promise<string> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const knobs = INPUT_SHAPES[shape];
  if (!knobs) throw new Error(`no input shape '${shape}': ${Object.keys(INPUT_SHAPES).join(", ")}`);
  const suffix = shape === "default" ? "" : `-${shape}`;
  const input = join(root, "bench/data", `songs-${songs}-events-${events}-seed-42${suffix}`);
  if (!existsSync(join(input, "log_data"))) {
    console.error(`generating ${songs} songs and ${events} events (${shape} shape) into ${input}`);
    await rm(`${input}.partial`, { recursive: true, force: true });
    await generateSparkifyInput({ songs, events, output: `${input}.partial`, seed: 42, ...knobs });
    await rename(`${input}.partial`, input);
  }
  return input;
}
