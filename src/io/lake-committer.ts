import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type JobCommitter, type JsonValue, SluiceError } from "../core/index.js";
import { childOf, formatLocation, type Location } from "./location.js";
import type { WrittenFile } from "./parquet-sink.js";
import {
  abortUpload,
  completeUpload,
  deleteKeys,
  getText,
  listObjects,
  putText,
  type S3Settings,
  type StagedUpload,
} from "./s3.js";
import { TEMPORARY_FOLDER } from "./staging.js";
import { makeFolders, writeFailure } from "./write-errors.js";

/** What to do when the output's tables already exist. */
export type WriteMode = "overwrite" | "error-if-exists";

/** The commit's plan, written before its first step so that an interrupted commit can be finished. */
interface Journal {
  readonly runId: string;
  readonly tables: string[];
  /** S3 only: the uploads to complete and the previous objects to delete. */
  readonly uploads?: StagedUpload[];
  readonly deleteKeys?: string[];
}

/** Per table, what the last commit made visible. */
export interface CommittedTable {
  readonly rows: number;
  readonly files: number;
  readonly partitions: number;
  readonly bytes: number;
}

export const JOURNAL_NAME = "_journal.json";
export const SUCCESS_NAME = "_SUCCESS";

/**
 * A test hook: called at each step of a commit (`journal-written`, `table-moved-in:<name>`,
 * `upload-completed:<n>`, ...), so
 * that a test can stop the process there and check that the next run finishes the commit.
 */
export type CommitStepHook = (step: string) => void;

function stepHookFromEnvironment(): CommitStepHook | undefined {
  const stopAt = process.env.SLUICE_TEST_KILL_AT_COMMIT_STEP;
  if (!stopAt) return undefined;
  return (step) => {
    if (step === stopAt) process.kill(process.pid, "SIGKILL");
  };
}

/**
 * The commit protocol of a lake (an output folder or S3 prefix holding several tables).
 *
 * Tasks stage their files outside the table folders. Nothing in a table folder changes until every
 * task has succeeded; then a journal listing the commit's steps is written, the steps are taken
 * (local: rename each staged table folder into place and the old one away; S3: complete the staged
 * multipart uploads, delete the previous objects), `_SUCCESS` goes into each table folder last, and
 * the journal is removed. Every step can be taken twice, so the next run, which reads any journal
 * before anything else, finishes an interrupted commit.
 */
export class LakeCommitter implements JobCommitter {
  readonly id: string;
  readonly tables = new Set<string>();
  /** Per table, how to write a file that holds no rows, for tables that must exist even when empty. */
  private readonly emptyFileWriters = new Map<string, (runId: string) => Promise<WrittenFile>>();
  committed = new Map<string, CommittedTable>();
  private readonly hook: CommitStepHook | undefined;

  constructor(
    readonly root: Location,
    readonly mode: WriteMode,
    readonly s3: S3Settings,
    hook?: CommitStepHook,
  ) {
    this.id = `lake:${formatLocation(root)}`;
    this.hook = hook ?? stepHookFromEnvironment();
  }

  register(table: string, writeEmptyFile?: (runId: string) => Promise<WrittenFile>): void {
    if (table.includes("/") || table === TEMPORARY_FOLDER || table === "") {
      throw new Error(`'${table}' cannot name a table`);
    }
    this.tables.add(table);
    if (writeEmptyFile) this.emptyFileWriters.set(table, writeEmptyFile);
  }

  private step(name: string): void {
    this.hook?.(name);
  }

  private temporary(runId?: string): Location {
    return childOf(this.root, runId ? `${TEMPORARY_FOLDER}/${runId}` : TEMPORARY_FOLDER);
  }

  async setup(runId: string): Promise<void> {
    await this.recover();
    if (this.mode === "error-if-exists") {
      // Data tables first, bookkeeping ones (`_rejected`) last: the message names what matters.
      const tables = [...this.tables].sort(
        (a, b) => Number(a.startsWith("_")) - Number(b.startsWith("_")) || (a < b ? -1 : 1),
      );
      for (const table of tables) {
        if (await this.tableExists(table)) {
          throw new SluiceError(
            `the output table '${table}' already exists at ${formatLocation(childOf(this.root, table))}; choose another output or use --mode overwrite`,
          );
        }
      }
    }
    if (this.root.kind === "local") {
      const path = (this.temporary(runId) as { path: string }).path;
      try {
        await makeFolders(path);
      } catch (error) {
        throw writeFailure(this.root.path, error);
      }
    }
  }

  private async tableExists(table: string): Promise<boolean> {
    const location = childOf(this.root, table);
    if (location.kind === "local") {
      try {
        return (await readdir(location.path)).length > 0;
      } catch {
        return false;
      }
    }
    return (await listObjects(this.s3, location.bucket, `${location.key}/`)).length > 0;
  }

  /** Finishes any commit a previous run left half done, and removes what killed runs staged. */
  async recover(): Promise<void> {
    if (this.root.kind === "local") {
      const temporary = (this.temporary() as { path: string }).path;
      let runs: string[] = [];
      try {
        runs = (await readdir(temporary)).sort();
      } catch {
        return;
      }
      for (const run of runs) {
        const journalText = await readFile(join(temporary, run, JOURNAL_NAME), "utf8").catch(() => undefined);
        if (journalText) await this.rollForwardLocal(JSON.parse(journalText) as Journal);
        await rm(join(temporary, run), { recursive: true, force: true });
      }
      await rm(temporary, { recursive: true, force: true });
      return;
    }
    const temporary = this.temporary() as { bucket: string; key: string };
    const leftovers = await listObjects(this.s3, temporary.bucket, `${temporary.key}/`);
    for (const object of leftovers.filter((entry) => entry.key.endsWith(`/${JOURNAL_NAME}`))) {
      const text = await getText(this.s3, temporary.bucket, object.key);
      if (text) await this.rollForwardS3(JSON.parse(text) as Journal, object.key);
    }
  }

