/**
 * Generates Sparkify input in the real layout and schema: one JSON document per song under
 * `song_data/A/B/C/TR....json`, one JSON-lines file of events per day under `log_data/YYYY/MM/`.
 * Deterministic for a seed, streamed (events are written as they are made, a day at a time), and
 * realistic where it matters to the ETL: Zipf-like song popularity, interleaved sessions with
 * itemInSession counting up, about 80% NextSong pages, logged-out events with userId "", users who
 * change level, years of 0, null coordinates, empty locations, non-ASCII and double-encoded text,
 * quoted user agents with escaped slashes, registration written as a float, a few events that
 * share a ts, songs that appear in two files, and a chosen share of plays that match a song.
 */
import { createWriteStream, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { once } from "node:events";
import { childOf, parseLocation } from "../io/location.js";
import { completeUpload, putText, type S3Settings, StagedMultipartUpload } from "../io/s3.js";
import { makeFolders, makeFoldersSync } from "../io/folders.js";

export interface GeneratorOptions {
  readonly songs: number;
  readonly events: number;
  /** Local folder or `s3://bucket/prefix`. */
  readonly output: string;
  readonly seed?: number;
  /** First day of the logs, `YYYY-MM-DD` (UTC); default 2018-11-01. */
  readonly startDate?: string;
  /** Days of logs; default 30. */
  readonly days?: number;
  /** Share of NextSong plays whose title and artist match a generated song; default 0.25. */
  readonly matchShare?: number;
  /**
   * Log files in all (default: one per day, `YYYY-MM-DD-events.json`). Fewer makes large files
   * that hold several days; more cuts days into parts; both named after their first event's day.
   */
  readonly logFiles?: number;
  /**
   * Share of the events that fall on the days around month ends (the last two days of a month and
   * the first of the next), as traffic peaks there; default 0, every day alike.
   */
  readonly peakShare?: number;
  /** Share of events logged in the same millisecond as the event before; default 0.002. */
  readonly sharedTsShare?: number;
  /** Share of artist names (and, a little less often, titles) with non-ASCII text; default 0.1. */
  readonly unicodeShare?: number;
  /** Words in a title, at most (one to this many); default 3. Longer titles, longer strings. */
  readonly titleWords?: number;
  /** Songs per artist, on average; default 1.4. */
  readonly songsPerArtist?: number;
  /**
   * Share of artist ids holding characters a Hive partition path must escape (`/`, `=`, `%`, a
   * space, non-ASCII letters), as ids from other catalogues do; default 0, ids as `AR...` only.
   */
  readonly awkwardIdShare?: number;
  readonly s3?: S3Settings;
}

/** What the knobs of the generator are: every option that changes the shape of the input. */
export type InputShape = Pick<
  GeneratorOptions,
  | "startDate"
  | "days"
  | "matchShare"
  | "logFiles"
  | "peakShare"
  | "sharedTsShare"
  | "unicodeShare"
  | "titleWords"
  | "songsPerArtist"
  | "awkwardIdShare"
>;

/**
 * Named shapes of input, each changing the work where the default does not: what bench:etl
 * measures the ETL across. `default` is the generator's defaults.
 */
export const INPUT_SHAPES: Readonly<Record<string, InputShape>> = {
  default: {},
  // Few large files over two months, traffic peaking at month and year ends, half the plays
  // matching a song, unicode-heavy names, artist ids that partition paths must escape.
  "few-large": {
    startDate: "2018-11-15",
    days: 60,
    logFiles: 6,
    peakShare: 0.7,
    matchShare: 0.5,
    unicodeShare: 0.6,
    awkwardIdShare: 0.3,
  },
  // An hourly file for each of 30 days.
  "many-small": { logFiles: 720 },
  // Long titles, most of them with non-ASCII text, an artist per song.
  "long-text": { titleWords: 12, unicodeShare: 0.8, songsPerArtist: 1 },
  // Bursty logs (a third of events share their millisecond), most plays matching a song, few
  // artists with many songs each.
  "dense-match": { sharedTsShare: 0.33, matchShare: 0.9, songsPerArtist: 8 },
};

export interface GeneratorSummary {
  readonly songFiles: number;
  readonly logFiles: number;
  readonly events: number;
  readonly bytes: number;
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function randomGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const WORDS = [
  "love",
  "night",
  "fire",
  "heart",
  "dream",
  "road",
  "rain",
  "blue",
  "gold",
  "city",
  "river",
  "light",
  "home",
  "wild",
  "song",
  "dance",
  "storm",
  "moon",
  "sun",
  "sky",
  "soul",
  "time",
  "ghost",
  "echo",
  "world",
  "paper",
  "glass",
  "summer",
];
const ACCENTED = [
  "Café",
  "Señor",
  "Größe",
  "Déjà",
  "Niño",
  "Ångström",
  "Björk",
  "Beyoncé",
  "Sigur Rós",
  "Mötley",
  "東京",
  "Zoë",
];
const FIRST_NAMES = [
  "Walter",
  "Kaylee",
  "Ryan",
  "Sylvie",
  "Jacob",
  "Lily",
  "Chloe",
  "Aleena",
  "Tegan",
  "Mohammad",
  "Jayden",
  "Zoé",
];
const LAST_NAMES = [
  "Frye",
  "Summers",
  "Smith",
  "Cruz",
  "Klein",
  "Koch",
  "Cuevas",
  "Kirby",
  "Levine",
  "Rodriguez",
  "Fox",
  "Núñez",
];
const PLACES = [
  "San Francisco-Oakland-Hayward, CA",
  "Phoenix-Mesa-Scottsdale, AZ",
  "Atlanta-Sandy Springs-Roswell, GA",
  "New York-Newark-Jersey City, NY-NJ-PA",
  "Chicago-Naperville-Elgin, IL-IN-WI",
  "Lansing-East Lansing, MI",
];
const AGENTS = [
  '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
  '"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0"',
  "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; WOW64; Trident/6.0)",
  '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/36.0.1985.125 Chrome/36.0.1985.125 Safari/537.36"',
];
const OTHER_PAGES: [string, number][] = [
  ["Home", 806],
  ["Login", 92],
  ["Logout", 90],
  ["Downgrade", 60],
  ["Settings", 56],
  ["Help", 47],
  ["About", 36],
  ["Upgrade", 21],
  ["Save Settings", 10],
  ["Error", 9],
  ["Submit Upgrade", 8],
  ["Submit Downgrade", 1],
];
const LOGGED_OUT_PAGES = ["Login", "Home", "About", "Help"];
/** Parts of awkward artist ids: characters a partition path escapes, and one it need not. */
const AWKWARD_ID_PARTS = ["a/b", "50%", "x=y", "AC:DC", "rock & roll", "#1", "?", "déjà"];

/** Text as the logs store it when it went through a wrong decoding twice: "Beyoncé" -> "BeyoncÃ\u0083Â©". */
function doubleEncode(text: string): string {
  const once = Buffer.from(Buffer.from(text, "utf8").toString("latin1"), "utf8").toString("latin1");
  return Buffer.from(once, "utf8").toString("latin1");
}

interface Song {
  readonly num_songs: number;
  readonly artist_id: string;
  readonly artist_latitude: number | null;
  readonly artist_longitude: number | null;
  readonly artist_location: string;
  readonly artist_name: string;
  readonly song_id: string;
  readonly title: string;
  readonly duration: number;
  readonly year: number;
}

interface User {
  readonly id: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly gender: string;
  readonly location: string;
  readonly userAgent: string;
  readonly registration: number;
  level: "free" | "paid";
}

/** A value as the logs write it: JSON with every slash escaped. */
function logJson(value: string | number | null): string {
  return JSON.stringify(value).replaceAll("/", "\\/");
}

/** The parts of a logged-in event's line that only depend on its user, built once per user. */
interface FixedFragments {
  readonly afterArtist: string;
  readonly afterItem: string;
  readonly afterLevel: string;
  readonly afterPage: string;
  readonly end: string;
}

const fragmentsOf = new WeakMap<User, FixedFragments>();

/**
 * Lines are built from these fragments and the event's own values, in the logs' field order, the
 * registration written as a float: the same bytes as `JSON.stringify` of the whole event with the
 * slashes escaped, without serializing and scanning the user's fields again for every event.
 */
function fixedFragments(user: User): FixedFragments {
  let fragments = fragmentsOf.get(user);
  if (!fragments) {
    fragments = {
      afterArtist: `,"auth":"Logged In","firstName":${logJson(user.firstName)},"gender":${logJson(user.gender)},"itemInSession":`,
      afterItem: `,"lastName":${logJson(user.lastName)},"length":`,
      afterLevel: `,"location":${logJson(user.location)},"method":"`,
      afterPage: `,"registration":${user.registration}.0,"sessionId":`,
      end: `,"userAgent":${logJson(user.userAgent)},"userId":${logJson(user.id)}}`,
    };
    fragmentsOf.set(user, fragments);
  }
  return fragments;
}

/** Writes files to a local folder or an S3 prefix, streaming. */
interface FileWriter {
  write(chunk: string): Promise<void>;
  close(): Promise<void>;
}

async function openFile(output: string, relativePath: string, s3: S3Settings): Promise<FileWriter> {
  const location = childOf(parseLocation(output), relativePath);
  if (location.kind === "local") {
    await makeFolders(dirname(location.path));
    // A deep buffer lets the file system write one chunk while the next is generated.
    const stream = createWriteStream(location.path, { highWaterMark: 8 * 1024 * 1024 });
    return {
      async write(chunk) {
        if (!stream.write(chunk)) await once(stream, "drain");
      },
      async close() {
        stream.end();
        await once(stream, "finish");
      },
    };
  }
  const upload = new StagedMultipartUpload(s3, location.bucket, location.key);
  return {
    write: (chunk) => upload.write(Buffer.from(chunk)),
    async close() {
      await completeUpload(s3, location.bucket, await upload.stage());
    },
  };
}

/** At most `limit` writes in flight; the first failure is thrown by the next `add` or by `drain`. */
class WriteQueue {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;

  constructor(private readonly limit: number) {}

  async add(write: () => Promise<void>): Promise<void> {
    if (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
    const running: Promise<void> = write()
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * Writes one small file. Locally in one blocking call: a round trip through the thread pool per
 * file is what bounded the generator (it sat idle half the time). On S3, through the queue: up to
 * 16 PUTs at once.
 */
async function writeSmallFile(
  output: string,
  relativePath: string,
  text: string,
  s3: S3Settings,
  queue: WriteQueue,
  /** Folders this run has made, so that each of thousands of song files does not ask again. */
  madeFolders: Set<string>,
): Promise<void> {
  const location = childOf(parseLocation(output), relativePath);
  if (location.kind === "s3") {
    await queue.add(() => putText(s3, location.bucket, location.key, text));
    return;
  }
  const folder = dirname(location.path);
  if (!madeFolders.has(folder)) {
    makeFoldersSync(folder);
    madeFolders.add(folder);
  }
  writeFileSync(location.path, text);
}

export async function generateSparkifyInput(options: GeneratorOptions): Promise<GeneratorSummary> {
  const random = randomGenerator(options.seed ?? 42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const code = (length: number, alphabet = ALPHANUMERIC) => {
    let text = "";
    for (let index = 0; index < length; index++) text += alphabet[Math.floor(random() * alphabet.length)];
    return text;
  };
  const s3 = options.s3 ?? {};
  let bytes = 0;

  const unicodeShare = options.unicodeShare ?? 0.1;
  const titleWords = options.titleWords ?? 3;
  const awkwardIdShare = options.awkwardIdShare ?? 0;
  // Artists: about one for every 1.4 songs (by default), some with several songs.
  const artistCount = Math.max(1, Math.round(options.songs / (options.songsPerArtist ?? 1.4)));
  const artists = Array.from({ length: artistCount }, (_, index) => {
    const hasCoordinates = random() < 0.45;
    const name =
      random() < unicodeShare
        ? `${pick(ACCENTED)} ${pick(WORDS)}`
        : random() < 0.05
          ? `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)} (Featuring ${pick(FIRST_NAMES)} & ${pick(LAST_NAMES)})`
          : `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)} ${index}`;
    // Drawn only when asked for, so that the default input stays the same for a seed.
    const awkward = awkwardIdShare > 0 && random() < awkwardIdShare;
    return {
      artist_id: awkward
        ? `ar ${pick(AWKWARD_ID_PARTS)}${code(8)}/${pick(ACCENTED)}=${index}`
        : `AR${code(16)}`,
      artist_latitude: hasCoordinates ? Math.round((random() * 140 - 70) * 1e5) / 1e5 : null,
      artist_longitude: hasCoordinates ? Math.round((random() * 340 - 170) * 1e5) / 1e5 : null,
      artist_location: random() < 0.4 ? "" : pick(PLACES),
      artist_name: name,
    };
  });

  const songs: Song[] = [];
  let songFiles = 0;
  const songWrites = new WriteQueue(16);
  const madeFolders = new Set<string>();
  for (let index = 0; index < options.songs; index++) {
    const artist = index < artistCount ? artists[index]! : pick(artists);
    const words = 1 + Math.floor(random() * titleWords);
    let title = Array.from({ length: words }, () => pick(WORDS)).join(" ");
    title = title[0]!.toUpperCase() + title.slice(1);
    if (random() < unicodeShare * 0.8) title = `${pick(ACCENTED)} ${title}`;
    if (random() < 0.05) title += " (Album Version)";
    const duration = Math.round((30 + random() * 570) * 1e5) / 1e5;
    const year = random() < 0.6 ? 0 : 1950 + Math.floor(random() * 60);
    // Re-releases: the same title by the same artist under another song_id and duration, so that
    // a play matches several songs and the nearest duration decides.
    const original = songs.length > 0 && random() < 0.03 ? pick(songs) : undefined;
    const song: Song = original
      ? { ...original, song_id: `SO${code(16)}`, duration, year }
      : { num_songs: 1, ...artist, song_id: `SO${code(16)}`, title: `${title} ${index}`, duration, year };
    songs.push(song);
    // A few songs are filed twice under different track ids (the ETL keeps the first path's).
    const copies = random() < 0.01 ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const track = `TR${code(3, LETTERS)}${code(13)}`;
      const record = copy === 0 ? song : { ...song, duration: Math.round(song.duration * 1e5 + 100) / 1e5 };
      const text = JSON.stringify(record);
      bytes += Buffer.byteLength(text);
      await writeSmallFile(
        options.output,
        `song_data/${track[2]}/${track[3]}/${track[4]}/${track}.json`,
        text,
        s3,
        songWrites,
        madeFolders,
      );
      songFiles++;
    }
  }
  await songWrites.drain();

  // Zipf-like popularity over songs: the k-th most popular is played about 1/k^1.1 as often.
  const cumulative = new Float64Array(Math.max(1, songs.length));
  let total = 0;
  for (let rank = 0; rank < songs.length; rank++) {
    total += 1 / (rank + 1) ** 1.1;
    cumulative[rank] = total;
  }
  const popularSong = (): Song => {
    const target = random() * total;
    let low = 0;
    let high = songs.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return songs[low]!;
  };

  const userCount = Math.max(8, Math.round(options.events / 85));
  const users: User[] = Array.from({ length: userCount }, (_, index) => ({
    id: String(index + 2),
    firstName: pick(FIRST_NAMES),
    lastName: pick(LAST_NAMES),
    gender: random() < 0.5 ? "F" : "M",
    location: pick(PLACES),
    userAgent: pick(AGENTS),
    registration: 1_540_000_000_796 + Math.floor(random() * 5_000_000) * 1000,
    level: random() < 0.25 ? "paid" : "free",
  }));

  const days = options.days ?? 30;
  const start = Date.parse(`${options.startDate ?? "2018-11-01"}T00:00:00Z`);
  if (Number.isNaN(start)) throw new Error(`--start-date must be YYYY-MM-DD, got ${options.startDate}`);
  const matchShare = options.matchShare ?? 0.25;
  const otherWeight = OTHER_PAGES.reduce((sum, [, weight]) => sum + weight, 0);
  const otherPage = () => {
    let target = random() * otherWeight;
    for (const [page, weight] of OTHER_PAGES) {
      target -= weight;
      if (target < 0) return page;
    }
    return "Home";
  };

  interface Session {
    readonly id: number;
    readonly user: User | undefined;
    item: number;
    remaining: number;
  }
  let nextSessionId = 3;
  const newSession = (): Session => ({
    id: nextSessionId++,
    user: random() < 0.035 ? undefined : pick(users),
    item: 0,
    remaining: 1 + Math.floor(random() * 60),
  });

  const sharedTsShare = options.sharedTsShare ?? 0.002;
  const eventsPerDay = eventsByDay(options.events, days, start, options.peakShare ?? 0);
  // The event (counted over all days) each log file starts at: one file a day by default.
  const fileCount = options.logFiles ?? days;
  const fileStarts =
    options.logFiles === undefined
      ? undefined
      : Array.from({ length: fileCount }, (_, index) => Math.floor((options.events * index) / fileCount));
  let written = 0;
  let logFiles = 0;
  let file: FileWriter | undefined;
  let nextFile = 0;
  let buffer = "";
  let atFileStart = true;
  let lastTs = 0;
  const flush = async () => {
    bytes += Buffer.byteLength(buffer);
    await file!.write(buffer);
    buffer = "";
  };
  /** Opens the next log file: the day's (one a day), or one named after its first event's day. */
  const openLogFile = async (dayStart: number, firstTs: number | undefined) => {
    if (file) {
      await flush();
      await file.close();
    }
    const date = new Date(firstTs ?? dayStart).toISOString().slice(0, 10);
    // Numbered over the whole run: a day's last events may fall after midnight, in the next day.
    const name =
      firstTs === undefined
        ? `${date}-events.json`
        : `${date}-${String(logFiles).padStart(4, "0")}-events.json`;
    file = await openFile(options.output, `log_data/${date.slice(0, 4)}/${date.slice(5, 7)}/${name}`, s3);
    logFiles++;
    atFileStart = true;
  };
  for (let day = 0; day < days; day++) {
    const eventsToday = eventsPerDay[day]!;
    if (eventsToday === 0) continue;
    const dayStart = start + day * 86_400_000;
    if (!fileStarts) await openLogFile(dayStart, undefined);
    const active = Array.from({ length: 12 }, newSession);
    const step = 86_000_000 / eventsToday;
    let ts = dayStart + 796 + Math.floor(random() * 1000) * 1000;
    // A day's last events may fall after midnight: where a file holds several days, the next day
    // starts after them, so that each file is in time order.
    if (fileStarts) ts = Math.max(ts, lastTs);
    for (let index = 0; index < eventsToday; index++) {
      if (fileStarts && fileStarts[nextFile] === written + index) {
        while (fileStarts[nextFile] === written + index) nextFile++;
        await openLogFile(dayStart, ts);
      }
      const slot = Math.floor(random() * active.length);
      const session = active[slot]!;
      const user = session.user;
      let line: string;
      if (!user) {
        line = JSON.stringify({
          artist: null,
          auth: "Logged Out",
          firstName: null,
          gender: null,
          itemInSession: session.item,
          lastName: null,
          length: null,
          level: "free",
          location: null,
          method: "GET",
          page: pick(LOGGED_OUT_PAGES),
          registration: null,
          sessionId: session.id,
          song: null,
          status: 200,
          ts,
          userAgent: null,
          userId: "",
        });
      } else {
        const isPlay = random() < 0.82;
        let page = isPlay ? "NextSong" : otherPage();
        if (page === "Submit Upgrade" && user.level === "free") user.level = "paid";
        else if (page === "Submit Downgrade" && user.level === "paid") user.level = "free";
        else if (page === "Submit Upgrade" || page === "Submit Downgrade") page = "Settings";
        let artist: string | null = null;
        let song: string | null = null;
        let length: number | null = null;
        if (page === "NextSong") {
          const played = popularSong();
          if (random() < matchShare) {
            artist = played.artist_name;
            song = played.title;
            length = played.duration;
          } else {
            // Plays of songs the song data does not hold, some with the logs' double-encoded text.
            artist =
              random() < 0.05
                ? doubleEncode(`${pick(ACCENTED)} ${pick(LAST_NAMES)}`)
                : `${pick(LAST_NAMES)} ${pick(WORDS)}`;
            song = `${pick(WORDS)} ${pick(WORDS)}`;
            length = Math.round((60 + random() * 400) * 1e5) / 1e5;
          }
        }
        const fixed = fixedFragments(user);
        const status = page === "Error" ? 404 : page === "Logout" ? 307 : 200;
        line = `{"artist":${logJson(artist)}${fixed.afterArtist}${session.item}${fixed.afterItem}${JSON.stringify(length)},"level":${logJson(user.level)}${fixed.afterLevel}${page === "NextSong" ? "PUT" : "GET"}","page":${logJson(page)}${fixed.afterPage}${session.id},"song":${logJson(song)},"status":${status},"ts":${ts}${fixed.end}`;
      }
      buffer += atFileStart ? line : `\n${line}`;
      atFileStart = false;
      session.item++;
      if (--session.remaining <= 0) active[slot] = newSession();
      // Now and then two events share a millisecond, as in the real logs.
      lastTs = ts;
      if (random() >= sharedTsShare) ts += Math.max(1, Math.round(step * (0.5 + random())));
      if (buffer.length > 1 << 20) await flush();
    }
    written += eventsToday;
  }
  if (file) {
    await flush();
    await (file as FileWriter).close();
  }
  return { songFiles, logFiles, events: written, bytes };
}

/**
 * Events per day: an even split, or with `peakShare` of them on the days around month ends (the
 * last two of a month, the first of the next) when the span holds any.
 */
function eventsByDay(events: number, days: number, start: number, peakShare: number): number[] {
  const isPeak = (day: number) => {
    const date = new Date(start + day * 86_400_000);
    const next = new Date(start + (day + 2) * 86_400_000);
    return date.getUTCDate() === 1 || next.getUTCMonth() !== date.getUTCMonth();
  };
  if (peakShare === 0)
    return Array.from(
      { length: days },
      (_, day) => Math.floor((events * (day + 1)) / days) - Math.floor((events * day) / days),
    );
  const peaks = Array.from({ length: days }, (_, day) => isPeak(day));
  const peakDays = peaks.filter(Boolean).length;
  const weights = peaks.map((peak) =>
    peakDays === 0 || peakDays === days
      ? 1 / days
      : peak
        ? peakShare / peakDays
        : (1 - peakShare) / (days - peakDays),
  );
  // Cut at the running sum of the weights, the last cut at the total: every event on some day.
  let cumulative = 0;
  let before = 0;
  return weights.map((weight, day) => {
    cumulative += weight;
    const through = day === days - 1 ? events : Math.min(events, Math.floor(events * cumulative));
    const today = through - before;
    before = through;
    return today;
  });
}
