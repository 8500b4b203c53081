/**
 * The Sparkify rules written a second time, as DuckDB SQL over the raw JSON: an independent
 * implementation that the end-to-end tests compare sluice's tables with, row for row, and the peer
 * that bench:etl runs sluice beside.
 */

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

const EVENT_COLUMNS = `{artist: 'VARCHAR', auth: 'VARCHAR', firstName: 'VARCHAR', gender: 'VARCHAR', itemInSession: 'BIGINT',
  lastName: 'VARCHAR', length: 'DOUBLE', level: 'VARCHAR', location: 'VARCHAR', method: 'VARCHAR', page: 'VARCHAR',
  registration: 'DOUBLE', sessionId: 'BIGINT', song: 'VARCHAR', status: 'INTEGER', ts: 'BIGINT', userAgent: 'VARCHAR',
  userId: 'VARCHAR'}`;
const SONG_COLUMNS = `{num_songs: 'INTEGER', artist_id: 'VARCHAR', artist_latitude: 'DOUBLE', artist_longitude: 'DOUBLE',
  artist_location: 'VARCHAR', artist_name: 'VARCHAR', song_id: 'VARCHAR', title: 'VARCHAR', duration: 'DOUBLE', year: 'INTEGER'}`;

/** Statements that create the expected tables ref_songs, ref_artists, ref_users, ref_time, ref_songplays. */
export function referenceStatements(songFiles: string | string[], logFiles: string | string[]): string[] {
  const list = (files: string | string[]) =>
    typeof files === "string" ? literal(files) : `[${files.map(literal).join(", ")}]`;
  return [
    `CREATE TABLE raw_songs AS SELECT * FROM read_json(${list(songFiles)}, columns = ${SONG_COLUMNS}, filename = true)`,
    `CREATE TABLE raw_events AS SELECT * FROM read_json(${list(logFiles)}, format = 'newline_delimited', columns = ${EVENT_COLUMNS})`,
    `CREATE TABLE unique_songs AS SELECT DISTINCT ON (song_id) * FROM raw_songs ORDER BY song_id, filename`,
    `CREATE TABLE ref_songs AS SELECT song_id, title, artist_id, year, duration FROM unique_songs`,
    `CREATE TABLE ref_artists AS SELECT DISTINCT ON (artist_id) artist_id, artist_name AS name, artist_location AS location,
       artist_latitude AS latitude, artist_longitude AS longitude FROM unique_songs ORDER BY artist_id, song_id`,
    `CREATE TABLE plays AS SELECT * FROM raw_events WHERE page = 'NextSong' AND userId IS NOT NULL AND userId <> ''`,
    `CREATE TABLE ref_users AS SELECT DISTINCT ON (userId) userId AS user_id, firstName AS first_name, lastName AS last_name,
       gender, level FROM plays ORDER BY userId, ts DESC, sessionId DESC NULLS LAST, itemInSession DESC NULLS LAST`,
    `CREATE TABLE ref_time AS SELECT DISTINCT make_timestamp(ts * 1000) AS start_time,
       hour(make_timestamp(ts * 1000))::INTEGER AS hour, day(make_timestamp(ts * 1000))::INTEGER AS day,
       weekofyear(make_timestamp(ts * 1000))::INTEGER AS week, month(make_timestamp(ts * 1000))::INTEGER AS month,
       year(make_timestamp(ts * 1000))::INTEGER AS year, isodow(make_timestamp(ts * 1000))::INTEGER AS weekday FROM plays`,
    `CREATE TABLE numbered AS SELECT *, ts * 2048 + row_number() OVER (PARTITION BY ts ORDER BY userId, sessionId NULLS FIRST,
       itemInSession NULLS FIRST) - 1 AS songplay_id FROM plays`,
    `CREATE TABLE ref_songplays AS SELECT songplay_id, make_timestamp(ts * 1000) AS start_time, userId AS user_id, level,
       song_id, artist_id, sessionId AS session_id, location,
       CASE WHEN length(userAgent) >= 2 AND starts_with(userAgent, '"') AND ends_with(userAgent, '"')
            THEN userAgent[2:-2] ELSE userAgent END AS user_agent,
       year(make_timestamp(ts * 1000))::INTEGER AS year, month(make_timestamp(ts * 1000))::INTEGER AS month
     FROM (SELECT n.*, s.song_id, s.artist_id, row_number() OVER (PARTITION BY n.songplay_id
             ORDER BY abs(s.duration - n.length) NULLS LAST, s.song_id) AS choice
           FROM numbered n LEFT JOIN unique_songs s ON s.title = n.song AND s.artist_name = n.artist)
     WHERE choice = 1`,
  ];
}

