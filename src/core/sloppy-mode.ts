/**
 * Functions written in sloppy mode: a CommonJS file without "use strict" (plain JavaScript that
 * requires sluice), where assigning to a frozen object is ignored without an error. The records
 * sluice freezes (shared-records.ts) make a change fail where it is made, and in such a function
 * the change would instead be lost, silently. So a sloppy function never gets a frozen record: it
 * gets a copy of its own, which it may change as it likes; and one that returns an object it
 * returned for the record before is refused, since what it changes in that object afterwards
 * would be lost.
 *
 * A function is taken for sloppy when it says so itself (a sloppy `function` has own `caller` and
 * `arguments` members) or when the code that gave it to the transform is sloppy (an arrow function
 * takes its mode from the code around it): a CommonJS file (its frames name a path, where an ES
 * module's name a URL) that does not open with "use strict". V8 hides whether a frame is strict
 * from code called by strict code, as sluice's is, so the file is read. The functions sluice's own
 * methods wrap around the user's (keyBy's, mapValues') take the mode of the function they wrap.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The sloppy functions given to transforms, with the file each was given from. */
const sloppyFunctions = new WeakMap<object, string>();

/** sluice's own code. */
const OWN_ROOT_URL = new URL("../", import.meta.url).href;
const OWN_ROOT_PATH = fileURLToPath(OWN_ROOT_URL);

/**
 * Notes whether `fn` is sloppy. Called by the function that checks a transform's function, itself
 * called by the transform's method (`map`): the frame above that is the code that gave `fn`.
 */
export function noteMode(fn: object): void {
  const giver = giverFrame();
  if (giver === "sluice") return;
  if (giver?.strict === false) sloppyFunctions.set(fn, giver.file);
  else if (Object.hasOwn(fn, "caller")) sloppyFunctions.set(fn, "the file that defines it");
}

/** `wrapper` calls `fn` with its record: it is as sloppy as `fn` (keyBy, mapValues). */
export function inheritMode(wrapper: object, fn: object): void {
  const file = sloppyFunctions.get(fn);
  if (file !== undefined) sloppyFunctions.set(wrapper, file);
}

/** The file a sloppy function was given from, or undefined for a strict one. */
export function sloppyFileOf(fn: object): string | undefined {
  return sloppyFunctions.get(fn);
}

interface GiverFrame {
  readonly file: string;
  readonly strict: boolean;
}

/** The code that called the transform's method, or "sluice" when that is sluice's own. */
function giverFrame(): GiverFrame | "sluice" | undefined {
  const previousPrepare = Error.prepareStackTrace;
  const previousLimit = Error.stackTraceLimit;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  let file: string | null | undefined;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    Error.stackTraceLimit = 3;
    // Omitted: noteMode and what is above it. Left: the checking function, the method, the giver.
    Error.captureStackTrace(holder, noteMode);
    file = holder.stack?.[2]?.getFileName();
  } finally {
    Error.prepareStackTrace = previousPrepare;
    Error.stackTraceLimit = previousLimit;
  }
  if (file === undefined || file === null) return undefined;
  if (file.startsWith(OWN_ROOT_URL) || file.startsWith(OWN_ROOT_PATH)) return "sluice";
  // An ES module is strict throughout, and V8 names its frames by URL (file:, data:, node:).
  if (/^[a-z]+:/.test(file)) return { file, strict: true };
  return { file, strict: opensStrict(file) };
}

/** Whether each file read so far opens with "use strict". */
const fileModes = new Map<string, boolean>();

/**
 * Whether a CommonJS file opens with a "use strict" directive (what TypeScript writes at the top
 * of each file it compiles to CommonJS). A file that cannot be read (code given to `node -e`, a
 * REPL's) is sloppy, as such code is unless it says otherwise.
 */
function opensStrict(file: string): boolean {
  let strict = fileModes.get(file);
  if (strict === undefined) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {}
    strict = DIRECTIVE_PROLOGUE_STRICT.test(text);
    fileModes.set(file, strict);
  }
  return strict;
}

/**
 * A "use strict" among the directives that open a file: after a #! line, blank space, comments
 * and other directives (string literals standing as statements). A line comment is taken to its
 * end, so that one that mentions "use strict" is not taken for it.
 */
const DIRECTIVE_PROLOGUE_STRICT =
  /^(?:#![^\n]*)?(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/|(["'])(?!use strict\1)[^"'\\\n]*\1\s*;?)*(["'])use strict\2/;

/**
 * The error for a sloppy function that returned the object it returned for the record before:
 * sluice freezes such an object, and the function's next change to it would be ignored.
 */
export function repeatedInSloppyMode(transform: string, file: string): string {
  return `${transform}'s function returned one object for two records in a row, and it is sloppy-mode code (${file} has no "use strict"), where a change to that object, which sluice freezes so that no record changes another, would be ignored without an error: return a new object for each record, or add "use strict"; at the top of the file`;
}
