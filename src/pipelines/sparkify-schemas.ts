/**
 * The Sparkify data, declared once: what the input must look like (records that do not fit are
 * rejected with the reason) and the five star-schema tables written as Parquet.
 */
import { column, type Infer, schema } from "../core/index.js";
import { partitionValueProblem } from "../io/index.js";

/**
 * The range of `ts` the lake takes. songplay_id is `ts x 2048 + n` (sparkify-rules.ts), an integer
 * that a double holds exactly only while ts < 2^42 (2109-05-15); the Parquet writer's
 * TIMESTAMP_MILLIS starts at 1970. A ts outside the range is rejected with the reason, never
 * numbered with ids that could repeat.
 */
export const TS_END = 2 ** 42;

function tsInRange(ts: number): string | undefined {
  if (ts < 0) return "before 1970-01-01T00:00:00Z, where start_time begins";
  return ts < TS_END
    ? undefined
    : `after ${new Date(TS_END - 1).toISOString()}, past which songplay_id (ts x 2048 + n) is no longer exact`;
}

function nonEmpty(id: string): string | undefined {
  return id === "" ? "an id cannot be empty" : undefined;
}

/** artist_id names a partition folder of songs: it must fit in one, and read back as itself. */
function artistFolder(id: string): string | undefined {
  return partitionValueProblem("artist_id", id);
}

/** One song document of `song_data/`. Only the ids are required: without them a song cannot be keyed. */
export const songInputSchema = schema({
  song_id: column.utf8().check(nonEmpty),
  artist_id: column.utf8().check(nonEmpty).check(artistFolder),
  title: column.utf8().optional(),
  artist_name: column.utf8().optional(),
  artist_location: column.utf8().optional(),
  artist_latitude: column.double().optional(),
  artist_longitude: column.double().optional(),
  duration: column.double().optional(),
  year: column.int32().optional(),
  num_songs: column.int32().optional(),
});
export type SongInput = Infer<typeof songInputSchema> & { readonly _file: string };

/** One event line of `log_data/`: `ts` and `page` are required, every other field is typed if present. */
export const eventInputSchema = schema({
  ts: column.int64().check(tsInRange),
  page: column.utf8(),
  userId: column.utf8().optional(),
  firstName: column.utf8().optional(),
  lastName: column.utf8().optional(),
  gender: column.utf8().optional(),
  level: column.utf8().optional(),
  song: column.utf8().optional(),
  artist: column.utf8().optional(),
  length: column.double().optional(),
  sessionId: column.int64().optional(),
  itemInSession: column.int64().optional(),
  location: column.utf8().optional(),
  userAgent: column.utf8().optional(),
  auth: column.utf8().optional(),
  method: column.utf8().optional(),
  status: column.int32().optional(),
  registration: column.double().optional(),
});
export type EventInput = Infer<typeof eventInputSchema>;

export const songsSchema = schema({
  song_id: column.utf8(),
  title: column.utf8().optional(),
  artist_id: column.utf8(),
  year: column.int32().optional(),
  duration: column.double().optional(),
});
export type SongRow = Infer<typeof songsSchema>;

export const artistsSchema = schema({
  artist_id: column.utf8(),
  name: column.utf8().optional(),
  location: column.utf8().optional(),
  latitude: column.double().optional(),
  longitude: column.double().optional(),
});
export type ArtistRow = Infer<typeof artistsSchema>;

export const usersSchema = schema({
  user_id: column.utf8(),
  first_name: column.utf8().optional(),
  last_name: column.utf8().optional(),
  gender: column.utf8().optional(),
  level: column.utf8().optional(),
});
export type UserRow = Infer<typeof usersSchema>;

export const timeSchema = schema({
  start_time: column.timestampMillis(),
  hour: column.int32(),
  day: column.int32(),
  week: column.int32(),
  month: column.int32(),
  year: column.int32(),
  weekday: column.int32(),
});
export type TimeRow = Infer<typeof timeSchema>;

export const songplaysSchema = schema({
  songplay_id: column.int64(),
  start_time: column.timestampMillis(),
  user_id: column.utf8(),
  level: column.utf8().optional(),
  song_id: column.utf8().optional(),
  artist_id: column.utf8().optional(),
  session_id: column.int64().optional(),
  location: column.utf8().optional(),
  user_agent: column.utf8().optional(),
  year: column.int32(),
  month: column.int32(),
});
export type SongplayRow = Infer<typeof songplaysSchema>;

export const TABLES = ["songs", "artists", "users", "time", "songplays"] as const;