  async commit(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<void> {
    const files = [...messages.values()].flat(2) as unknown as WrittenFile[];
    const tables = [...this.tables].sort();
    for (const table of tables) {
      const writeEmptyFile = this.emptyFileWriters.get(table);
      if (writeEmptyFile && !files.some((file) => file.table === table))
        files.push(await writeEmptyFile(runId));
    }
    this.committed = summarize(tables, files);
    if (this.root.kind === "local") {
      const temporary = (this.temporary(runId) as { path: string }).path;
      // A table with no rows is still replaced: by an empty folder with its _SUCCESS.
      const journal: Journal = { runId, tables };
      try {
        for (const table of tables) await makeFolders(join(temporary, table));
        await writeFileAtomically(join(temporary, JOURNAL_NAME), JSON.stringify(journal));
      } catch (error) {
        throw writeFailure(temporary, error);
      }
      this.step("journal-written");
      await this.rollForwardLocal(journal);
      return;
    }
    const uploads = files.flatMap((file) => (file.staged.kind === "s3" ? [file.staged.upload] : []));
    const newKeys = new Set(uploads.map((upload) => upload.key));
    const previous: string[] = [];
    for (const table of tables) {
      const location = childOf(this.root, table) as { bucket: string; key: string };
      for (const object of await listObjects(this.s3, location.bucket, `${location.key}/`)) {
        if (!newKeys.has(object.key)) previous.push(object.key);
      }
    }
    const journal: Journal = { runId, tables, uploads, deleteKeys: previous };
    const journalKey = (childOf(this.temporary(runId), JOURNAL_NAME) as { key: string }).key;
    await putText(this.s3, this.root.bucket, journalKey, JSON.stringify(journal));
    this.step("journal-written");
    await this.rollForwardS3(journal, journalKey);
  }

  private async rollForwardLocal(journal: Journal): Promise<void> {
    const temporary = (this.temporary(journal.runId) as { path: string }).path;
    const root = (this.root as { path: string }).path;
    for (const table of journal.tables) {
      const staged = join(temporary, table);
      const final = join(root, table);
      const old = join(temporary, "_old", table);
      if (!(await exists(staged))) continue; // already moved in by an earlier attempt
      if (await exists(final)) {
        await mkdir(dirname(old), { recursive: true });
        await rename(final, old);
        this.step(`table-moved-away:${table}`);
      }
      await rename(staged, final);
      this.step(`table-moved-in:${table}`);
    }
    for (const table of journal.tables) await writeFile(join(root, table, SUCCESS_NAME), "");
    this.step("success-written");
    await rm(temporary, { recursive: true, force: true });
    await removeIfEmpty(join(root, TEMPORARY_FOLDER));
  }

  private async rollForwardS3(journal: Journal, journalKey: string): Promise<void> {
    const bucket = (this.root as { bucket: string }).bucket;
    for (const [index, upload] of (journal.uploads ?? []).entries()) {
      await completeUpload(this.s3, bucket, upload);
      this.step(`upload-completed:${index + 1}`);
    }
    this.step("uploads-completed");
    const failed = await deleteKeys(this.s3, bucket, journal.deleteKeys ?? []);
    if (failed.length > 0) {
      throw new SluiceError(
        `the commit could not delete ${failed.length} previous object(s), for example s3://${bucket}/${failed[0]}`,
      );
    }
    this.step("previous-deleted");
    for (const table of journal.tables) {
      const location = childOf(this.root, `${table}/${SUCCESS_NAME}`) as { key: string };
      await putText(this.s3, bucket, location.key, "");
    }
    this.step("success-written");
    await deleteKeys(this.s3, bucket, [journalKey]);
  }

  async abort(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<string[]> {
    if (this.root.kind === "local") {
      const staged = (this.temporary(runId) as { path: string }).path;
      try {
        await rm(staged, { recursive: true, force: true });
      } catch (error) {
        return [`${staged} (${(error as Error).message})`];
      }
      await removeIfEmpty(join(this.root.path, TEMPORARY_FOLDER));
      return [];
    }
    const bucket = this.root.bucket;
    const files = [...messages.values()].flat(2) as unknown as WrittenFile[];
    const failed: string[] = [];
    for (const file of files) {
      if (file.staged.kind !== "s3") continue;
      if (!(await abortUpload(this.s3, bucket, file.staged.upload))) {
        failed.push(
          `s3://${bucket}/${file.staged.upload.key} (multipart upload ${file.staged.upload.uploadId})`,
        );
      }
    }
    return failed;
  }
}

function summarize(tables: readonly string[], files: readonly WrittenFile[]): Map<string, CommittedTable> {
  const summary = new Map<string, CommittedTable>();
  for (const table of tables) {
    const mine = files.filter((file) => file.table === table);
    summary.set(table, {
      rows: mine.reduce((total, file) => total + file.rows, 0),
      files: mine.length,
      partitions: new Set(mine.map((file) => file.partition)).size,
      bytes: mine.reduce((total, file) => total + file.staged.bytes, 0),
    });
  }
  return summary;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeFileAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Removes a folder if it is empty: another run may be staging in it. */
async function removeIfEmpty(path: string): Promise<void> {
  await rmdir(path).catch(() => undefined);
}
