/**
 * The Sparkify data-lake ETL as a sluice pipeline: song documents and event logs in, the five
 * star-schema tables out, as Hive-partitioned Parquet committed together.
 *
 * @example
 * import { sparkify } from "sluice/pipelines/sparkify";
 * const result = await sparkify({ input: "s3://bucket/raw", output: "s3://bucket/lake", mode: "overwrite" }, { threads: 4 });
 */
import {
  definePipeline,
  maxBy,
  minBy,
  type PCollection,
  type RejectLimit,
  type RunOptions,
  type RunResult,
} from "../core/index.js";
import {
  type CommittedTable,
  type Compression,
  jsonDocuments,
  jsonLines,
  Lake,
  type ParquetTableOptions,
  type S3Settings,
  type WriteMode,
} from "../io/index.js";
import {
  bestMatch,
  comparePlaysWithinTs,
  type Play,
  isPlay,
  matchKey,
  playRank,
  songplayId,
  timeParts,
  toPlay,
} from "./sparkify-rules.js";
import {
  type ArtistRow,
  artistsSchema,
  type EventInput,
  eventInputSchema,
  type SongInput,
  type SongplayRow,
  songInputSchema,
  songplaysSchema,
  songsSchema,
  timeSchema,
  type UserRow,
  usersSchema,
} from "./sparkify-schemas.js";
import { inventoryInput, joinUri, LOG_FILES, requireSongsAndLogs, SONG_FILES } from "./sparkify-input.js";

export interface SparkifyOptions {
  /** Folder or `s3://bucket/prefix` holding `song_data/` and `log_data/`. */
  readonly input: string;
  /** Folder or `s3://bucket/prefix` that receives the five tables and `_rejected/`. */
  readonly output: string;
  /** Default `error-if-exists`. */
  readonly mode?: WriteMode;
  readonly s3?: S3Settings;
  /** Default 1% of the records read. */
  readonly maxRejected?: RejectLimit;
  readonly compression?: Compression;
  readonly rowGroupSize?: number;
  readonly maxRowsPerFile?: number;
  /**
   * Run even when the input holds no song documents or no event logs (default false: such a run
   * fails naming what it looked for, so that a misnamed folder never becomes empty tables).
   */
  readonly allowEmpty?: boolean;
}

/** Songs, one per song_id: the record from the first file in path order. */
export function uniqueSongs(records: PCollection<SongInput>): PCollection<SongInput> {
  return records
    .keyBy((song) => song.song_id, "key songs by song_id")
    .combinePerKey(
      minBy<SongInput>((song) => song._file),
      "first file per song_id",
    )
    .map(([, song]) => song, "unique songs");
}

/** Artists, one per artist_id, all five values from the record of the artist's smallest song_id. */
export function artistsOf(songs: PCollection<SongInput>): PCollection<ArtistRow> {
  return songs
    .keyBy((song) => song.artist_id, "key songs by artist_id")
    .combinePerKey(
      minBy<SongInput>((song) => song.song_id),
      "smallest song_id per artist",
    )
    .map(
      ([, song]): ArtistRow => ({
        artist_id: song.artist_id,
        name: song.artist_name,
        location: song.artist_location,
        latitude: song.artist_latitude,
        longitude: song.artist_longitude,
      }),
      "artist rows",
    );
}

/** What the users table needs of a play: its rank, and the user as the play saw them. */
type UserPlay = Pick<
  EventInput,
  "ts" | "sessionId" | "itemInSession" | "firstName" | "lastName" | "gender" | "level"
>;

/**
 * Users, one per user_id, from each user's latest play. Plays are cut down to what the table needs
 * before the combine: a task's partial results (one play per user it saw) cross the shuffle, and
 * the whole event is three times the size.
 */
export function usersOf(plays: PCollection<EventInput>): PCollection<UserRow> {
  return plays
    .map(
      (event): [string, UserPlay] => [
        event.userId as string,
        {
          ts: event.ts,
          sessionId: event.sessionId,
          itemInSession: event.itemInSession,
          firstName: event.firstName,
          lastName: event.lastName,
          gender: event.gender,
          level: event.level,
        },
      ],
      "key plays by userId",
    )
    .combinePerKey(maxBy<UserPlay>(playRank), "latest play per user")
    .map(
      ([userId, event]): UserRow => ({
        user_id: userId,
        first_name: event.firstName,
        last_name: event.lastName,
        gender: event.gender,
        level: event.level,
      }),
      "user rows",
    );
}

/** A songplay before its song is looked up, with what the lookup needs. */
interface UnmatchedSongplay {
  readonly row: SongplayRow;
  /** Null for a play without a song title or an artist name: it matches no song. */
  readonly matchKey: string | null;
  readonly length: number | null;
}

/** Groups plays by ts: each group gives one time row, and numbers its plays for songplay_id. */
export function playsByTs(plays: PCollection<Play>): PCollection<[number, Play[]]> {
  return plays.keyBy((play) => play.ts, "key plays by ts").groupByKey({ name: "plays by ts" });
}

