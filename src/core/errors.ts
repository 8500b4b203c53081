/**
 * Errors that speak to the person running the job. `SluiceError` messages are complete sentences
 * meant to be printed as they are, without a stack trace.
 */
export class SluiceError extends Error {
  override name = "SluiceError";
}

/**
 * A user function threw: names the transform and where the record came from. `cause` is what the
 * function threw, with its stack into the user's code (on the pool, an Error rebuilt from the
 * worker's, with the same name, message and stack).
 */
export class TransformError extends SluiceError {
  override name = "TransformError";
  constructor(
    readonly transformName: string,
    readonly origin: string,
    readonly causeMessage: string,
    options: { readonly cause?: unknown; readonly context?: string } = {},
  ) {
    super(`${options.context ?? ""}transform '${transformName}' failed on ${origin}: ${causeMessage}`, {
      cause: options.cause,
    });
  }

  /** The same failure, its message led by where it happened (the stage and its input). */
  within(context: string): TransformError {
    return new TransformError(this.transformName, this.origin, this.causeMessage, {
      cause: this.cause,
      context,
    });
  }
}

/**
 * A function given to a source or a sink (generate's, a JSON-lines table's partitionOf) failed on
 * one record: the source or sink throws this, naming the record, and its operator tells it as its
 * transform's failure (a TransformError), as a map's is told.
 */
export class RecordFunctionError extends Error {
  override name = "RecordFunctionError";
  constructor(
    /** The record, as a TransformError's origin: `generated record 7`, `record {"day":null}`. */
    readonly origin: string,
    readonly thrown: unknown,
  ) {
    super(messageOf(thrown), { cause: thrown });
  }

  /** The TransformError of the transform `name` that called the function. */
  asTransformError(name: string): TransformError {
    return new TransformError(name, this.origin, this.message, { cause: this.thrown });
  }
}

/**
 * A value in a few characters, for a message that names it: its JSON cut at `max`, a bigint as
 * `7n`; a value JSON cannot write for holding itself is shown with the object met again as
 * `[seen]`, so that a record refused for it is shown too.
 */
export function recordPreview(record: unknown, max = 100): string {
  const text = jsonText(record, false) ?? jsonText(record, true) ?? String(record);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** JSON.stringify with bigints as `7n`, and with `markSeen` an object met again as `[seen]`; undefined when it fails. */
function jsonText(value: unknown, markSeen: boolean): string | undefined {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === "bigint") return `${item}n`;
      if (markSeen && typeof item === "object" && item !== null) {
        if (seen.has(item)) return "[seen]";
        seen.add(item);
      }
      return item;
    }) as string | undefined;
  } catch {
    return undefined;
  }
}

/** What a worker sends back of a TransformError: enough to rebuild it, cause and stack included. */
export interface TransformFailure {
  readonly transformName: string;
  readonly origin: string;
  readonly causeMessage: string;
  readonly causeName: string;
  readonly causeStack: string | undefined;
}

export function transformFailureOf(error: TransformError): TransformFailure {
  const cause = error.cause instanceof Error ? error.cause : undefined;
  return {
    transformName: error.transformName,
    origin: error.origin,
    causeMessage: error.causeMessage,
    causeName: cause?.name ?? "Error",
    causeStack: cause?.stack,
  };
}

export function transformErrorOf(failure: TransformFailure): TransformError {
  const cause = new Error(failure.causeMessage);
  cause.name = failure.causeName;
  if (failure.causeStack !== undefined) cause.stack = failure.causeStack;
  return new TransformError(failure.transformName, failure.origin, failure.causeMessage, { cause });
}

/**
 * The worker thread running a task died (it exited, failed while it started or ran out of heap):
 * the task itself may be fine, and runs again on a fresh worker. Only a runner says this; every
 * other failure of a task, or of the main thread's bookkeeping, fails the job at once.
 */
export class WorkerDiedError extends Error {
  override name = "WorkerDiedError";
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Too many records were rejected. */
export class RejectLimitError extends SluiceError {
  override name = "RejectLimitError";
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The causes a file system gives most often, said plainly. */
const FILE_SYSTEM_CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "the operation is not permitted",
  ENOENT: "no such file or folder",
  ENOTDIR: "a part of the path is not a folder",
  EFBIG: "the file is larger than the file system allows",
};

/** A file operation that failed, in one line naming the path and the cause. */
export function fileFailure(action: string, path: string, error: unknown): SluiceError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cause = code && FILE_SYSTEM_CAUSES[code] ? `${FILE_SYSTEM_CAUSES[code]} (${code})` : messageOf(error);
  return new SluiceError(`cannot ${action} ${path}: ${cause}`);
}

/** A value as an error message shows it: short, with its kind (`"1" (a string)`, `an array of 3`). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "string":
      return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)} (a string)`;
    case "number":
    case "boolean":
      return `${value} (a ${typeof value})`;
    case "bigint":
      return `${value}n (a bigint)`;
    case "object": {
      const kind = Object.getPrototypeOf(value)?.constructor?.name;
      return kind && kind !== "Object" ? `a ${kind}` : "an object";
    }
    default:
      return `a ${typeof value}`;
  }
}
