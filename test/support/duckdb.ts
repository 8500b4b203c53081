/** DuckDB as the independent reader of what sluice writes. */
import { DuckDBInstance } from "@duckdb/node-api";

export async function query(sql: string): Promise<Record<string, unknown>[]> {
  return (await queries([sql]))[0]!;
}

/** Runs statements in one in-memory database; returns each one's rows. */
export async function queries(statements: readonly string[]): Promise<Record<string, unknown>[][]> {
  // Timestamps sluice writes are instants in UTC (TIMESTAMP WITH TIME ZONE to DuckDB). Without its
  // ICU extension (not bundled, and not downloaded offline) DuckDB shows and compares them in UTC.
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const results: Record<string, unknown>[][] = [];
    for (const sql of statements) {
      const reader = await connection.runAndReadAll(sql);
      results.push(reader.getRowObjectsJS() as Record<string, unknown>[]);
    }
    return results;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
