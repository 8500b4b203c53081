/** The Sparkify table rules that are plain functions of records (the analytics team's reading). */
import { type Combiner, compareValues } from "../core/index.js";
import type { EventInput, SongInput, TimeRow } from "./sparkify-schemas.js";

const DAY_MS = 86_400_000;

type DayParts = Omit<TimeRow, "start_time" | "hour">;

/** The calendar parts of a UTC day (days since the epoch): ISO week and weekday, calendar year. */
function dayParts(dayNumber: number): DayParts {
  const date = new Date(dayNumber * DAY_MS);
  const weekday = ((date.getUTCDay() + 6) % 7) + 1;
  // The ISO week is the week of its Thursday; `year` stays the calendar year.
  const thursday = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 4 - weekday);
  const thursdayYearStart = Date.UTC(new Date(thursday).getUTCFullYear(), 0, 1);
  return {
    day: date.getUTCDate(),
    week: Math.floor((thursday - thursdayYearStart) / DAY_MS / 7) + 1,
    month: date.getUTCMonth() + 1,
    year: date.getUTCFullYear(),
    weekday,
  };
}

/** Days already taken apart: a log spans few days and holds millions of instants. */
const dayCache = new Map<number, DayParts>();

/** Calendar parts of an instant, in UTC; ISO week and ISO weekday (Monday 1 ... Sunday 7). */
export function timeParts(ts: number): TimeRow {
  const dayNumber = Math.floor(ts / DAY_MS);
  let parts = dayCache.get(dayNumber);
  if (!parts) {
    if (dayCache.size >= 100_000) dayCache.clear();
    parts = dayParts(dayNumber);
    dayCache.set(dayNumber, parts);
  }
  // Members written out rather than spread: one row per millisecond played, and a spread copies
  // through a generic path where this is a plain object literal.
  return {
    start_time: ts,
    hour: Math.floor((ts - dayNumber * DAY_MS) / 3_600_000),
    day: parts.day,
    week: parts.week,
    month: parts.month,
    year: parts.year,
    weekday: parts.weekday,
  };
}

/** The logs wrap user agents in a pair of `"`; the table holds the agent without them. */
export function unquoteUserAgent(userAgent: string | null): string | null {
  if (userAgent !== null && userAgent.length >= 2 && userAgent.startsWith('"') && userAgent.endsWith('"')) {
    return userAgent.slice(1, -1);
  }
  return userAgent;
}

/** Events that make songplays, users and time: NextSong pages of a known user. */
export function isPlay(event: EventInput): boolean {
  return event.page === "NextSong" && event.userId !== null && event.userId !== "";
}

type RankedPlay = Pick<EventInput, "ts" | "sessionId" | "itemInSession">;

/**
 * Whether `candidate` is a user's later play than `incumbent`: by ts, then the larger sessionId,
 * then the larger itemInSession, and plays alike in all three by their whole record, so that
 * the latest never depends on the order plays arrive in. `maxBy` of the three as an array
 * decides the same, but makes two arrays a comparison, and a combine compares every play.
 */
export function isLaterPlay<Play extends RankedPlay>(candidate: Play, incumbent: Play): boolean {
  const order =
    compareValues(candidate.ts, incumbent.ts) ||
    compareValues(candidate.sessionId, incumbent.sessionId) ||
    compareValues(candidate.itemInSession, incumbent.itemInSession) ||
    compareValues(candidate, incumbent);
  return order > 0;
}

/** Each user's latest play (see `isLaterPlay`): the combine of the users table. */
export function latestPlay<Play extends RankedPlay>(): Combiner<Play, Play | null, Play> {
  return {
    name: "latest play",
    create: () => null,
    add: (latest, play) => (latest === null || isLaterPlay(play, latest) ? play : latest),
    merge: (left, right) =>
      left === null ? right : right === null ? left : isLaterPlay(right, left) ? right : left,
    extract: (latest) => latest as Play,
  };
}

/**
 * What songplays and time need of a play: ten of the event's eighteen fields, the user agent
 * already without its quotes. Projecting before the shuffle halves the bytes it moves, and a
 * string without quotes needs no escaping on its way through it.
 */
export interface Play {
  readonly ts: number;
  readonly userId: string;
  readonly sessionId: number | null;
  readonly itemInSession: number | null;
  readonly level: string | null;
  readonly song: string | null;
  readonly artist: string | null;
  readonly length: number | null;
  readonly location: string | null;
  readonly userAgent: string | null;
}

