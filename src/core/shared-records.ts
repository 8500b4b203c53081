/**
 * A record that more than one transform reads is one object given to each of them in turn (a
 * collection consumed twice, in the same stage). Were one of them to change it, the others would
 * see the change, or not, by the order they run in: a silently wrong answer, alike on every
 * runner. Such a record is frozen, with whatever plain objects and arrays it holds, before it is
 * passed on, as Beam holds elements immutable: a change then throws where it is made, and the
 * error says what to do instead. A collection read by one transform is not frozen: a change there
 * is seen by nobody else, and costs nothing to allow.
 */

/**
 * Freezes `value` and the plain objects and arrays within it (a Map, a Date or a Buffer is left as
 * it is). A loop over what is left to freeze, not a recursion: a record may nest deeper than the
 * stack goes, and one that holds itself is frozen once.
 */
export function freezeShared(value: unknown): void {
  if (!isFreezable(value)) return;
  // Most records are flat: the list of nested ones is made only when one is met.
  let pending: object[] | undefined;
  let current: object | undefined = value;
  while (current !== undefined) {
    Object.freeze(current);
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        const item: unknown = current[index];
        if (isFreezable(item)) {
          pending ??= [];
          pending.push(item);
        }
      }
    } else {
      for (const key in current) {
        const member = (current as Record<string, unknown>)[key];
        if (isFreezable(member)) {
          pending ??= [];
          pending.push(member);
        }
      }
    }
    current = pending?.pop();
  }
}

/** A plain object or an array not frozen yet. */
function isFreezable(value: unknown): value is object {
  return isPlain(value) && !Object.isFrozen(value);
}

/**
 * An array or a plain object: what a record is made of, and what freezing or copying one goes
 * into. A Map, a Date, a Buffer or a class's instance is changed through its methods or slots,
 * which neither a freeze nor a copy of its members would cover: those are left as they are.
 */
export function isPlain(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * `value` with its plain objects and arrays copied, at every depth, an object met twice copied
 * once (so that one that holds itself is copied as such); anything else as it is: what
 * `fromArray` gives each run, so that a transform that changes its record never changes the
 * caller's own, and what `unfrozen` gives for a frozen record.
 */
export function copyRecord(value: unknown, copies = new Map<object, unknown>()): unknown {
  if (!isPlain(value)) return value;
  const done = copies.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    copies.set(value, copy);
    for (const item of value) copy.push(copyRecord(item, copies));
    return copy;
  }
  const copy: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
  copies.set(value, copy);
  for (const key in value) {
    const member = copyRecord((value as Record<string, unknown>)[key], copies);
    // A member named __proto__ (JSON.parse makes one) stays a member, not the copy's prototype.
    if (key === "__proto__")
      Object.defineProperty(copy, key, {
        value: member,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = member;
  }
  return copy;
}

/**
 * `value` itself, or a copy of its plain objects and arrays when any of them is frozen: what a
 * function gets that may change its record where a frozen one would not tell it (sloppy-mode.ts),
 * and the value a fold starts its accumulator from.
 */
export function unfrozen(value: unknown): unknown {
  return hasFrozenPart(value) ? copyRecord(value) : value;
}

/** Whether `value` or a plain object or array within it is frozen. */
function hasFrozenPart(value: unknown): boolean {
  if (!isPlain(value)) return false;
  let pending: object[] | undefined;
  let seen: Set<object> | undefined;
  let current: object | undefined = value;
  while (current !== undefined) {
    if (Object.isFrozen(current)) return true;
    for (const member of Array.isArray(current) ? current : Object.values(current)) {
      if (!isPlain(member)) continue;
      seen ??= new Set([value]);
      if (seen.has(member)) continue;
      seen.add(member);
      pending ??= [];
      pending.push(member);
    }
    current = pending?.pop();
  }
  return false;
}

/**
 * What to do instead, when a user function failed by changing a frozen record: V8's messages for
 * assigning to, adding to or deleting from a frozen object or array.
 */
export function sharedRecordHint(error: unknown): string {
  if (!(error instanceof TypeError)) return "";
  return /^Cannot (assign to read only property|add property|delete property|define property)|object is not extensible/.test(
    error.message,
  )
    ? " (a record that more than one transform reads is frozen, as is one object a function returns for several records, so that none of them changes what another sees: return a changed copy instead, as { ...record, field: value } or [...values].sort())"
    : "";
}

/**
 * Freezes `output` when it is the object its transform gave just before (a constant kept outside
 * the function, one object reused for each record): two records in a row that are one object.
 */
export function freezeIfLast(output: unknown, last: unknown): void {
  if (isLast(output, last)) freezeShared(output as object);
}

/** Whether `output` is `last`, the object its transform gave just before (not a primitive). */
export function isLast(output: unknown, last: unknown): boolean {
  return output === last && typeof output === "object" && output !== null;
}

/**
 * Freezes each object found more than once among the first `count` of `outputs`, or given as the
 * first of them and as `last`, the last record of the call before: what a function emitted twice
 * in one call (to two tags, or twice in a flatMap's result) or in two calls in a row is two
 * records that are one object, which a change to one would make a change to both. Called before
 * any of them moves on; answers the `last` for the next call. A handful are compared pairwise;
 * more go through a set.
 */
export function freezeRepeated(outputs: readonly unknown[], count: number, last: unknown): unknown {
  if (count === 0) return last;
  freezeIfLast(outputs[0], last);
  if (count === 1) return outputs[0];
  if (count <= PAIRWISE_AT_MOST) {
    for (let index = 1; index < count; index++) {
      const output = outputs[index];
      if (typeof output !== "object" || output === null) continue;
      for (let earlier = 0; earlier < index; earlier++) {
        if (outputs[earlier] === output) {
          freezeShared(output);
          break;
        }
      }
    }
    return outputs[count - 1];
  }
  let seen: Set<unknown> | undefined;
  for (let index = 0; index < count; index++) {
    const output = outputs[index];
    if (typeof output !== "object" || output === null) continue;
    seen ??= new Set();
    if (seen.has(output)) freezeShared(output);
    else seen.add(output);
  }
  return outputs[count - 1];
}

const PAIRWISE_AT_MOST = 8;

/** Whether the first of `count` outputs is `last`, the object the call before ended with. */
export function repeatsLast(outputs: readonly unknown[], count: number, last: unknown): boolean {
  return count > 0 && isLast(outputs[0], last);
}
