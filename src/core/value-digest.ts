/**
 * A value of a module as module-state.ts compares it between threads: a hash, deep for plain data
 * (primitives, plain objects and arrays), and a few characters that show it in a message.
 */
import { createHash, type Hash } from "node:crypto";
import { recordPreview } from "./errors.js";
import { isPlain } from "./shared-records.js";

/** Values of one variable compared, at most: a table built in the module is compared by its first part. */
const MAX_NODES = 20_000;

/** Primitives and plain data: other objects hold state a thread may keep to itself. */
export function isCompared(value: unknown): boolean {
  return typeof value !== "object" || value === null || isPlain(value);
}

/** A hash of the value, and whether JSON can show it (no getter to call, no cycle, not large). */
export function digestOf(value: unknown): { digest: string; showable: boolean } {
  const hash = createHash("sha256");
  let budget = MAX_NODES;
  let writtenOut = true;
  const onPath = new Set<object>();
  const visit = (item: unknown): void => {
    if (--budget < 0) return;
    if (typeof item !== "object" || item === null) {
      hash.update(primitiveText(item));
      hash.update("\0");
      return;
    }
    if (!isPlain(item)) {
      hash.update(`instance ${(item as { constructor?: { name?: string } }).constructor?.name ?? "?"}\0`);
      return;
    }
    if (onPath.has(item)) {
      hash.update("cycle\0");
      writtenOut = false;
      return;
    }
    onPath.add(item);
    if (Array.isArray(item)) {
      hash.update(`[${item.length}\0`);
      for (let index = 0; index < item.length && budget > 0; index++) visit(item[index]);
    } else {
      hash.update("{\0");
      for (const key of Object.keys(item)) {
        if (budget <= 0) break;
        hashText(hash, key);
        // A getter is not called: reading a value must not run the module's code.
        const property = Object.getOwnPropertyDescriptor(item, key)!;
        if ("value" in property) visit(property.value);
        else {
          hash.update("accessor\0");
          writtenOut = false;
        }
      }
    }
    hash.update("}\0");
    onPath.delete(item);
  };
  visit(value);
  // Past a hundred values, the value is not written out in full to show its start.
  return { digest: hash.digest("hex").slice(0, 16), showable: writtenOut && MAX_NODES - budget <= 100 };
}

function hashText(hash: Hash, text: string): void {
  hash.update(`${text.length}:`);
  hash.update(text);
}

function primitiveText(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `s${value.length}:${value}`;
    case "number":
      return Object.is(value, -0) ? "n-0" : `n${value}`;
    case "bigint":
      return `b${value}`;
    case "symbol":
      return `y${value.description ?? ""}`;
    case "function":
      return `f${value.name}`;
    default:
      return String(value);
  }
}

/** The value as a message shows it: JSON where it can and fits in 60 characters. */
export function shownValue(value: unknown, showable: boolean): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol" || typeof value === "undefined") return String(value);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (!showable)
    return Array.isArray(value)
      ? `an array of ${value.length}`
      : `an object of ${Object.keys(value as object).length} members`;
  return recordPreview(value, 60);
}