/**
 * The play a NextSong event makes. Its strings are taken from pools: a log repeats a few hundred
 * user agents and locations and a few thousand songs and artists, and `JSON.parse` makes a new
 * string of each for every line. A play waits in its task's shuffle batch until the task ends,
 * long enough for the young generation to copy it twice and promote it, strings and all; with one
 * string per distinct value, the parsed copies die young with their events (bench/README.md,
 * "Plays that share their strings").
 */
export function toPlay(event: EventInput): Play {
  return {
    ts: event.ts,
    userId: event.userId as string,
    sessionId: event.sessionId,
    itemInSession: event.itemInSession,
    level: event.level,
    song: songs.of(event.song),
    artist: artists.of(event.artist),
    length: event.length,
    location: locations.of(event.location),
    userAgent: userAgents.of(event.userAgent),
  };
}

/**
 * One string for each distinct value seen (after `normalize`), up to `limit` values: past it the
 * pool starts over, so that a log of ever-new values costs a lookup per value and bounded memory.
 */
export class StringPool {
  private readonly strings = new Map<string, string>();

  constructor(
    private readonly limit: number,
    private readonly normalize: (value: string) => string = (value) => value,
  ) {}

  of(value: string | null): string | null {
    if (value === null) return null;
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    if (this.strings.size >= this.limit) this.strings.clear();
    const pooled = this.normalize(value);
    this.strings.set(value, pooled);
    return pooled;
  }
}

const POOLED_VALUES = 20_000;
const songs = new StringPool(POOLED_VALUES);
const artists = new StringPool(POOLED_VALUES);
const locations = new StringPool(POOLED_VALUES);
const userAgents = new StringPool(POOLED_VALUES, (agent) => unquoteUserAgent(agent) as string);

/** The order that numbers plays sharing a millisecond: userId, sessionId, itemInSession, then the whole play. */
export function comparePlaysWithinTs(left: Play, right: Play): number {
  return (
    compareValues(left.userId, right.userId) ||
    compareValues(left.sessionId, right.sessionId) ||
    compareValues(left.itemInSession, right.itemInSession) ||
    compareValues(left, right)
  );
}

/**
 * songplay_id: `ts * 2048 + n`, where n numbers the plays of that millisecond in the order above.
 * Unique, ordered as (ts, userId, sessionId, itemInSession), the same on every run and thread
 * count (it depends on the events alone), and a safe integer until the year 2109.
 */
export const PLAYS_PER_MILLISECOND = 2048;

export function songplayId(ts: number, rankWithinTs: number): number {
  if (rankWithinTs >= PLAYS_PER_MILLISECOND) {
    throw new Error(
      `more than ${PLAYS_PER_MILLISECOND} plays share ts ${ts}; songplay_id cannot number them`,
    );
  }
  return ts * PLAYS_PER_MILLISECOND + rankWithinTs;
}

/**
 * The join key of a play and of a song: title and artist name, exactly as written. The title's
 * length marks where it ends, so that no two pairs share a key. A play or song without a title or
 * an artist name has no key (null) and matches nothing, as SQL's `=` never holds for null.
 * (JSON text of the pair would do too, at twice the cost, for every play.)
 */
export function matchKey(title: string | null, artistName: string | null): string | null {
  return title === null || artistName === null ? null : `${title.length}:${title}:${artistName}`;
}

/** The title and artist name a match key was made of: `matchKey`'s inverse. */
export function matchKeyParts(key: string): [title: string, artistName: string] {
  const lengthEnd = key.indexOf(":");
  const titleStart = lengthEnd + 1;
  const titleEnd = titleStart + Number(key.slice(0, lengthEnd));
  return [key.slice(titleStart, titleEnd), key.slice(titleEnd + 1)];
}

/**
 * Of the songs matching a play, the one whose duration is nearest its length, then the smallest
 * song_id. `artistName`: only candidates of that artist match (the others share the play's title).
 */
export function bestMatch<Song extends Pick<SongInput, "song_id" | "artist_name" | "duration">>(
  length: number | null,
  candidates: readonly Song[],
  artistName: string,
): Song | undefined {
  let best: Song | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const song of candidates) {
    if (song.artist_name !== artistName) continue;
    const distance =
      length === null || song.duration === null ? Number.POSITIVE_INFINITY : Math.abs(song.duration - length);
    if (!best || distance < bestDistance || (distance === bestDistance && song.song_id < best.song_id)) {
      best = song;
      bestDistance = distance;
    }
  }
  return best;
}