/** Numbers the plays of each millisecond and makes their songplay rows, song and artist still unknown. */
export function numberPlays(byTs: PCollection<[number, Play[]]>): PCollection<UnmatchedSongplay> {
  return byTs.flatMap(([ts, plays]) => {
    const time = timeParts(ts);
    return [...plays].sort(comparePlaysWithinTs).map((play, rank): UnmatchedSongplay => {
      return {
        row: {
          songplay_id: songplayId(ts, rank),
          start_time: ts,
          user_id: play.userId,
          level: play.level,
          song_id: null,
          artist_id: null,
          session_id: play.sessionId,
          location: play.location,
          user_agent: play.userAgent,
          year: time.year,
          month: time.month,
        },
        matchKey: matchKey(play.song, play.artist),
        length: play.length,
      };
    });
  }, "number plays");
}

/** What matching a play needs of a song. */
type SongToMatch = Pick<SongInput, "song_id" | "artist_id" | "duration">;

/**
 * Songplays: each play with the song (and its artist) matching its title and artist name, if any.
 * The songs are a lookup table every task holds (a broadcast join): the song data is a dimension,
 * thousands of times smaller than the plays, which are then matched where they are numbered
 * instead of being shuffled a second time.
 */
export function songplaysOf(
  unmatched: PCollection<UnmatchedSongplay>,
  songs: PCollection<SongInput>,
): PCollection<SongplayRow> {
  const songsByMatchKey = songs
    .filter((song) => song.title !== null && song.artist_name !== null, "songs with title and artist")
    .map(
      (song): [string | null, SongToMatch] => [
        matchKey(song.title, song.artist_name),
        { song_id: song.song_id, artist_id: song.artist_id, duration: song.duration },
      ],
      "key songs by title",
    );
  return unmatched
    .keyBy((songplay) => songplay.matchKey, "key plays by song")
    .lookup(songsByMatchKey, "match plays to songs")
    .map(([, songplay, candidates]): SongplayRow => {
      const song = bestMatch(songplay.length, candidates);
      return song ? { ...songplay.row, song_id: song.song_id, artist_id: song.artist_id } : songplay.row;
    }, "songplay rows");
}

export const sparkifyPipeline = definePipeline(
  { module: import.meta.url, name: "sparkify" },
  (p, options: SparkifyOptions) => {
    const s3 = options.s3 ?? {};
    const lake = new Lake(options.output, { mode: options.mode ?? "error-if-exists", s3 });
    p.rejectInto({ sink: lake.rejected(), limit: options.maxRejected ?? { percent: 1 } });
    const parquet: ParquetTableOptions = {
      compression: options.compression ?? "snappy",
      ...(options.rowGroupSize ? { rowGroupSize: options.rowGroupSize } : {}),
      ...(options.maxRowsPerFile ? { maxRowsPerFile: options.maxRowsPerFile } : {}),
    };

    const songRecords = p.read(
      jsonDocuments<SongInput>(joinUri(options.input, SONG_FILES), {
        schema: songInputSchema,
        s3,
        originField: "_file",
      }),
      { name: "read song_data", required: !options.allowEmpty },
    );
    const events = p.read(jsonLines(joinUri(options.input, LOG_FILES), { schema: eventInputSchema, s3 }), {
      name: "read log_data",
      required: !options.allowEmpty,
    });

    const songs = uniqueSongs(songRecords);
    songs
      .map(
        (song) => ({
          song_id: song.song_id,
          title: song.title,
          artist_id: song.artist_id,
          year: song.year,
          duration: song.duration,
        }),
        "song rows",
      )
      .write(lake.parquet("songs", songsSchema, { ...parquet, partitionBy: ["year", "artist_id"] }));
    // The dimension tables are small (a row per artist, per user): one file each, as readers
    // expect of a small table, rather than a file per shuffle partition of a few rows each.
    artistsOf(songs)
      .coalesce(1, "one file")
      .write(lake.parquet("artists", artistsSchema, parquet));

    const plays = events.filter(isPlay, "NextSong plays");
    usersOf(plays)
      .coalesce(1, "one file")
      .write(lake.parquet("users", usersSchema, parquet));
    const byTs = playsByTs(plays.map(toPlay, "project plays"));
    byTs
      .map(([ts]) => timeParts(ts), "time rows")
      .write(lake.parquet("time", timeSchema, { ...parquet, partitionBy: ["year", "month"] }));
    songplaysOf(numberPlays(byTs), songs).write(
      // Sorted by time within each file: readers filtering on start_time skip row groups by their
      // statistics. songplay_id is ts x 2048 + n, so its order is start_time's, as one number.
      lake.parquet("songplays", songplaysSchema, {
        ...parquet,
        partitionBy: ["year", "month"],
        sortBy: ["songplay_id"],
      }),
    );
    return { lake };
  },
);

export interface SparkifyResult {
  readonly runId: string;
  readonly metrics: RunResult<unknown>["metrics"];
  /** Rows, files, partitions and bytes of each table the run committed. */
  readonly tables: ReadonlyMap<string, CommittedTable>;
  /** Files under the input that are not song documents or event logs, so not read (relative paths). */
  readonly skipped: readonly string[];
}

/** Runs the Sparkify ETL. */
export async function sparkify(
  options: SparkifyOptions,
  runOptions: RunOptions = {},
): Promise<SparkifyResult> {
  const inventory = await inventoryInput(options.input, options.s3);
  if (!options.allowEmpty) requireSongsAndLogs(options.input, inventory);
  const result = await sparkifyPipeline.run(options, runOptions);
  return {
    runId: result.runId,
    metrics: result.metrics,
    tables: result.outputs.lake.committer.committed,
    skipped: inventory.skipped,
  };
}
