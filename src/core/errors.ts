/**
 * Errors that speak to the person running the job. `SluiceError` messages are complete sentences
 * meant to be printed as they are, without a stack trace.
 */
export class SluiceError extends Error {
  override name = "SluiceError";
}

/** A user function threw: names the transform and where the record came from. */
export class TransformError extends SluiceError {
  override name = "TransformError";
  constructor(
    readonly transformName: string,
    readonly origin: string,
    readonly causeMessage: string,
  ) {
    super(`transform '${transformName}' failed on ${origin}: ${causeMessage}`);
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
