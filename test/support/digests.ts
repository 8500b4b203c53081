/** A digest of each Sparkify table of an output, read with DuckDB: equal digests mean equal rows. */
import { literal, TABLE_COLUMNS } from "../../bench/sparkify-duckdb.js";
import { queries } from "./duckdb.js";

export async function tableDigests(output: string): Promise<Record<string, string>> {
  const tables = Object.keys(TABLE_COLUMNS);
  const rows = await queries(
    tables.map(
      (table) =>
        `SELECT count(*) || ':' || md5(coalesce(string_agg(row, '|' ORDER BY row), '')) AS digest FROM (SELECT CAST((${TABLE_COLUMNS[table]}) AS VARCHAR) AS row FROM read_parquet(${literal(`${output}/${table}/**/*.parquet`)}, hive_partitioning = true))`,
    ),
  );
  return Object.fromEntries(tables.map((table, index) => [table, String(rows[index]![0]!.digest)]));
}
