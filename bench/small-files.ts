// npm run bench:small-files -- [--events 100000] [--songs 200] [--runs 3]
// The Sparkify ETL (2 threads) on the same events twice: in the generator's daily log files, and
// one event per file (as a log shipper that flushes every event writes them). Small files are
// packed into tasks of a useful size, as Spark packs them into partitions; the target is at least
// a fifth of the records/s of the large files. Each variant in its own process, alternating; the
// outputs must agree.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles } from "../src/io/index.js";
import { generateSparkifyInput } from "../src/pipelines/sparkify-generator.js";
import { benchCounts, formatTable, machine, measure, writeResults } from "./harness.js";

const USAGE = "usage: npm run bench:small-files -- [--events N] [--songs N] [--runs R]";
const { events, songs, runs } = benchCounts(USAGE, { events: 100_000, songs: 200, runs: 3 });

const root = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("./etl-variant.js", import.meta.url));
const large = join(root, "bench/data", `songs-${songs}-events-${events}-seed-42`);
const small = `${large}-one-event-per-file`;
if (!existsSync(join(large, "log_data"))) {
  console.error(`generating ${songs} songs and ${events} events into ${large}`);
  await generateSparkifyInput({ songs, events, output: `${large}.partial`, seed: 42 });
  await rename(`${large}.partial`, large);
}
if (!existsSync(join(small, "log_data"))) {
  console.error(`writing the same events one per file into ${small}`);
  const partial = `${small}.partial`;
  await rm(partial, { recursive: true, force: true });
  await cp(join(large, "song_data"), join(partial, "song_data"), { recursive: true });
  let written = 0;
  for (const file of await listFiles(join(large, "log_data/**/*.json"))) {
    const lines = (await readFile(file.uri, "utf8")).split("\n").filter((line) => line.trim() !== "");
    for (const line of lines) {
      // A thousand files a folder, as object stores and file systems both list comfortably.
      const folder = join(partial, "log_data", String(Math.floor(written / 1000)).padStart(4, "0"));
      if (written % 1000 === 0) await mkdir(folder, { recursive: true });
      await writeFile(join(folder, `event-${written}.json`), `${line}\n`);
      written++;
    }
  }
  await rename(partial, small);
}

const sizeOf = async (folder: string) =>
  (await listFiles(folder)).reduce((total, file) => total + file.size, 0);
const work = await mkdtemp(join(tmpdir(), "sluice-bench-small-files-"));
try {
  const logFiles = (await readdir(join(small, "log_data"))).length * 1000;
  console.error(
    `bench:small-files on ${machine()}: ${events} events in daily files and in about ${logFiles} files, ${runs} run(s) each`,
  );
  const variants = [
    { name: "large files", args: [script, "sluice-2", large, join(work, "large")] },
    { name: "one event per file", args: [script, "sluice-2", small, join(work, "small")] },
  ];
  const rows = await measure(
    `${songs} songs, ${events} events`,
    variants,
    runs,
    events + songs,
    await sizeOf(small),
    "large files",
  );
  console.log(formatTable(rows));
  const file = await writeResults("small-files", rows, {
    songs,
    events,
    runs,
    target: "at least 0.2x large files",
  });
  console.error(`written to ${file}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
