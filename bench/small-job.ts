/**
 * A small job, as people first try sluice on their own data: 200,000 play events in four JSON-lines
 * files of about 3.5 MB, parsed with a schema, grouped by user, joined to a user dimension and
 * summed into 24 rows (one per region). As a sluice pipeline and as the plain loop a user would
 * write instead; both read the same files.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Combiner, column, definePipeline, schema } from "../src/index.js";
import { jsonLines } from "../src/io/index.js";

export const SMALL_JOB_FILES = 4;
const USERS = 5_000;
const REGIONS = 24;

const playSchema = schema({
  user: column.utf8(),
  song: column.utf8(),
  ts: column.int64(),
  ms: column.int32(),
});
const userSchema = schema({ user: column.utf8(), region: column.int32() });

/** Writes the input under `dir` (plays/part-N.jsonl and users.jsonl); the same bytes every time. */
export function writeSmallJobInput(dir: string, records: number): void {
  mkdirSync(join(dir, "plays"), { recursive: true });
  const perFile = Math.ceil(records / SMALL_JOB_FILES);
  for (let file = 0; file < SMALL_JOB_FILES; file++) {
    const lines: string[] = [];
    for (let index = file * perFile; index < Math.min(records, (file + 1) * perFile); index++) {
      const user = `user-${(Math.imul(index, 2654435761) >>> 0) % USERS}`;
      const song = `song-${(Math.imul(index, 40503) >>> 0) % 20_000}`;
      lines.push(
        JSON.stringify({ user, song, ts: 1_541_000_000_000 + index * 997, ms: 120_000 + (index % 240_000) }),
      );
    }
    writeFileSync(join(dir, "plays", `part-${file}.jsonl`), `${lines.join("\n")}\n`);
  }
  const users = Array.from({ length: USERS }, (_, index) =>
    JSON.stringify({ user: `user-${index}`, region: index % REGIONS }),
  );
  writeFileSync(join(dir, "users.jsonl"), `${users.join("\n")}\n`);
}

/** Listening time per region: 24 rows of [region, [users, plays, ms]]. */
export const smallJob = definePipeline(
  { module: import.meta.url, name: "small-job" },
  (p, options: { dir: string }) => {
    const perUser = p
      .read(jsonLines(`${options.dir}/plays/*.jsonl`, { schema: playSchema }), "plays")
      .map((play) => [play.user, play] as const, "by user")
      .groupByKey("plays per user")
      .map(
        ([user, plays]) => [user, [plays.length, plays.reduce((total, play) => total + play.ms, 0)]] as const,
      );
    const regions = p
      .read(jsonLines(`${options.dir}/users.jsonl`, { schema: userSchema }), "users")
      .map((user) => [user.user, user.region] as const);
    return {
      out: perUser
        .join(regions, { name: "region of user" })
        .map(([, [[plays, ms], region]]) => [region, [1, plays, ms]] as const)
        .combinePerKey(sumOfTriples(), "per region")
        .collect(),
    };
  },
);

type Triple = readonly [number, number, number];

/** Sums [users, plays, ms] element-wise. */
function sumOfTriples(): Combiner<Triple, Triple, Triple> {
  const add = (left: Triple, right: Triple): Triple => [
    left[0] + right[0],
    left[1] + right[1],
    left[2] + right[2],
  ];
  return { name: "sum of triples", create: () => [0, 0, 0], add, merge: add, extract: (totals) => totals };
}

/** The same answer with JSON.parse and Maps on one thread. */
export function smallJobLoop(dir: string): [number, [number, number, number]][] {
  const perUser = new Map<string, [number, number]>();
  for (const name of readdirSync(join(dir, "plays")).sort()) {
    for (const line of readFileSync(join(dir, "plays", name), "utf8").split("\n")) {
      if (line === "") continue;
      const play = JSON.parse(line) as { user: string; ms: number };
      const totals = perUser.get(play.user);
      if (totals) {
        totals[0] += 1;
        totals[1] += play.ms;
      } else perUser.set(play.user, [1, play.ms]);
    }
  }
  const regionOf = new Map<string, number>();
  for (const line of readFileSync(join(dir, "users.jsonl"), "utf8").split("\n")) {
    if (line === "") continue;
    const user = JSON.parse(line) as { user: string; region: number };
    regionOf.set(user.user, user.region);
  }
  const perRegion = new Map<number, [number, number, number]>();
  for (const [user, [plays, ms]] of perUser) {
    const region = regionOf.get(user);
    if (region === undefined) continue;
    const totals = perRegion.get(region) ?? [0, 0, 0];
    totals[0] += 1;
    totals[1] += plays;
    totals[2] += ms;
    perRegion.set(region, totals);
  }
  return [...perRegion];
}
