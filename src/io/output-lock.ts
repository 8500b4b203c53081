/**
 * One writer per output: a lock object in the output (`_lock.json`, a name every reader skips),
 * held with a lease that its run renews while it runs. A second writer is refused at once, naming
 * the run that holds the lock; a killed run's lease runs out and the next writer takes the lock
 * over (at once when the killed run was on the same machine and its process is gone). On local disk the lock is created exclusively (`wx`) and taken over by an atomic rename
 * of the expired one; on S3 by conditional writes (`If-None-Match: *` to create, `If-Match` on the
 * expired lock's ETag to take it over), so that of two writers racing, exactly one wins.
 */
import { hostname } from "node:os";
import { link, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SluiceError } from "../core/index.js";
import { childOf, formatLocation, type Location } from "./location.js";
import { describeS3Error, type S3Settings, s3 } from "./s3.js";
import { makeFolders } from "./folders.js";
import { writeFailure } from "./write-errors.js";

export const LOCK_NAME = "_lock.json";
/** How long a lease lasts unless renewed; renewed every third of it. */
export const DEFAULT_LEASE_MS = 30_000;

interface LockContent {
  readonly runId: string;
  readonly host: string;
  readonly pid: number;
  /** Epoch milliseconds when the lease runs out unless renewed. */
  readonly expiresAt: number;
}

/** The lock as stored, with what a conditional write needs to replace exactly it. */
interface Held {
  readonly content: LockContent;
  /** S3: the object's ETag. */
  readonly etag?: string;
}

function describeHolder(content: LockContent): string {
  return `run ${content.runId} (pid ${content.pid} on ${content.host}, its lease runs until ${new Date(content.expiresAt).toISOString()})`;
}

/**
 * True when the lock's run was on this machine and its process is gone: its lease need not be
 * waited out (a run killed a moment ago, then started again, would otherwise wait for it).
 */
