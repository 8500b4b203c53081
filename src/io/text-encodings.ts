/**
 * JSON is read as UTF-8, as RFC 8259 requires of JSON exchanged between systems. A file in
 * UTF-16 or UTF-32 (a Windows export, a tool's "Unicode" option) is not UTF-8 in any line: read
 * as it is, each line would be rejected as "not valid UTF-8", its content lost to the rejected
 * records or the run stopped by the reject limit, with no word of the encoding. Its first bytes
 * tell it: a byte order mark, or, without one, the zero bytes that an ASCII character (every JSON
 * text begins with one) takes in those encodings (the detection RFC 4627 describes).
 */
import { SluiceError } from "../core/errors.js";
import { misnamedCompressed } from "./archives.js";

/**
 * What an encoding's first bytes look like (`null`: any byte but zero), and its name for iconv,
 * which reads the byte order from a mark and must be told it without one.
 */
const ENCODINGS: readonly {
  readonly name: string;
  readonly iconv: string;
  readonly start: readonly (number | null)[];
}[] = [
  // UTF-32 first: its little-endian mark begins with UTF-16's.
  {
    name: "UTF-32 (little-endian, with a byte order mark)",
    iconv: "UTF-32",
    start: [0xff, 0xfe, 0x00, 0x00],
  },
  { name: "UTF-32 (big-endian, with a byte order mark)", iconv: "UTF-32", start: [0x00, 0x00, 0xfe, 0xff] },
  { name: "UTF-16 (little-endian, with a byte order mark)", iconv: "UTF-16", start: [0xff, 0xfe] },
  { name: "UTF-16 (big-endian, with a byte order mark)", iconv: "UTF-16", start: [0xfe, 0xff] },
  { name: "UTF-32 (little-endian)", iconv: "UTF-32LE", start: [null, 0x00, 0x00, 0x00] },
  { name: "UTF-32 (big-endian)", iconv: "UTF-32BE", start: [0x00, 0x00, 0x00, null] },
  { name: "UTF-16 (little-endian)", iconv: "UTF-16LE", start: [null, 0x00, null, 0x00] },
  { name: "UTF-16 (big-endian)", iconv: "UTF-16BE", start: [0x00, null, 0x00, null] },
];

/**
 * The error for a file whose bytes from `at` (its start) are text in UTF-16 or UTF-32; undefined
 * for any other bytes, UTF-8 with or without its byte order mark among them.
 */
function otherEncoding(uri: string, bytes: Uint8Array, at = 0): SluiceError | undefined {
  const found = ENCODINGS.find(({ start }) =>
    start.every((expected, index) => {
      const byte = bytes[at + index];
      return byte !== undefined && (expected === null ? byte !== 0 : byte === expected);
    }),
  );
  if (!found) return undefined;
  return new SluiceError(
    `${uri} is text in ${found.name}, and JSON is read as UTF-8: convert it (iconv -f ${found.iconv} -t UTF-8), or move it out of the input`,
  );
}

/**
 * The error for a file whose first bytes (from `at`) are not JSON text a reader can take: a
 * compressed format its name does not say (archives.ts), or UTF-16 or UTF-32. Undefined otherwise.
 * Every JSON reader checks a file's start with this, once.
 */
export function unreadableAsText(uri: string, bytes: Uint8Array, at = 0): SluiceError | undefined {
  return misnamedCompressed(uri, bytes, at) ?? otherEncoding(uri, bytes, at);
}
