/** Plain-array models of sluice's transforms, and multiset comparison of results. */
import { canonicalJson, compareValues } from "../../src/index.js";

/** Canonical text of each record, sorted: equal multisets give equal arrays. */
export function multiset(records: readonly unknown[]): string[] {
  return records.map(canonicalJson).sort();
}

/** Sorts the arrays nested in grouped records, so that value order (unspecified) does not matter. */
export function normalizeGroups(value: unknown): unknown {
  if (Array.isArray(value)) {
    const normalized = value.map(normalizeGroups);
    return normalized.every((element) => Array.isArray(element))
      ? normalized
      : normalized.sort((a, b) => compareValues(a, b));
  }
  return value;
}

/** Groups `[key, value]` pairs by key (compared by canonical JSON), in first-seen order. */
export function groupModel<K, V>(pairs: readonly (readonly [K, V])[]): [K, V[]][] {
  const groups = new Map<string, [K, V[]]>();
  for (const [key, value] of pairs) {
    const id = canonicalJson(key);
    const group = groups.get(id) ?? [key, []];
    group[1].push(value);
    groups.set(id, group);
  }
  return [...groups.values()];
}
