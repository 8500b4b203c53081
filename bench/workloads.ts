/**
 * The core benchmark's workloads, each as a sluice pipeline and as the hand-written loop that
 * computes the same thing on one thread. Data is generated inside the tasks (a splittable source);
 * the loop generates the same records the same way.
 */
import { definePipeline, sum } from "../src/index.js";

export const WORD_COUNT = 100_000;
const words = Array.from({ length: WORD_COUNT }, (_, index) => `word${index.toString(36)}`);

/** Knuth's multiplicative hash: spreads indexes over the vocabulary without a random generator. */
const wordOf = (index: number): string => words[(Math.imul(index, 2654435761) >>> 0) % WORD_COUNT]!;

/** About 2 microseconds (2,000 rounds) of arithmetic per record: stands for parsing, hashing, geo lookups... */
export function heavy(index: number): number {
  let state = index | 1;
  for (let round = 0; round < 2000; round++) state = (Math.imul(state, 1103515245) + 12345) | 0;
  return state & 1023;
}

export type WorkloadName = "cpu-map" | "combine-sum" | "group-by-key" | "join";

export interface WorkloadOptions {
  readonly workload: WorkloadName;
  readonly records: number;
  readonly splits: number;
}

export const workloads = definePipeline(
  { module: import.meta.url, name: "core-workloads" },
  (p, options: WorkloadOptions) => {
    const { records, splits } = options;
    switch (options.workload) {
      case "cpu-map":
        return {
          out: p
            .generate(records, (index) => index, { splits })
            .map((index) => [index & 15, heavy(index)] as const, "heavy")
            .combinePerKey(sum())
            .collect(),
        };
      case "combine-sum":
        return {
          out: p
            .generate(records, (index) => [wordOf(index), 1] as const, { splits })
            .combinePerKey(sum(), "count words")
            .collect(),
        };
      case "group-by-key":
        return {
          out: p
            .generate(records, (index) => [index % WORD_COUNT, index] as const, { splits })
            .groupByKey()
            .map(([key, values]) => [key % 16, values.length] as const)
            .combinePerKey(sum())
            .collect(),
        };
      case "join": {
        const left = p.generate(records, (index) => [index % WORD_COUNT, index] as const, {
          splits,
          name: "facts",
        });
        const right = p.generate(WORD_COUNT, (index) => [index, wordOf(index)] as const, {
          splits,
          name: "dimension",
        });
        return {
          out: left
            .join(right)
            .map(([key, [, word]]) => [key % 16, word.length] as const)
            .combinePerKey(sum())
            .collect(),
        };
      }
    }
  },
);

/** The same computations as plain loops over a Map, on one thread: the floor of framework overhead. */
export function handWritten(workload: WorkloadName, records: number): [unknown, number][] {
  const totals = new Map<unknown, number>();
  const add = (key: unknown, value: number) => totals.set(key, (totals.get(key) ?? 0) + value);
  switch (workload) {
    case "cpu-map":
      for (let index = 0; index < records; index++) add(index & 15, heavy(index));
      break;
    case "combine-sum":
      for (let index = 0; index < records; index++) add(wordOf(index), 1);
      break;
    case "group-by-key": {
      const groups = new Map<number, number[]>();
      for (let index = 0; index < records; index++) {
        const key = index % WORD_COUNT;
        const group = groups.get(key);
        if (group) group.push(index);
        else groups.set(key, [index]);
      }
      for (const [key, values] of groups) add(key % 16, values.length);
      break;
    }
    case "join": {
      const dimension = new Map<number, string>();
      for (let index = 0; index < WORD_COUNT; index++) dimension.set(index, wordOf(index));
      for (let index = 0; index < records; index++) {
        const key = index % WORD_COUNT;
        const word = dimension.get(key);
        if (word !== undefined) add(key % 16, word.length);
      }
      break;
    }
  }
  return [...totals];
}
