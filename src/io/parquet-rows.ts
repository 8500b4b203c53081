/**
 * Appends many rows to a @dsnp/parquetjs writer at once, for flat schemas.
 *
 * parquetjs shreds every row through a generic recursive shredder that allocates a buffer object
 * per column per row, which bounds it to about 120,000-190,000 rows/s. For flat schemas (every
 * column a top-level primitive, as sluice's schemas are) the shredded form is simple: per column,
 * the values converted by parquetjs's own `toPrimitive` and a definition level per row (0 for
 * null, 1 for a value of an optional column); repetition levels, all 0, are never encoded for
 * columns that do not repeat, and are left out. We fill the writer's row buffer in that form
 * column by column, and hand one row per page to `appendRow`, so that parquetjs's own logic still
 * decides when pages and row groups are encoded. Files are byte-for-byte what
 * `appendRow` alone would write, with or without distinct counts (parquet-value-range.ts).
 */
import type parquet from "@dsnp/parquetjs";
import { getParquetTypeDataObject, toPrimitive } from "@dsnp/parquetjs/dist/lib/types.js";
import { distinctCountsOmitted } from "./parquet-thrift.js";
import { ValueRange } from "./parquet-value-range.js";

type ParquetWriter = InstanceType<typeof parquet.ParquetWriter>;

/** What parquetjs reads of a page's distinct values: the members, and how many. */
interface DistinctValues extends Iterable<unknown> {
  add(value: unknown): unknown;
  forEach(callback: (value: unknown) => void): void;
  readonly size: number;
}

interface ColumnBuffer {
  dlevels: number[];
  rlevels: number[];
  values: unknown[];
  distinct_values: DistinctValues;
  count: number;
}

interface RowBuffer {
  rowCount?: number;
  pageRowCount?: number;
  columnData?: Record<string, ColumnBuffer>;
  pages?: Record<string, unknown[]>;
}

interface FlatColumn {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly definedLevel: number;
  /** parquetjs's own conversion for the column's type, looked up once instead of per value. */
  readonly toPrimitive: (value: unknown) => unknown;
}

/** The columns of a flat schema, or undefined when the schema has nested or repeated fields. */
function flatColumns(writer: ParquetWriter): FlatColumn[] | undefined {
  const columns: FlatColumn[] = [];
  for (const field of writer.schema.fieldList) {
    if (field.isNested || field.path.length !== 1 || field.repetitionType === "REPEATED") return undefined;
    const type = (field.originalType ?? field.primitiveType) as string;
    columns.push({
      name: field.name,
      type,
      required: field.repetitionType === "REQUIRED",
      definedLevel: field.dLevelMax,
      toPrimitive: converterOf(type, field),
    });
  }
  return columns;
}

/** What `toPrimitive(type, value, field)` does for every value, resolved for one column. */
function converterOf(type: string, field: unknown): (value: unknown) => unknown {
  let dataObject: { toPrimitive?: (value: unknown) => unknown } | undefined;
  try {
    dataObject = getParquetTypeDataObject(type as never, field as never) as typeof dataObject;
  } catch {
    dataObject = undefined;
  }
  const convert = dataObject?.toPrimitive;
  // Types parquetjs does not know keep its generic path, and with it its error.
  if (!convert) return (value) => toPrimitive(type as never, value, field as never);
  // Strings stay strings: sluice's PLAIN encoder (parquet-plain.ts), like parquetjs's own, writes
  // a string as its UTF-8 bytes, so the Buffer parquetjs would make of each value is not needed.
  if (type === "UTF8") return (value) => (typeof value === "string" ? value : convert(value));
  return convert;
}

const columnsOf = new WeakMap<ParquetWriter, FlatColumn[] | null>();

function shredInto(
  buffer: RowBuffer,
  columns: readonly FlatColumn[],
  rows: readonly Record<string, unknown>[],
): void {
  // Without distinct counts, a page needs only its minimum and maximum (parquet-value-range.ts).
  const rangesOnly = distinctCountsOmitted();
  if (!buffer.columnData || buffer.rowCount === undefined) {
    buffer.rowCount = 0;
    buffer.pageRowCount = 0;
    buffer.columnData = {};
    buffer.pages = {};
    for (const column of columns) {
      buffer.columnData[column.name] = {
        dlevels: [],
        rlevels: [],
        values: [],
        distinct_values: rangesOnly ? new ValueRange() : new Set<unknown>(),
        count: 0,
      };
      buffer.pages[column.name] = [];
    }
  }
  const count = rows.length;
  const before: { data: ColumnBuffer; levels: number; values: number }[] = [];
  try {
    // Column by column, so that each loop reads one property name. The levels and values go
    // straight into parquetjs's arrays: arrays of originals and converted values per column per
    // call were 44% of what these appends allocated in the Sparkify plays stage.
    for (const column of columns) {
      const { name, toPrimitive, definedLevel, required } = column;
      const data = buffer.columnData[name]!;
      const { dlevels, values } = data;
      before.push({ data, levels: dlevels.length, values: values.length });
      for (let row = 0; row < count; row++) {
        const value = rows[row]![name];
        if (value === null || value === undefined) {
          if (required) throw new Error(`missing required field: ${name}`);
          dlevels.push(0);
        } else {
          values.push(toPrimitive(value));
          dlevels.push(definedLevel);
        }
      }
    }
  } catch (error) {
    // A bad row leaves the buffer as it was, as appendRow does.
    for (const { data, levels, values } of before) {
      data.dlevels.length = levels;
      data.values.length = values;
    }
    throw error;
  }
  for (const column of columns) {
    const { name } = column;
    const data = buffer.columnData[name]!;
    // parquetjs puts an empty Set in place of the range after each page; it is swapped back here.
    if (rangesOnly && !(data.distinct_values instanceof ValueRange)) {
      const range = new ValueRange();
      for (const value of data.distinct_values) range.add(value);
      data.distinct_values = range;
    }
    const distinct = data.distinct_values;
    for (let row = 0; row < count; row++) {
      const value = rows[row]![name];
      if (value !== null && value !== undefined) distinct.add(value);
    }
    data.count += count;
  }
  buffer.rowCount += rows.length;
  buffer.pageRowCount = (buffer.pageRowCount ?? 0) + rows.length;
}

/** Appends rows; the same file as one `appendRow` per row, several times faster. */
export async function appendRows(
  writer: ParquetWriter,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  let columns = columnsOf.get(writer);
  if (columns === undefined) {
    columns = flatColumns(writer) ?? null;
    columnsOf.set(writer, columns);
  }
  if (columns === null) {
    for (const row of rows) await writer.appendRow(row);
    return;
  }
  const pageSize = writer.envelopeWriter?.pageSize ?? 8192;
  let next = 0;
  while (next < rows.length) {
    const buffer = writer.rowBuffer as RowBuffer;
    // Rows that can go in before the next page or row-group boundary, less one: that one goes
    // through appendRow, which encodes the page or writes the row group when it is due.
    const room =
      Math.min(pageSize - (buffer.pageRowCount ?? 0), writer.rowGroupSize - (buffer.rowCount ?? 0)) - 1;
    const count = Math.min(Math.max(room, 0), rows.length - next);
    if (count > 0) {
      shredInto(buffer, columns, rows.slice(next, next + count));
      next += count;
    }
    if (next < rows.length) await writer.appendRow(rows[next++]!);
  }
}