function diedOnThisHost(content: LockContent): boolean {
  if (content.host !== hostname() || content.pid === process.pid || content.pid <= 0) return false;
  try {
    process.kill(content.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function parseContent(text: string): LockContent | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockContent>;
    return typeof value.runId === "string" && typeof value.expiresAt === "number"
      ? (value as LockContent)
      : undefined;
  } catch {
    return undefined;
  }
}

export class OutputLock {
  private held: Held | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Why the lease was lost while the run went on, if it was. */
  private lost: string | undefined;
  /** The renewal under way, if one is. */
  private renewing: Promise<void> | undefined;
  private readonly where: Location;

  constructor(
    private readonly root: Location,
    private readonly s3: S3Settings,
    private readonly leaseMs = Number(process.env.SLUICE_LOCK_LEASE_MS) || DEFAULT_LEASE_MS,
  ) {
    this.where = childOf(root, LOCK_NAME);
  }

  /** Takes the lock, or fails at once naming the run that holds it. */
  async acquire(runId: string): Promise<void> {
    const mine = (): LockContent => ({
      runId,
      host: hostname(),
      pid: process.pid,
      expiresAt: Date.now() + this.leaseMs,
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      const created = await this.create(mine());
      if (created) {
        this.held = created;
        this.startRenewing();
        return;
      }
      const current = await this.read();
      if (!current) continue; // released between the two calls: try again
      if (current.content.expiresAt > Date.now() && !diedOnThisHost(current.content)) {
        throw new SluiceError(
          `the output ${formatLocation(this.root)} is being written by ${describeHolder(current.content)}; one run may write an output at a time`,
        );
      }
      const taken = await this.takeOver(current, mine());
      if (taken) {
        this.held = taken;
        this.startRenewing();
        return;
      }
    }
    throw new SluiceError(`the output ${formatLocation(this.root)}: another run took its lock first`);
  }

  /** Fails if the lease was lost (another run took the lock over while this one was stalled). */
  async check(): Promise<void> {
    if (this.lost) throw new SluiceError(this.lost);
    const current = await this.read();
    if (!current || current.content.runId !== this.held?.content.runId) {
      throw new SluiceError(
        `the output ${formatLocation(this.root)} was taken over by ${current ? describeHolder(current.content) : "nobody"} while this run went on; nothing was committed`,
      );
    }
  }

  /** Stops renewing and removes the lock, if it is still this run's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // A renewal under way would write the lock back after it is removed.
    await this.renewing;
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    const current = await this.read().catch(() => undefined);
    if (current?.content.runId !== held.content.runId) return;
    if (this.where.kind === "local") await rm(this.where.path, { force: true });
    else {
      const { client, sdk } = await s3(this.s3);
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.where.key }));
    }
  }

  private startRenewing(): void {
    this.timer = setInterval(
      () => {
        if (this.renewing) return;
        this.renewing = this.renew()
          .catch((error: unknown) => {
            this.lost ??= `the output ${formatLocation(this.root)}: its lock could not be renewed (${(error as Error).message}); nothing was committed`;
          })
          .finally(() => {
            this.renewing = undefined;
          });
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const held = this.held;
    if (!held || this.lost) return;
    const renewed = await this.replace(held, { ...held.content, expiresAt: Date.now() + this.leaseMs });
    if (!renewed) {
      const current = await this.read();
      this.lost = `the output ${formatLocation(this.root)} was taken over by ${current ? describeHolder(current.content) : "another run"} while this run went on; nothing was committed`;
      return;
    }
    if (this.held === held) this.held = renewed;
  }

  /** Creates the lock if there is none; undefined if there is. */
  private async create(content: LockContent): Promise<Held | undefined> {
    const text = JSON.stringify(content);
    if (this.where.kind === "local") {
      try {
        await makeFolders(dirname(this.where.path));
        await writeFile(this.where.path, text, { flag: "wx" });
        return { content };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
        throw writeFailure(this.where.path, error);
      }
    }
    return this.putS3(text, content, { IfNoneMatch: "*" });
  }

  /** Replaces `expired` by a lock of this run's, unless another run replaced it first. */
  private async takeOver(expired: Held, content: LockContent): Promise<Held | undefined> {
    if (this.where.kind !== "local") return this.replace(expired, content);
    // Renaming the expired lock aside is atomic: of two runs taking it over, one renames it.
    const aside = `${this.where.path}.expired-${content.runId}`;
    try {
      await rename(this.where.path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw writeFailure(this.where.path, error);
    }
    const renamed = parseContent(await readFile(aside, "utf8").catch(() => ""));
    if (renamed?.runId !== expired.content.runId || renamed.expiresAt !== expired.content.expiresAt) {
      // Another run took the lock over between our read and our rename: put its lock back.
      await link(aside, this.where.path).catch(() => undefined);
      await rm(aside, { force: true });
      return undefined;
    }
    await rm(aside, { force: true });
    return this.create(content);
  }

  /** Writes `content` over the lock if it is still `held`; undefined if it is not. */
  private async replace(held: Held, content: LockContent): Promise<Held | undefined> {
    const text = JSON.stringify(content);
    if (this.where.kind === "local") {
      const current = await this.read();
      if (current?.content.runId !== held.content.runId) return undefined;
      const temporary = join(dirname(this.where.path), `${LOCK_NAME}.${content.runId}.tmp`);
      await writeFile(temporary, text);
      await rename(temporary, this.where.path);
      return { content };
    }
    return this.putS3(text, content, held.etag ? { IfMatch: held.etag } : { IfNoneMatch: "*" });
  }

  private async putS3(
    text: string,
    content: LockContent,
    condition: { IfNoneMatch: string } | { IfMatch: string },
  ): Promise<Held | undefined> {
    const where = this.where as { bucket: string; key: string };
    const body = Buffer.from(text, "utf8");
    const { client, sdk } = await s3(this.s3);
    try {
      const response = await client.send(
        new sdk.PutObjectCommand({
          Bucket: where.bucket,
          Key: where.key,
          Body: body,
          ContentLength: body.byteLength,
          ...condition,
        }),
      );
      return { content, ...(response.ETag ? { etag: response.ETag } : {}) };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 412: the condition failed (another run's lock is there); 409: a conditional write raced.
      if (status === 412 || status === 409) return undefined;
      throw new SluiceError(describeS3Error(error, where.bucket, where.key));
    }
  }

  private async read(): Promise<Held | undefined> {
    if (this.where.kind === "local") {
      let text: string;
      try {
        text = await readFile(this.where.path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw writeFailure(this.where.path, error);
      }
      const content = parseContent(text);
      // A lock that cannot be read is taken for an expired one: its writer died while writing it.
      return { content: content ?? { runId: "unknown", host: "unknown", pid: 0, expiresAt: 0 } };
    }
    const { client, sdk } = await s3(this.s3);
    try {
      const response = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.where.bucket, Key: this.where.key }),
      );
      const text = await response.Body!.transformToString("utf8");
      const content = parseContent(text) ?? { runId: "unknown", host: "unknown", pid: 0, expiresAt: 0 };
      return { content, ...(response.ETag ? { etag: response.ETag } : {}) };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === "NoSuchKey" || name === "NotFound") return undefined;
      throw new SluiceError(describeS3Error(error, this.where.bucket, this.where.key));
    }
  }
}
