import { readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import type { Writable } from "node:stream";
import { type JobCommitter, type JsonValue, messageOf, SluiceError } from "../core/index.js";
import { oneOf } from "../core/option-checks.js";
import { childOf, formatLocation, type Location } from "./location.js";
import type { WrittenFile } from "./staging.js";
import {
  abortUpload,
  completeUpload,
  deleteKeys,
  getText,
  listObjects,
  listOpenUploads,
  putText,
  requestsAtOnce,
  type S3Settings,
  type StagedUpload,
} from "./s3.js";
import { forEachInLanes } from "./in-lanes.js";
import { OutputLock } from "./output-lock.js";
import { inventoryText, readMarker, recordedFiles, SUCCESS_NAME } from "./inventory.js";
import { listFiles } from "./storage.js";
import { openStagedFile, TEMPORARY_FOLDER, writeStaged } from "./staging.js";
import { makeFolders } from "./folders.js";
import { writeFailure } from "./write-errors.js";

/** Records per write of a JSON-lines file the commit writes: texts of a few hundred KB at a time. */
const LINES_PER_WRITE = 2048;

/** `records` as JSON lines into a staged file, a slice at a time. */
async function writeJsonLines(stream: Writable, records: readonly unknown[]): Promise<void> {
  for (let start = 0; start < records.length; start += LINES_PER_WRITE) {
    let text = "";
    for (const record of records.slice(start, start + LINES_PER_WRITE)) text += `${JSON.stringify(record)}\n`;
    await writeStaged(stream, text);
  }
}

/**
 * What to do when the output's tables already exist: replace them, refuse, or (`update`) add this
 * run's files to the tables that grow by appending and replace only those registered as replaced.
 */
export type WriteMode = "overwrite" | "error-if-exists" | "update";

/** How a table takes a run's files in `update` mode (in the other modes, every table is replaced). */
export type TableDisposition = "append" | "replace";

/** Where a lake keeps what its daily loads need beside the tables: a folder readers skip. */
export const STATE_FOLDER = "_sluice";

/** The commit's plan, written before its first step so that an interrupted commit can be finished. */
interface Journal {
  readonly runId: string;
  /** Tables replaced whole (every table, outside update mode). */
  readonly tables: string[];
  /** Local, update mode: files added to tables that grow, relative to each table's folder. */
  readonly appends?: { table: string; files: string[] }[];
  /** Local, update mode: files the run rewrote into its own (a compaction), removed by the commit. */
  readonly removals?: { table: string; files: string[] }[];
  /** S3 only: the uploads to complete and the previous objects to delete. */
  readonly uploads?: StagedUpload[];
  readonly deleteKeys?: string[];
  /** What each state table's `_SUCCESS` holds once committed: its inventory (others hold nothing). */
  readonly successes?: Record<string, string> | undefined;
  /** Local: the `_SUCCESS` of each state table that grows, as it was, for an undo to put back. */
  readonly previousSuccesses?: Record<string, string>;
}

/** Per table, what the last commit made visible. */
export interface CommittedTable {
  readonly rows: number;
  readonly files: number;
  readonly partitions: number;
  readonly bytes: number;
}

export const JOURNAL_NAME = "_journal.json";

/**
 * A test hook: called at each step of a commit (`commit-started`, `journal-written`,
 * `table-moved-in:<name>`, `files-added:<name>`, `upload-completed:<n>`, ...), so
 * that a test can stop the process there and check that the next run finishes the commit.
 */
export type CommitStepHook = (step: string) => void;

/** Test hooks: kill the process at a commit step, or make the step fail as a disk would. */
function stepHookFromEnvironment(): CommitStepHook | undefined {
  const killAt = process.env.SLUICE_TEST_KILL_AT_COMMIT_STEP;
  const failAt = process.env.SLUICE_TEST_FAIL_AT_COMMIT_STEP;
  if (!killAt && !failAt) return undefined;
  return (step) => {
    if (step === killAt) process.kill(process.pid, "SIGKILL");
    if (step === failAt) throw new Error(`injected failure after commit step ${step}`);
  };
}

/** What stands where a table should go, when it is not something this lake may replace. */
function foreignPathProblem(where: string, kind: "file" | "folder without _SUCCESS"): string {
  return kind === "file"
    ? `${where} is a file, not a table folder; sluice replaces only tables it wrote: move it away or choose another output`
    : `${where} holds files but no ${SUCCESS_NAME}, so it is not a table sluice wrote; sluice replaces only its own tables: move it away or choose another output`;
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
  readonly localFolder: string | undefined;
  readonly tables = new Set<string>();
  /** How each table takes a run's files in update mode. */
  private readonly dispositions = new Map<string, TableDisposition>();
  /** Per table that grows, files this run rewrote and its commit removes (relative to the table). */
  private readonly removals = new Map<string, string[]>();
  /** Records the commit itself writes into a table, known before the run (`writeAtCommit`). */
  private readonly commitFiles: { table: string; records: readonly unknown[] }[] = [];
  /** Per table, how to write a file that holds no rows, for tables that must exist even when empty. */
  private readonly emptyFileWriters = new Map<string, (runId: string) => Promise<WrittenFile>>();
  committed = new Map<string, CommittedTable>();
  private readonly hook: CommitStepHook | undefined;
  /** One writer per output: taken before anything else, released when the run ends. */
  private readonly lock: OutputLock;

  /**
   * Set by a driver that read the lake before the run (a daily load reads what was loaded): the
   * fingerprint of a table as it read it. The run then fails at its start, under the lock, if
   * another run committed to that table in between, rather than load from a stale reading.
   */
  expected: { readonly table: string; readonly fingerprint: string } | undefined;

  constructor(
    readonly root: Location,
    readonly mode: WriteMode,
    readonly s3: S3Settings,
    hook?: CommitStepHook,
  ) {
    oneOf(
      mode,
      ["error-if-exists", "overwrite", "update"],
      `the mode of the lake at ${formatLocation(root)}`,
    );
    this.id = `lake:${formatLocation(root)}`;
    if (root.kind === "local") this.localFolder = root.path;
    this.hook = hook ?? stepHookFromEnvironment();
    this.lock = new OutputLock(root, s3);
  }

  register(
    table: string,
    writeEmptyFile?: (runId: string) => Promise<WrittenFile>,
    disposition: TableDisposition = "append",
  ): void {
    const stateTable = new RegExp(`^${STATE_FOLDER}/[a-z0-9_-]+$`).test(table);
    if ((table.includes("/") && !stateTable) || table === TEMPORARY_FOLDER || table === "") {
      throw new Error(`'${table}' cannot name a table`);
    }
    oneOf(disposition, ["append", "replace"], `table '${table}': disposition`);
    this.tables.add(table);
    this.dispositions.set(table, disposition);
    if (writeEmptyFile) this.emptyFileWriters.set(table, writeEmptyFile);
  }

  /**
   * A JSON-lines file that the commit writes into `table`: for records the driver knows before the
   * run starts, which no task needs to carry, in a file named by the run (`part-<run>.jsonl`).
   * `replace`: the table is that file alone; `append` (update mode): it joins those the table has.
   * The name is the run's, as every staged file's is, so that an object at its key on S3 is this
   * run's upload completed (`completeUpload`), never an earlier run's file of the same name.
   * The records are read when the commit writes them: their JSON text is not held through the
   * run (a record per input file, 200,000 and more for a song catalogue, in the driver's heap).
   */
  writeAtCommit(table: string, records: readonly unknown[], disposition: TableDisposition = "replace"): void {
    this.register(table, undefined, disposition);
    this.commitFiles.push({ table, records });
  }

  /**
   * Files of a table that grows (paths relative to its folder) whose rows this run writes again
   * (a compaction reads a partition's small files and writes one): the commit removes them in the
   * same journalled step that adds the run's files, so that readers never see a row twice or not
   * at all once it is done.
   */
  removeAtCommit(table: string, files: readonly string[]): void {
    if (this.mode !== "update") throw new Error("files are removed at commit only in update mode");
    this.removals.set(table, [...(this.removals.get(table) ?? []), ...files]);
  }

  /** Whether this run adds its files to `table` rather than replacing it. */
  private appends(table: string): boolean {
    return this.mode === "update" && this.dispositions.get(table) === "append";
  }

  private step(name: string): void {
    this.hook?.(name);
  }

  private temporary(runId?: string): Location {
    return childOf(this.root, runId ? `${TEMPORARY_FOLDER}/${runId}` : TEMPORARY_FOLDER);
  }

  async setup(runId: string): Promise<void> {
    // The lock comes first: recovering removes what other runs staged, which must not be a live run's.
    await this.lock.acquire(runId);
    await this.recover();
    if (this.expected && (await this.fingerprint(this.expected.table)) !== this.expected.fingerprint) {
      throw new SluiceError(
        `another run committed to ${formatLocation(this.root)} after this one read it; run again`,
      );
    }
    // The tables are looked at all at once (on S3 each look is a listing, a round trip or more),
    // and the first that fails, in the tables' order, is the one named.
    await firstInOrder([...this.tables], (table) => this.refuseForeignPath(table));
    if (this.mode === "error-if-exists") {
      // Data tables first, bookkeeping ones (`_rejected`) last: the message names what matters.
      const tables = [...this.tables].sort(
        (a, b) => Number(a.startsWith("_")) - Number(b.startsWith("_")) || (a < b ? -1 : 1),
      );
      await firstInOrder(tables, async (table) => {
        if (await this.tableExists(table)) {
          throw new SluiceError(
            `the output table '${table}' already exists at ${formatLocation(childOf(this.root, table))}; choose another output or run with mode: "overwrite"`,
          );
        }
      });
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

  /**
   * Fails, naming it, when something other than a table this lake wrote stands where `table` goes:
   * a file, or a folder that holds files but no `_SUCCESS`. Such a path may be a user's, and
   * sluice removes or replaces only what it wrote, in every mode.
   */
  private async refuseForeignPath(table: string): Promise<void> {
    const location = childOf(this.root, table);
    const where = formatLocation(location);
    if (location.kind === "local") {
      let entries: string[];
      try {
        entries = await readdir(location.path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return;
        if (code === "ENOTDIR") throw new SluiceError(foreignPathProblem(where, "file"));
        throw writeFailure(location.path, error);
      }
      if (entries.length > 0 && !entries.includes(SUCCESS_NAME)) {
        throw new SluiceError(foreignPathProblem(where, "folder without _SUCCESS"));
      }
      return;
    }
    const objects = await listObjects(this.s3, location.bucket, location.key);
    if (objects.some((object) => object.key === location.key)) {
      throw new SluiceError(foreignPathProblem(where, "file"));
    }
    const inside = objects.filter((object) => object.key.startsWith(`${location.key}/`));
    if (inside.length > 0 && !inside.some((object) => object.key === `${location.key}/${SUCCESS_NAME}`)) {
      throw new SluiceError(foreignPathProblem(where, "folder without _SUCCESS"));
    }
  }

  /**
   * Reads the lake as a run would see it: under the lock, after finishing any commit a killed run
   * left half done. A driver that decides what to load from the lake's state reads it so.
   */
  async inspect<T>(runId: string, read: () => Promise<T>): Promise<T> {
    await this.lock.acquire(runId);
    try {
      await this.recover();
      return await read();
    } finally {
      await this.lock.release().catch(() => undefined);
    }
  }

  /**
   * What a table holds, as one line: its files' paths, sizes and versions (modification times,
   * ETags). Any commit to the table changes it, if only by its `_SUCCESS`.
   */
  async fingerprint(table: string): Promise<string> {
    const files = await listFiles(formatLocation(childOf(this.root, table)), this.s3, {
      includeHidden: true,
    });
    return JSON.stringify(files.map((file) => [file.relativePath, file.size, file.version ?? ""]));
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
        if (journalText) {
          try {
            await this.rollForwardLocal(JSON.parse(journalText) as Journal);
          } catch (error) {
            throw new SluiceError(
              `the commit of run ${run}, interrupted earlier, cannot be finished: ${stepFailure(this.root.path, error)}; its journal stays in ${join(temporary, run)} until it can`,
            );
          }
        }
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
    await this.abortAbandonedUploads();
  }

  /**
   * Aborts the uploads killed runs left open under the lake, as S3A's committers clean up pending
   * uploads under their destination: only files named as runs name them, so that an upload of
   * someone else's under the same prefix stays. Safe under the lock: no live run writes here, and
   * an interrupted commit, finished before this, has completed the uploads its journal names.
   * Where the server cannot list open uploads, a bucket lifecycle rule is left to expire them.
   */
  private async abortAbandonedUploads(): Promise<void> {
    const bucket = (this.root as { bucket: string }).bucket;
    const abandoned = await this.openUploadsNamed(runFileName(RUN_ID_PATTERN));
    await forEachInLanes(abandoned, requestsAtOnce(this.s3), async (upload) => {
      await abortUpload(this.s3, bucket, upload);
    });
  }

  /**
   * The uploads open under the lake whose file names match `name`; none where the server cannot
   * list open uploads (or refuses to): the caller then does without, as before such a listing.
   */
  private async openUploadsNamed(name: RegExp): Promise<StagedUpload[]> {
    const root = this.root as { bucket: string; key: string };
    const prefix = root.key === "" ? "" : `${root.key}/`;
    const open = (await listOpenUploads(this.s3, root.bucket, prefix).catch(() => undefined)) ?? [];
    return open.filter((upload) => name.test(basename(upload.key)));
  }

  async commit(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<void> {
    await this.lock.check();
    await this.commitTables(runId, messages);
    // The commit has taken effect: a lock that cannot be removed now only expires, and must not
    // make a committed run look failed.
    await this.lock.release().catch(() => undefined);
  }

  private async commitTables(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<void> {
    // Every task has staged its files; nothing is journalled yet: a run stopped here left nothing.
    this.step("commit-started");
    const files = [...messages.values()].flat(2) as unknown as WrittenFile[];
    const tables = [...this.tables].sort();
    for (const table of tables) {
      const writeEmptyFile = this.emptyFileWriters.get(table);
      // A table that grows and already exists needs no empty file to exist.
      if (this.appends(table) && (await this.tableExists(table))) continue;
      if (writeEmptyFile && !files.some((file) => file.table === table))
        files.push(await writeEmptyFile(runId));
    }
    for (const { table, records } of this.commitFiles) {
      if (records.length === 0) continue;
      const staged = await openStagedFile(this.root, runId, table, `part-${runId}.jsonl`, this.s3);
      await writeJsonLines(staged.stream, records);
      files.push({ table, partition: "", rows: records.length, staged: await staged.close() });
    }
    this.committed = summarize(tables, files);
    if (this.root.kind === "local") {
      const temporary = (this.temporary(runId) as { path: string }).path;
      const root = this.root.path;
      // A table with no rows is still replaced: by an empty folder with its _SUCCESS. A table that
      // grows takes its new files one by one, beside those it has.
      const replaced = tables.filter((table) => !this.appends(table));
      const appends = tables
        .filter((table) => this.appends(table))
        .map((table) => ({
          table,
          files: files
            .filter((file) => file.table === table && file.staged.kind === "local")
            .map((file) => relative(join(temporary, table), (file.staged as { path: string }).path)),
        }));
      const removals = [...this.removals].map(([table, removed]) => ({ table, files: removed }));
      const inventories = await this.inventories(tables, files, (table, file) =>
        relative(join(temporary, table), (file.staged as { path: string }).path),
      );
      const journal: Journal = { runId, tables: replaced, appends, removals, ...inventories };
      try {
        for (const table of tables) await makeFolders(join(temporary, table));
        await writeFileAtomically(join(temporary, JOURNAL_NAME), JSON.stringify(journal));
      } catch (error) {
        throw writeFailure(temporary, error);
      }
      // From here on the journal names everything the commit needs: a step that fails leaves the
      // journal and all it names in place, never half of them. This run rolls the commit back
      // where it can (the tables all old); where it cannot, the next run finishes it.
      try {
        this.step("journal-written");
        await this.rollForwardLocal(journal);
      } catch (error) {
        try {
          if (!(await this.rollBackLocal(journal))) return; // the failure came after the commit point
        } catch (rollbackError) {
          throw new SluiceError(
            `the commit failed (${stepFailure(root, error)}) and could not be undone (${stepFailure(root, rollbackError)}); its journal is kept in ${temporary}, and the next run over this output finishes the commit first`,
          );
        }
        throw new SluiceError(
          `the commit failed and was undone, the previous tables are as they were: ${stepFailure(root, error)}`,
        );
      }
      return;
    }
    const uploads = files.flatMap((file) => (file.staged.kind === "s3" ? [file.staged.upload] : []));
    const newKeys = new Set(uploads.map((upload) => upload.key));
    const previous: string[] = [];
    for (const [table, removed] of this.removals) {
      const location = childOf(this.root, table) as { key: string };
      previous.push(...removed.map((file) => `${location.key}/${file}`));
    }
    // A table that grows keeps its objects; a replaced one loses those this run did not write.
    // Every replaced table is listed at once: a listing is a round trip or more.
    const replaced = await Promise.all(
      tables
        .filter((name) => !this.appends(name))
        .map((table) => {
          const location = childOf(this.root, table) as { bucket: string; key: string };
          return listObjects(this.s3, location.bucket, `${location.key}/`);
        }),
    );
    for (const objects of replaced) {
      for (const object of objects) if (!newKeys.has(object.key)) previous.push(object.key);
    }
    const { successes } = await this.inventories(tables, files, (table, file) => {
      const tableKey = (childOf(this.root, table) as { key: string }).key;
      return (file.staged as { upload: StagedUpload }).upload.key.slice(tableKey.length + 1);
    });
    const journal: Journal = { runId, tables, uploads, deleteKeys: previous, successes };
    const journalKey = (childOf(this.temporary(runId), JOURNAL_NAME) as { key: string }).key;
    await putText(this.s3, this.root.bucket, journalKey, JSON.stringify(journal));
    // S3 cannot undo a completed upload: past the journal, a failed step is taken again once in
    // this run, and otherwise left, journal and uploads, for the next run to finish.
    try {
      this.step("journal-written");
      await this.rollForwardS3(journal, journalKey, false);
    } catch (error) {
      try {
        await this.rollForwardS3(journal, journalKey);
      } catch {
        throw new SluiceError(
          `the commit failed (${messageOf(error)}); its journal is kept at s3://${this.root.bucket}/${journalKey}, and the next run over this output finishes the commit first`,
        );
      }
    }
  }

  /**
   * The inventory each state table's `_SUCCESS` takes at this commit (inventory.ts), and, of the
   * tables that grow, the `_SUCCESS` they have now. Worked out before the journal, from what the
   * commit adds to what the last commit recorded (not from a listing at commit, which would record
   * a file damaged since as it is now), so that finishing or undoing the commit writes the same.
   * Data tables keep an empty `_SUCCESS`: listing a table of 20,000 files at every commit would
   * cost more than it tells, and readers check Parquet files by their footers.
   */
  private async inventories(
    tables: readonly string[],
    files: readonly WrittenFile[],
    relativePathOf: (table: string, file: WrittenFile) => string,
  ): Promise<Pick<Journal, "successes" | "previousSuccesses">> {
    const successes: Record<string, string> = {};
    const previousSuccesses: Record<string, string> = {};
    for (const table of tables.filter((name) => name.startsWith(`${STATE_FOLDER}/`))) {
      const added = files
        .filter((file) => file.table === table)
        .map((file) => ({ relativePath: relativePathOf(table, file), size: file.staged.bytes }));
      let kept: { relativePath: string; size: number }[] = [];
      if (this.appends(table)) {
        const location = childOf(this.root, table);
        const previous = await readMarker(location, this.s3);
        if (previous !== undefined) previousSuccesses[table] = previous;
        const recorded = recordedFiles(previous);
        // A table kept before inventories were: its files as they are start its first one.
        kept = recorded
          ? Object.entries(recorded).map(([relativePath, size]) => ({ relativePath, size }))
          : await listFiles(formatLocation(location), this.s3);
        const removed = new Set(this.removals.get(table) ?? []);
        kept = kept.filter((file) => !removed.has(file.relativePath));
      }
      successes[table] = inventoryText([...kept, ...added]);
    }
    return { successes, previousSuccesses };
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
        await makeFolders(dirname(old));
        await rename(final, old);
        this.step(`table-moved-away:${table}`);
      }
      await makeFolders(dirname(final));
      await rename(staged, final);
      this.step(`table-moved-in:${table}`);
    }
    for (const { table, files } of journal.appends ?? []) {
      const finalTable = join(root, table);
      const stagedTable = join(temporary, table);
      if (!(await exists(finalTable)) && (await exists(stagedTable))) {
        // A table that does not exist yet takes the run's folder whole: one rename, not one a file.
        await makeFolders(dirname(finalTable));
        await rename(stagedTable, finalTable);
      } else {
        const made = new Set<string>();
        for (const file of files) {
          const staged = join(stagedTable, file);
          if (!(await exists(staged))) continue; // already moved in by an earlier attempt
          const final = join(finalTable, file);
          if (!made.has(dirname(final))) {
            await makeFolders(dirname(final));
            made.add(dirname(final));
          }
          await rename(staged, final);
        }
        await makeFolders(finalTable);
      }
      this.step(`files-added:${table}`);
    }
    for (const { table, files } of journal.removals ?? []) {
      for (const file of files) {
        const final = join(root, table, file);
        const old = join(temporary, "_old", table, file);
        if (!(await exists(final))) continue; // already moved away by an earlier attempt
        await makeFolders(dirname(old));
        await rename(final, old);
      }
      this.step(`files-removed:${table}`);
    }
    const everyTable = [...journal.tables, ...(journal.appends ?? []).map(({ table }) => table)];
    for (const table of everyTable) {
      await writeFileAtomically(join(root, table, SUCCESS_NAME), journal.successes?.[table] ?? "");
    }
    this.step("success-written");
    // Removing the journal is the commit point; what is left after it (the old tables) is
    // removed by this run or, should that fail, by the next one, and is never read again.
    await rm(join(temporary, JOURNAL_NAME));
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    await removeIfEmpty(join(root, TEMPORARY_FOLDER));
  }

  /**
   * Undoes a commit whose journal is still there: each table this commit moved in goes back to its
   * staging folder, and each old table it moved away comes back, last table first. Then the
   * journal is removed, so that the run's abort removes what it staged.
   */
  private async rollBackLocal(journal: Journal): Promise<boolean> {
    const temporary = (this.temporary(journal.runId) as { path: string }).path;
    const root = (this.root as { path: string }).path;
    // Without its journal the commit has already taken effect: nothing to undo.
    if (!(await exists(join(temporary, JOURNAL_NAME)))) return false;
    for (const { table, files } of journal.removals ?? []) {
      for (const file of files) {
        const final = join(root, table, file);
        const old = join(temporary, "_old", table, file);
        if (!(await exists(final)) && (await exists(old))) await rename(old, final);
      }
    }
    for (const { table, files } of [...(journal.appends ?? [])].reverse()) {
      for (const file of files) {
        const staged = join(temporary, table, file);
        const final = join(root, table, file);
        if (!(await exists(staged)) && (await exists(final))) {
          await makeFolders(dirname(staged));
          await rename(final, staged);
        }
      }
      // The inventory this commit wrote names the files just moved back out.
      const marker = join(root, table, SUCCESS_NAME);
      const previous = journal.previousSuccesses?.[table];
      if (previous !== undefined) await writeFileAtomically(marker, previous);
      else if (journal.successes?.[table] !== undefined && (await exists(marker)))
        await writeFileAtomically(marker, "");
    }
    for (const table of [...journal.tables].reverse()) {
      const staged = join(temporary, table);
      const final = join(root, table);
      const old = join(temporary, "_old", table);
      if (!(await exists(staged)) && (await exists(final))) await rename(final, staged);
      if (await exists(old)) await rename(old, final);
    }
    await rm(join(temporary, JOURNAL_NAME));
    return true;
  }

  /**
   * Takes the steps of a journalled S3 commit: completes its uploads, deletes the objects it
   * replaces, writes the tables' markers. `resumed`: a pass after an earlier one that may have
   * completed some uploads (a retry, or the next run finishing an interrupted commit).
   */
  private async rollForwardS3(journal: Journal, journalKey: string, resumed = true): Promise<void> {
    const bucket = (this.root as { bucket: string }).bucket;
    // Many at once: a table of 17,000 song folders is 17,000 uploads, each a round trip to S3.
    let completed = 0;
    await forEachInLanes(journal.uploads ?? [], requestsAtOnce(this.s3), async (upload) => {
      await completeUpload(this.s3, bucket, upload, { mayBeCompleted: resumed });
      this.step(`upload-completed:${++completed}`);
    });
    this.step("uploads-completed");
    const failed = await deleteKeys(this.s3, bucket, journal.deleteKeys ?? []);
    if (failed.length > 0) {
      throw new SluiceError(
        `the commit could not delete ${failed.length} previous object(s), for example s3://${bucket}/${failed[0]}`,
      );
    }
    this.step("previous-deleted");
    const marked = [...journal.tables, ...(journal.appends ?? []).map(({ table }) => table)];
    await forEachInLanes(marked, requestsAtOnce(this.s3), async (table) => {
      const location = childOf(this.root, `${table}/${SUCCESS_NAME}`) as { key: string };
      await putText(this.s3, bucket, location.key, journal.successes?.[table] ?? "");
    });
    this.step("success-written");
    await deleteKeys(this.s3, bucket, [journalKey]);
  }

  async abort(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<string[]> {
    try {
      return await this.abortStaged(runId, messages);
    } finally {
      await this.lock.release().catch(() => undefined);
    }
  }

  private async abortStaged(runId: string, messages: ReadonlyMap<string, JsonValue[]>): Promise<string[]> {
    if (this.root.kind === "local") {
      const staged = (this.temporary(runId) as { path: string }).path;
      // A journal means a commit that could be neither finished nor undone: what it names stays.
      if (await exists(join(staged, JOURNAL_NAME))) return [];
      try {
        await rm(staged, { recursive: true, force: true });
      } catch (error) {
        // A file where a folder of the path should be: nothing can have been staged below it.
        if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
        return [`${staged} (${(error as Error).message})`];
      }
      await removeIfEmpty(join(this.root.path, TEMPORARY_FOLDER));
      return [];
    }
    const bucket = this.root.bucket;
    const journalKey = (childOf(this.temporary(runId), JOURNAL_NAME) as { key: string }).key;
    if ((await getText(this.s3, bucket, journalKey)) !== undefined) return [];
    const files = [...messages.values()].flat(2) as unknown as WrittenFile[];
    const reported = files.flatMap((file) => (file.staged.kind === "s3" ? [file.staged.upload] : []));
    // The tasks' messages name only what finished tasks staged: the failed task's files closed
    // before it failed, and the files of tasks stopped with the run, are found by S3's listing of
    // open uploads (named as the run names its files), where the server lists them.
    const ofRun = await this.openUploadsNamed(runFileName(escapedForRegExp(runId)));
    const known = new Set(reported.map((upload) => upload.uploadId));
    const uploads = [...reported, ...ofRun.filter((upload) => !known.has(upload.uploadId))];
    const failed: string[] = [];
    await forEachInLanes(uploads, requestsAtOnce(this.s3), async (upload) => {
      if (!(await abortUpload(this.s3, bucket, upload)))
        failed.push(`s3://${bucket}/${upload.key} (multipart upload ${upload.uploadId})`);
    });
    return failed;
  }
}

/** A run id as `newRunId` makes them: a date and time, and six hex digits. */
const RUN_ID_PATTERN = String.raw`\d{8}T\d{6}-[0-9a-f]{6}`;

/**
 * The name of a file a run writes (`part-<task>-<run id>[-n].parquet`, `part-<run id>.jsonl`, ...),
 * the run id matched by `runId`, a regular expression's source.
 */
function runFileName(runId: string): RegExp {
  return new RegExp(String.raw`^part-(?:.+-)?${runId}(?:-\d+)?\.(?:parquet|jsonl)$`);
}

function escapedForRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Runs `check` on every item at once and, once all have settled, throws the failure of the first
 * item in order that failed: the same message whichever answer came first.
 */
async function firstInOrder<T>(items: readonly T[], check: (item: T) => Promise<void>): Promise<void> {
  const outcomes = await Promise.allSettled(items.map(check));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
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

/** A failed commit step, naming the path the file system named (a rename names the table's). */
function stepFailure(root: string, error: unknown): string {
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  return writeFailure(path ?? root, error).message;
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
