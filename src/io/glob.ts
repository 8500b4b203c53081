/**
 * Glob patterns over `/`-separated paths: `*` and `?` stay within one segment, `**` spans any
 * number of segments, `{a,b}` is a choice. Small enough to keep here; paths are matched relative
 * to the pattern's literal base.
 */

/** The part of a pattern before its first wildcard, cut at a segment boundary. */
export function literalBase(pattern: string): string {
  const firstWildcard = pattern.search(/[*?{[]/);
  if (firstWildcard < 0) return pattern;
  const slash = pattern.lastIndexOf("/", firstWildcard);
  return slash < 0 ? "" : pattern.slice(0, slash);
}

export function hasWildcards(pattern: string): boolean {
  return /[*?{[]/.test(pattern);
}

export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const character = pattern[index]!;
    if (character === "*") {
      if (pattern[index + 1] === "*") {
        // `**/` matches zero or more whole segments; a trailing `**` matches anything.
        if (pattern[index + 2] === "/") {
          source += "(?:.*/)?";
          index += 2;
        } else {
          source += ".*";
          index += 1;
        }
      } else {
        source += "[^/]*";
      }
    } else if (character === "?") {
      source += "[^/]";
    } else if (character === "{") {
      const close = pattern.indexOf("}", index);
      if (close < 0) {
        source += "\\{";
        continue;
      }
      const choices = pattern.slice(index + 1, close).split(",");
      source += `(?:${choices.map((choice) => choice.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")).join("|")})`;
      index = close;
    } else {
      source += character.replace(/[.+^$()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}
