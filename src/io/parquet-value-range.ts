/**
 * The smallest and largest value of a column page, in place of parquetjs's Set of its distinct values.
 *
 * parquetjs adds every value of a page to a Set, keeps each page's Set until its row group is
 * written, and then unions them for the column chunk: all to write a `distinct_count` beside the
 * minimum and maximum. Parquet makes that count optional and readers do not prune with it; Spark's
 * writer never writes it and DuckDB's only for dictionary-encoded columns. When sluice's Thrift
 * serializer leaves it out (parquet-thrift.ts), the Set is only read for its minimum and maximum,
 * and every value of a page stays alive for nothing until the row group is written.
 *
 * A ValueRange takes the Set's place in the column buffers sluice fills (parquet-rows.ts). It folds
 * each value in as parquetjs folds the Set's members (the first value, then `>` and `<`, or
 * `Buffer.compare` for bytes), and its members are the minimum and the maximum, so that parquetjs's
 * own statistics code, run over them, finds the same two values: a value seen again cannot change
 * such a fold while all values are of one kind (strings; numbers, bigints and dates; bytes), which
 * is what a column's type asks for. Should a page mix kinds anyway, where `>` is no order and the
 * fold depends on what came first, the range keeps every distinct value from then on, as the Set
 * did, after the minimum and maximum of what came before.
 */
import { isUint8Array } from "node:util/types";

/** Values of one kind are totally ordered by `>` (NaN aside, which never wins); kinds do not mix. */
type ValueKind = "string" | "numeric" | "bytes" | "other";

function kindOf(value: unknown): ValueKind {
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
    case "bigint":
    case "boolean":
      return "numeric";
    default:
      if (value instanceof Date) return "numeric";
      return isUint8Array(value) ? "bytes" : "other";
  }
}

export class ValueRange implements Iterable<unknown> {
  private count = 0;
  private kind: ValueKind | undefined;
  private min: unknown;
  private max: unknown;
  /** Every distinct value from the first of another kind on, as parquetjs's Set would hold them. */
  private mixed: Set<unknown> | undefined;

  add(value: unknown): this {
    if (this.mixed) {
      this.mixed.add(value);
      return this;
    }
    const kind = kindOf(value);
    if (this.count === 0) {
      this.kind = kind;
      this.min = value;
      this.max = value;
    } else if (kind !== this.kind || kind === "other") {
      this.mixed = new Set([this.min, this.max, value]);
      return this;
    } else if (kind === "bytes") {
      if (Buffer.compare(value as Uint8Array, this.max as Uint8Array) === 1) this.max = value;
      if (Buffer.compare(this.min as Uint8Array, value as Uint8Array) === 1) this.min = value;
    } else {
      if ((value as number) > (this.max as number)) this.max = value;
      if ((this.min as number) > (value as number)) this.min = value;
    }
    this.count++;
    return this;
  }

  get size(): number {
    if (this.mixed) return this.mixed.size;
    if (this.count === 0) return 0;
    return this.min === this.max ? 1 : 2;
  }

  *[Symbol.iterator](): IterableIterator<unknown> {
    if (this.mixed) {
      yield* this.mixed;
      return;
    }
    if (this.count === 0) return;
    yield this.min;
    if (this.max !== this.min) yield this.max;
  }

  forEach(callback: (value: unknown) => void): void {
    for (const value of this) callback(value);
  }
}
