/**
 * What the Sparkify lake keeps beside its tables between loads (under `_sluice/`, a folder
 * readers skip), so that a daily load merges into the tables without reading their history:
 * the input files loaded, each loaded play's identity and number, each song as matching needs
 * it, and each user's latest play. Written by every load, in the same commit as the tables.
 */
import { column, schema } from "../core/index.js";
import type { UserRow } from "./sparkify-schemas.js";

/** An input file already loaded: its path relative to the input, and what tells a changed file. */
export interface LoadedFile {
  readonly path: string;
  readonly size: number;
  readonly version: string | null;
  /** The run that loaded it. */
  readonly run: string;
}

/** A LoadedFile's members, checked as the record of loaded files is read back. */
export const loadedFileSchema = schema({
  path: column.utf8(),
  size: column.int64(),
  version: column.utf8().optional(),
  run: column.utf8(),
});

/** A loaded play: the identity that tells a re-delivered line, and its number within its millisecond. */
export type LoadedPlay = [
  ts: number,
  userId: string,
  sessionId: number | null,
  itemInSession: number | null,
  rank: number,
];

/** A loaded song, as keeping its row and matching plays to it need it. */
export type LoadedSong = [songId: string, artistId: string, matchKey: string | null, duration: number | null];

/** What ranks a user's latest play, and the row it gives. */
export interface UserPlay {
  readonly ts: number;
  readonly sessionId: number | null;
  readonly itemInSession: number | null;
  readonly firstName: UserRow["first_name"];
  readonly lastName: UserRow["last_name"];
  readonly gender: UserRow["gender"];
  readonly level: UserRow["level"];
}

/** A user's latest play over every load so far. */
export type LoadedUser = [userId: string, play: UserPlay];

/** The state tables, under `_sluice/`. */
export const STATE = {
  loaded: "loaded",
  plays: "plays",
  songs: "songs",
  users: "users",
} as const;
