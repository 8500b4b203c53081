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
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
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
