/**
 * The Sparkify data-lake ETL as a sluice pipeline: song documents and event logs in, the five
 * star-schema tables out, as Hive-partitioned Parquet committed together. Workers import this
 * module to rebuild the pipeline; what decides a run's inputs (`sparkify()`) is in
 * sparkify-load.ts.
 */
import {
  coGroupByKey,
  counter,
  definePipeline,
  flatten,
  type Infer,
  type JobMetrics,
  minBy,
  type PCollection,
  type RejectLimit,
  type Schema,
} from "../core/index.js";
import {
  type Compression,
  type ListedFile,
  jsonDocuments,
  jsonLines,
  Lake,
  parquetDataset,
  type ParquetTableOptions,
  type S3Settings,
  STATE_FOLDER,
  type WriteMode,
} from "../io/index.js";
import { dayPartition } from "./sparkify-days.js";
import {
  bestMatch,
  comparePlaysWithinTs,
  type Play,
  isPlay,
  matchKey,
  matchKeyParts,
  latestPlay,
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
  type TimeRow,
  timeSchema,
  type UserRow,
  usersSchema,
} from "./sparkify-schemas.js";
import {
  type LoadedFile,
  type LoadedPlay,
  type LoadedSong,
  type LoadedUser,
  STATE,
  type UserPlay,
} from "./sparkify-state.js";
import { joinUri, LOG_FILES, SONG_FILES } from "./sparkify-input.js";

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
   * Update mode: also rewrite each partition of a growing table (songs, artists, time,
   * songplays) that holds more than one file into one file, in the same commit (daily loads add
   * a file to a month's partitions each day). Default false.
   */
  readonly compact?: boolean;
  /**
   * Update mode: an input file that changed since it was loaded is reloaded, replacing what it
   * contributed, by rebuilding the lake from the input (which must still hold every file loaded
   * before), in one commit. Default false: such a file stops the run, named.
   */
  readonly reloadChanged?: boolean;
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

/** Users, one per user_id, from each user's latest play over `plays` (this load's, and the state's). */
export function latestPlays(plays: PCollection<LoadedUser>): PCollection<LoadedUser> {
  return plays.combinePerKey(latestPlay<UserPlay>(), "latest play per user");
}

/**
 * What the users table needs of a play. Plays are cut down to it before the combine: a task's
 * partial results (one play per user it saw) cross the shuffle, and the whole event is three
 * times the size.
 */
function userPlayOf(event: EventInput): LoadedUser {
  return [
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
  ];
}

/**
 * What the users table and the plays' tables need of each play, made in one pass: two transforms
 * reading the plays would share each event, which is then frozen (a cost per play; see the
 * README's "Records a transform changes"), where one pass makes two new records of each.
 */
export function splitPlays(plays: PCollection<EventInput>): {
  readonly users: PCollection<LoadedUser>;
  readonly plays: PCollection<Play>;
} {
  return plays.withOutputs<{ users: LoadedUser; plays: Play }>(
    ["users", "plays"],
    (event, out) => {
      out.users(userPlayOf(event));
      out.plays(toPlay(event));
    },
    "user and play of each play",
  );
}

function userRow([userId, play]: LoadedUser): UserRow {
  return {
    user_id: userId,
    first_name: play.firstName,
    last_name: play.lastName,
    gender: play.gender,
    level: play.level,
  };
}

/** A songplay before its song is looked up, with what the lookup needs. */
interface UnmatchedSongplay {
  readonly row: SongplayRow;
  /** Null for a play without a song title or an artist name: it matches no song. */
  readonly title: string | null;
  readonly artist: string;
  readonly length: number | null;
}

/** The same play delivered twice: identical in ts (grouped already), userId, sessionId and itemInSession. */
function samePlay(play: Play, loaded: Play | LoadedPlay): boolean {
  return Array.isArray(loaded)
    ? play.userId === loaded[1] && play.sessionId === loaded[2] && play.itemInSession === loaded[3]
    : play.userId === loaded.userId &&
        play.sessionId === loaded.sessionId &&
        play.itemInSession === loaded.itemInSession;
}

/** The plays of a millisecond, and those loaded before on it (none in a full load). */
type PlaysOfTs = readonly [plays: Play[], loaded?: LoadedPlay[]];

const NONE_LOADED: readonly LoadedPlay[] = Object.freeze([]);

/**
 * Numbers the plays of each millisecond, continuing after the plays loaded before (`loaded`), and
 * makes their songplay rows (song and artist still unknown), the time row of a millisecond seen
 * for the first time, and the state of each play numbered. A play identical in (ts, userId,
 * sessionId, itemInSession) to one loaded or to another of this load is a re-delivered line: it
 * is numbered once (the first in the order that numbers plays).
 */
export function numberPlays(byTs: PCollection<[number, PlaysOfTs]>) {
  return byTs.withOutputs<{ songplays: UnmatchedSongplay; time: TimeRow; loaded: LoadedPlay }>(
    ["songplays", "time", "loaded"],
    ([ts, [plays, loaded = NONE_LOADED]], out) => {
      let next = 0;
      for (const play of loaded) next = Math.max(next, play[4] + 1);
      const time = timeParts(ts);
      let previous: Play | undefined;
      // Most milliseconds hold one play and no play loaded before: no copy to sort, no search.
      const ordered = plays.length > 1 ? [...plays].sort(comparePlaysWithinTs) : plays;
      for (const play of ordered) {
        const redelivered =
          (previous !== undefined && samePlay(play, previous)) ||
          (loaded.length > 0 && loaded.some((old) => samePlay(play, old)));
        previous = play;
        if (redelivered) continue;
        const rank = next++;
        out.songplays({
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
          title: play.artist === null ? null : play.song,
          artist: play.artist ?? "",
          length: play.length,
        });
        out.loaded([ts, play.userId, play.sessionId, play.itemInSession, rank]);
      }
      if (loaded.length === 0 && next > 0) out.time(time);
    },
    "number plays",
  );
}

/** What matching a play needs of a song. */
type SongToMatch = Pick<SongInput, "song_id" | "artist_id" | "artist_name" | "duration">;

function loadedSong(song: SongInput): LoadedSong {
  const key =
    song.title !== null && song.artist_name !== null ? matchKey(song.title, song.artist_name) : null;
  return [song.song_id, song.artist_id, key, song.duration];
}

/** The transform that makes songplay rows: its records are the run's songplays. */
export const SONGPLAY_ROWS = "songplay rows";
/** Counted for each songplay row given a song: with SONGPLAY_ROWS, how many plays a run matched. */
export const MATCHED_PLAYS = "plays matched to a song";
const matchedPlays = counter(MATCHED_PLAYS);

/** How many of a run's songplays it matched to a song, from the run's metrics. */
export function playMatches(metrics: JobMetrics): { readonly matched: number; readonly plays: number } {
  const plays = metrics.transforms
    .filter((transform) => transform.name === SONGPLAY_ROWS)
    .reduce((total, transform) => total + transform.records, 0);
  return { matched: metrics.counters[MATCHED_PLAYS] ?? 0, plays };
}

/**
 * Songplays: each play with the song (and its artist) matching its title and artist name, if any.
 * The songs are a lookup table every task holds (a broadcast join): the song data is a dimension,
 * thousands of times smaller than the plays, which are then matched where they are numbered
 * instead of being shuffled a second time. The table is keyed by title alone and the artist
 * compared among the few songs of a title: a key made of both would be a new string for every
 * play, which a lookup must copy whole before it can hash it (two to three times the lookup).
 */
export function songplaysOf(
  unmatched: PCollection<UnmatchedSongplay>,
  songs: PCollection<LoadedSong>,
): PCollection<SongplayRow> {
  const songsByTitle = songs
    .filter((song) => song[2] !== null, "songs with title and artist")
    .map(([songId, artistId, key, duration]): [string, SongToMatch] => {
      const [title, artistName] = matchKeyParts(key as string);
      return [title, { song_id: songId, artist_id: artistId, artist_name: artistName, duration }];
    }, "key songs by title");
  return unmatched
    .keyBy((songplay) => songplay.title, "key plays by title")
    .lookup(songsByTitle, "match plays to songs")
    .map(([, songplay, candidates]): SongplayRow => {
      const song = bestMatch(songplay.length, candidates, songplay.artist);
      if (!song) return songplay.row;
      matchedPlays.inc();
      return { ...songplay.row, song_id: song.song_id, artist_id: song.artist_id };
    }, SONGPLAY_ROWS);
}

/** Records of `collection` whose key no record of `known` has: what a load adds to a dimension. */
function notIn<K, T>(
  collection: PCollection<[K, T]>,
  known: PCollection<[K, unknown]>,
  name: string,
): PCollection<T> {
  return coGroupByKey([collection, known] as const, name).flatMap(
    ([, [added, existing]]) => (existing.length > 0 ? [] : added.slice(0, 1)),
    `${name}/new`,
  );
}

/** What a run is given beyond the options a user sets: the driver's reading of input and lake. */
export interface SparkifyRunInputs extends SparkifyOptions {
  /** The song documents to read, as the driver listed them (update mode: the new ones). Default: listed. */
  readonly songFiles?: readonly ListedFile[];
  /**
   * How many `songFiles` there are: the workers build from the options without the file lists
   * and the record of loaded files (driver-only), and an update without new songs has another graph.
   */
  readonly songFileCount?: number;
  /** The event logs to read, likewise. */
  readonly logFiles?: readonly ListedFile[];
  /**
   * What this run writes into the record of loaded files (which the next daily load reads): every
   * input file loaded once it commits, or, with `appendLoaded` (update mode), the files it adds.
   */
  readonly loaded?: readonly LoadedFile[];
  /** `loaded` is a part added to the record, not the whole record. Default false. */
  readonly appendLoaded?: boolean;
  /** The fingerprint of the record of loaded files as the driver read it (update mode). */
  readonly expectedLoads?: string;
  /** Per table, the files a compaction rewrites (paths relative to the table): update mode. */
  readonly compactFiles?: Readonly<Record<string, readonly { uri: string; relativePath: string }[]>>;
  /**
   * The day folders of loaded plays that the new plays fall on (update mode): the only ones the
   * load reads. Undefined: read them all.
   */
  readonly playDays?: readonly string[];
}

export const sparkifyPipeline = definePipeline(
  { module: import.meta.url, name: "sparkify" },
  (p, options: SparkifyRunInputs) => {
    const s3 = options.s3 ?? {};
    const mode = options.mode ?? "error-if-exists";
    const update = mode === "update";
    const lake = new Lake(options.output, { mode, s3 });
    if (options.expectedLoads !== undefined) {
      lake.committer.expected = {
        table: `${STATE_FOLDER}/${STATE.loaded}`,
        fingerprint: options.expectedLoads,
      };
    }
    p.rejectInto({ sink: lake.rejected(), limit: options.maxRejected ?? { percent: 1 } });
    const parquet: ParquetTableOptions = {
      compression: options.compression ?? "snappy",
      ...(options.rowGroupSize ? { rowGroupSize: options.rowGroupSize } : {}),
      ...(options.maxRowsPerFile ? { maxRowsPerFile: options.maxRowsPerFile } : {}),
    };
    // In update mode the input may hold nothing new of one kind (a day of logs, no new songs).
    const required = !options.allowEmpty && !update;
    /**
     * A table's new rows with, when the run compacts it, the rows of the files it rewrites: read
     * back by one task, which writes one file per partition, and removed by the commit.
     */
    const compacted =
      <S extends Schema>(table: string, schema: S) =>
      (rows: PCollection<Infer<S>>): PCollection<Infer<S>> => {
        const files = options.compactFiles?.[table] ?? [];
        if (files.length === 0) return rows;
        lake.committer.removeAtCommit(
          table,
          files.map((file) => file.relativePath),
        );
        const old = p
          .read(
            parquetDataset(joinUri(options.output, table), { schema, s3, files, bookkeeping: true }),
            `read ${table} to compact`,
          )
          .coalesce(1, `compact ${table}`);
        return flatten([rows, old], `${table} with compacted rows`);
      };
    /** What the lake kept from earlier loads (update mode only: the other modes replace it). */
    const state = <T>(name: string): PCollection<T> =>
      p.read(jsonLines<T>(lake.stateUri(name), { s3, bookkeeping: true }), {
        name: `read state ${name}`,
        required: false,
      });

    const songRecords = p.read(
      jsonDocuments<SongInput>(joinUri(options.input, SONG_FILES), {
        schema: songInputSchema,
        s3,
        originField: "_file",
        ...(options.songFiles ? { files: options.songFiles } : {}),
      }),
      { name: "read song_data", required },
    );
    const events = p.read(
      jsonLines(joinUri(options.input, LOG_FILES), {
        schema: eventInputSchema,
        s3,
        ...(options.logFiles ? { files: options.logFiles } : {}),
      }),
      {
        name: "read log_data",
        required,
      },
    );

    // songs and artists: a song_id (an artist_id) loaded before keeps its row; new ones are added.
    const knownSongs = update ? state<LoadedSong>(STATE.songs) : undefined;
    // A daily load with no new song files (most days) adds no song and no artist: the songs it
    // knows are needed only to match plays, not to be told apart from new ones.
    const noNewSongs = update && options.songFileCount === 0;
    const newSongs = noNewSongs
      ? p.fromArray<SongInput>([], "no new song files")
      : knownSongs
        ? notIn(
            uniqueSongs(songRecords).keyBy((song) => song.song_id, "key new songs"),
            knownSongs.map(([songId]) => [songId, null] as [string, null], "key known songs"),
            "songs not loaded before",
          )
        : uniqueSongs(songRecords);
    const songRows = newSongs
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
      .apply(compacted("songs", songsSchema));
    // An artist's songs in one task: one file per partition folder, where each task would write
    // one into every folder it met (most folders hold a song or two, and readers open each file).
    // A daily load without new songs or a compaction of them (most days) has no row to route.
    const routedSongRows =
      noNewSongs && (options.compactFiles?.songs ?? []).length === 0
        ? songRows
        : songRows.repartitionBy((song) => song.artist_id, "songs by artist");
    routedSongRows.write(
      lake.parquet("songs", songsSchema, { ...parquet, partitionBy: ["year", "artist_id"] }),
    );
    const newSongState = newSongs.map(loadedSong, "song state");
    newSongState.write(lake.state(STATE.songs));
    const artists = artistsOf(newSongs);
    const newArtists = noNewSongs
      ? p.fromArray<ArtistRow>([], "no new artists")
      : knownSongs
        ? notIn(
            artists.keyBy((artist) => artist.artist_id, "key new artists"),
            knownSongs.map(([, artistId]) => [artistId, null] as [string, null], "key known artists"),
            "artists not loaded before",
          )
        : artists;
    // The dimension tables are small (a row per artist, per user): one file each (per load, for
    // artists), as readers expect of a small table, rather than a file per shuffle partition.
    newArtists
      .coalesce(1, "one file")
      .apply(compacted("artists", artistsSchema))
      .write(lake.parquet("artists", artistsSchema, parquet));

    // users: each user's latest play over every load, the table rebuilt whole (it is small).
    const { users: userPlays, plays } = splitPlays(events.filter(isPlay, "NextSong plays"));
    const latest = latestPlays(
      update ? flatten([userPlays, state<LoadedUser>(STATE.users)], "plays and known users") : userPlays,
    );
    latest
      .map(userRow, "user rows")
      .coalesce(1, "one file")
      .write(lake.parquet("users", usersSchema, { ...parquet, disposition: "replace" }));
    latest.coalesce(1, "one state file").write(lake.state(STATE.users, { disposition: "replace" }));

    // time and songplays: the plays of each millisecond with those loaded before, numbered after them.
    const playsKeyed = plays.keyBy((play) => play.ts, "key plays by ts");
    // A full load groups its plays alone: the group's one list, as the shuffle hands it over
    // (groupByKey would take each group apart into a new pair, a cost per play).
    const byTs: PCollection<[number, PlaysOfTs]> = update
      ? coGroupByKey<number, readonly [PCollection<[number, Play]>, PCollection<[number, LoadedPlay]>]>(
          [
            playsKeyed,
            loadedPlays(options.playDays).keyBy((play) => play[0], "key loaded plays by ts"),
          ] as const,
          "plays by ts",
        )
      : coGroupByKey<number, readonly [PCollection<[number, Play]>]>([playsKeyed] as const, "plays by ts");
    const numbered = numberPlays(byTs);
    /** The plays loaded before on the given days (all of them when undefined). */
    function loadedPlays(days: readonly string[] | undefined): PCollection<LoadedPlay> {
      if (days === undefined) return state<LoadedPlay>(STATE.plays);
      if (days.length === 0) return p.fromArray<LoadedPlay>([], "no new plays");
      const uri = `${lake.stateUri(STATE.plays)}/{${days.join(",")}}/*.jsonl`;
      return p.read(jsonLines<LoadedPlay>(uri, { s3, bookkeeping: true }), `read state ${STATE.plays}`);
    }
    numbered.time
      .apply(compacted("time", timeSchema))
      .write(lake.parquet("time", timeSchema, { ...parquet, partitionBy: ["year", "month"] }));
    // Kept by day: a daily load reads the days its plays fall on, not the whole history.
    numbered.loaded.write(
      lake.state<LoadedPlay>(STATE.plays, { partitionOf: (play) => dayPartition(play[0]) }),
    );
    songplaysOf(
      numbered.songplays,
      knownSongs ? flatten([knownSongs, newSongState], "songs to match") : newSongState,
    )
      .apply(compacted("songplays", songplaysSchema))
      .write(
        // Sorted by time within each file: readers filtering on start_time skip row groups by their
        // statistics. songplay_id is ts x 2048 + n, so its order is start_time's, as one number.
        lake.parquet("songplays", songplaysSchema, {
          ...parquet,
          partitionBy: ["year", "month"],
          sortBy: ["songplay_id"],
        }),
      );
    lake.stateRecords(STATE.loaded, options.loaded ?? [], options.appendLoaded ? "append" : "replace");
    return { lake };
  },
  // Read on the driver only: the sources cut the file lists into splits, and the commit writes
  // the record of loaded files. At 10M events they are 50 MB of JSON that each worker kept parsed.
  { driverOnlyOptions: ["songFiles", "logFiles", "loaded"] },
);
