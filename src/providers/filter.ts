import { UserError } from "../sdk/types.ts";

/**
 * A mihomo regex (Go regexp2, .NET flavour) as a JS RegExp. Leading inline flags such as `(?i)`
 * are the one syntax JS lacks that configs use widely; they become RegExp flags. Throws a
 * UserError naming the pattern when it does not compile.
 */
export function compileRegex(source: string): RegExp {
  let flags = "u";
  let body = source;
  const inline = /^\(\?([imsx]+)\)/.exec(body);
  if (inline) {
    body = body.slice(inline[0].length);
    for (const f of inline[1]!) if (f !== "x" && !flags.includes(f)) flags += f;
  }
  try {
    return new RegExp(body, flags);
  } catch {
    try {
      // Some .NET escapes are invalid under the `u` flag (`\_`, `\-` outside classes).
      return new RegExp(body, flags.replace("u", ""));
    } catch (err) {
      throw new UserError(`invalid regex "${source}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** `filter`: regexes separated by backticks; empty → undefined (keep everything). */
export function compileFilter(text: string | undefined): RegExp[] | undefined {
  if (!text) return undefined;
  const parts = text.split("`").filter((p) => p !== "");
  return parts.length > 0 ? parts.map(compileRegex) : undefined;
}

/** `exclude-type`: `|`-separated type names, compared case-insensitively. */
export function compileTypes(text: string | undefined): Set<string> | undefined {
  if (!text) return undefined;
  const types = text.split("|").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
  return types.length > 0 ? new Set(types) : undefined;
}

/**
 * Keep the items whose name matches one of the regexes, ordered by the first regex they match
 * (mihomo's order for backtick-separated filters); stable within one regex.
 */
export function applyFilter<T>(items: readonly T[], name: (item: T) => string, filters: RegExp[] | undefined): T[] {
  if (!filters) return [...items];
  if (filters.length === 1) return items.filter((i) => filters[0]!.test(name(i)));
  const buckets: T[][] = filters.map(() => []);
  for (const item of items) {
    const n = name(item);
    const at = filters.findIndex((r) => r.test(n));
    if (at >= 0) buckets[at]!.push(item);
  }
  return buckets.flat();
}