/** Statements that load sluice's output tables as out_<table>, with Hive partition columns typed. */
export function outputStatements(output: string): string[] {
  const read = (table: string, hive: string) =>
    `CREATE TABLE out_${table} AS SELECT * FROM read_parquet(${literal(`${output}/${table}/**/*.parquet`)}${hive})`;
  return [
    read("songs", ", hive_partitioning = true, hive_types = {year: INTEGER, artist_id: VARCHAR}"),
    read("artists", ""),
    read("users", ""),
    read("time", ", hive_partitioning = true, hive_types = {year: INTEGER, month: INTEGER}"),
    read("songplays", ", hive_partitioning = true, hive_types = {year: INTEGER, month: INTEGER}"),
  ];
}

/** Rows in one table and not the other (either way, counting duplicates). */
export function differenceQuery(table: string, columns: string): string {
  return `SELECT 'missing' AS side, * FROM (SELECT ${columns} FROM ref_${table} EXCEPT ALL SELECT ${columns} FROM out_${table})
          UNION ALL SELECT 'unexpected', * FROM (SELECT ${columns} FROM out_${table} EXCEPT ALL SELECT ${columns} FROM ref_${table})
          LIMIT 5`;
}

export const TABLE_COLUMNS: Record<string, string> = {
  songs: "song_id, title, artist_id, year, duration",
  artists: "artist_id, name, location, latitude, longitude",
  users: "user_id, first_name, last_name, gender, level",
  time: "start_time, hour, day, week, month, year, weekday",
  songplays:
    "songplay_id, start_time, user_id, level, song_id, artist_id, session_id, location, user_agent, year, month",
};

/**
 * Statements that write the ref_ tables as Parquet under `output`, laid out as sluice lays them out:
 * Hive-partitioned folders, or one file in the table's folder (which must exist).
 */
export function copyStatements(output: string): string[] {
  const copy = (table: string, partitionBy?: string) =>
    partitionBy
      ? `COPY (SELECT ${TABLE_COLUMNS[table]} FROM ref_${table}) TO ${literal(`${output}/${table}`)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (${partitionBy}))`
      : `COPY (SELECT ${TABLE_COLUMNS[table]} FROM ref_${table}) TO ${literal(`${output}/${table}/part-0.parquet`)} (FORMAT parquet, COMPRESSION snappy)`;
  return [
    copy("songs", "year, artist_id"),
    copy("artists"),
    copy("users"),
    copy("time", "year, month"),
    copy("songplays", "year, month"),
  ];
}

/**
 * DuckDB's side of the benchmarks: the five tables from the raw JSON under `input`, written as
 * Hive-partitioned Parquet under `output` (a local folder). DuckDB's library is loaded here, when
 * it runs, so that a sluice variant's peak RSS never includes it.
 */
export async function runDuckdbEtl(input: string, output: string, threads: number): Promise<void> {
  const { mkdir } = await import("node:fs/promises");
  for (const table of ["artists", "users"]) await mkdir(`${output}/${table}`, { recursive: true });
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(":memory:", { threads: String(threads) });
  const connection = await instance.connect();
  try {
    for (const statement of [
      ...referenceStatements(`${input}/song_data/**/*.json`, `${input}/log_data/**/*.json`),
      ...copyStatements(output),
    ])
      await connection.run(statement);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
