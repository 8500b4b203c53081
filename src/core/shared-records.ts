/**
 * A record that more than one transform reads is one object given to each of them in turn (a
 * collection consumed twice, in the same stage). Were one of them to change it, the others would
 * see the change, or not, by the order they run in: a silently wrong answer, alike on every
 * runner. Such a record is frozen, with whatever plain objects and arrays it holds, before it is
 * passed on, as Beam holds elements immutable: a change then throws where it is made, and the
 * error says what to do instead. A collection read by one transform is not frozen: a change there
 * is seen by nobody else, and costs nothing to allow.
 */

/** Freezes `value` and the plain objects and arrays within it (a Map, a Date or a Buffer is left as it is). */
export function freezeShared(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  if (Array.isArray(value)) {
    Object.freeze(value);
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      if (typeof item === "object" && item !== null) freezeShared(item);
    }
    return;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return;
  Object.freeze(value);
  // Members are mostly strings and numbers: only objects are looked into, without a call for the rest.
  for (const key in value) {
    const member = (value as Record<string, unknown>)[key];
    if (typeof member === "object" && member !== null) freezeShared(member);
  }
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
    ? " (a record that more than one transform reads is frozen, so that none of them changes what another sees: return a changed copy instead, as { ...record, field: value } or [...values].sort())"
    : "";
}
