import { RecordFunctionError } from "./errors.js";
import type { JsonValue } from "./keys.js";
import type { Source, SourceBatch, SourceReadContext } from "./interfaces.js";
import { copyRecord } from "./shared-records.js";
import { readsOnlyWhatItHolds } from "./module-state.js";

/** Cuts [0, total) into `splitCount` contiguous ranges of near-equal size. */
function ranges(total: number, splitCount: number): [number, number][] {
  const count = Math.max(1, Math.min(splitCount, total));
  const result: [number, number][] = [];
  for (let index = 0; index < count; index++) {
    const start = Math.floor((total * index) / count);
    const end = Math.floor((total * (index + 1)) / count);
    if (end > start || total === 0) result.push([start, end]);
  }
  return result;
}

function* rangeBatches<T>(start: number, end: number, batchSize: number, valueAt: (index: number) => T) {
  for (let batchStart = start; batchStart < end; batchStart += batchSize) {
    const batchEnd = Math.min(end, batchStart + batchSize);
    const records: T[] = new Array(batchEnd - batchStart);
    for (let index = batchStart; index < batchEnd; index++) records[index - batchStart] = valueAt(index);
    const batch: SourceBatch<T> = { records, origin: (offset) => `element ${batchStart + offset}` };
    yield batch;
  }
}

/**
 * The records of an array defined in the pipeline's module. Workers rebuild the same array when
 * they rebuild the pipeline, so only index ranges travel between threads.
 */
export class ArraySource<T> implements Source<T> {
  constructor(
    private readonly values: readonly T[],
    private readonly splitCount: number,
  ) {}

  get description(): string {
    return `array of ${this.values.length}`;
  }

  async splits(): Promise<JsonValue[]> {
    return ranges(this.values.length, this.splitCount);
  }

  describeSplit(split: JsonValue): string {
    const [start, end] = split as [number, number];
    return `array elements ${start}..${end - 1}`;
  }

  async *read(split: JsonValue, context: SourceReadContext): AsyncGenerator<SourceBatch<T>> {
    const [start, end] = split as [number, number];
    context.addRecordsSeen(end - start);
    // Copies (shared-records.ts): on the direct runner the array is the caller's own, and a
    // transform may change a record it is given, or a fan-out freeze it; the caller's data must
    // come out of a run as it went in, and a second run must read what the first did.
    const copyOf = (index: number) => copyRecord(this.values[index]) as T;
    for (const batch of rangeBatches(start, end, context.batchSize, copyOf)) {
      yield { records: batch.records, origin: (offset) => `array ${batch.origin!(offset)}` };
    }
  }
}

/**
 * `count` records made by `generate(index)` inside the task that reads them: a splittable source
 * for benchmarks and examples, where data is created in the workers rather than shipped to them.
 */
export class GeneratorSource<T> implements Source<T> {
  constructor(
    private readonly count: number,
    private readonly generate: (index: number) => T,
    private readonly splitCount: number,
  ) {}

  get description(): string {
    return `generator of ${this.count}`;
  }

  async splits(): Promise<JsonValue[]> {
    return ranges(this.count, this.splitCount);
  }

  describeSplit(split: JsonValue): string {
    const [start, end] = split as [number, number];
    return `generated records ${start}..${end - 1}`;
  }

  async *read(split: JsonValue, context: SourceReadContext): AsyncGenerator<SourceBatch<T>> {
    const [start, end] = split as [number, number];
    context.addRecordsSeen(end - start);
    const generate = this.generate;
    const generated = (index: number): T => {
      try {
        return generate(index);
      } catch (error) {
        throw new RecordFunctionError(`generated record ${index}`, error);
      }
    };
    yield* rangeBatches(start, end, context.batchSize, generated);
  }
}

readsOnlyWhatItHolds(ArraySource, GeneratorSource);
