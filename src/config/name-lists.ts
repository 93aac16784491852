import { DomainTrie } from "../dns/domain-trie.ts";
import type { GeoMatcher, RuleEnv, RuleSetRef } from "../sdk/types.ts";

/**
 * The lists of names that `dns` and `sniffer` share (fake-ip-filter, fallback-filter.domain,
 * nameserver-policy keys, force-domain, skip-domain): Clash domain patterns, `geosite:a,b` and
 * `rule-set:a,b` entries, checked against the rule providers and geodata the rules see.
 */
export type HostMatcher = (host: string) => boolean;

export interface NameListContext {
  env: RuleEnv;
  error(path: string, message: string): void;
  warn(path: string, message: string): void;
}

/** The names after `prefix:` (`geosite:cn,google`), trimmed. */
export function namesAfter(entry: string, prefix: string): string[] {
  return entry
    .slice(prefix.length)
    .split(",")
    .map((n) => n.trim());
}

/** A geodata matcher, its warning (e.g. an attribute that matches nothing) reported at `path`. */
export function warnOf(m: GeoMatcher, path: string, c: NameListContext): GeoMatcher {
  if (m.warning) c.warn(path, m.warning);
  return m;
}

/** A rule-set by name for a list: `unusable` behaviour is an error, classical a warning. */
export function ruleSetFor(name: string, unusable: RuleSetRef["behavior"], path: string, c: NameListContext): RuleSetRef | undefined {
  const set = c.env.ruleSet(name);
  if (!set) c.error(path, `rule-set "${name}" is not defined in rule-providers`);
  else if (set.behavior === unusable) c.error(path, `rule-set "${name}" has behavior ${unusable}, which cannot match here`);
  else if (set.behavior === "classical") c.warn(path, `rule-set "${name}" is classical: only its ${unusable === "ipcidr" ? "domain" : "IP"} rules can match here`);
  return set && set.behavior !== unusable ? set : undefined;
}

/**
 * A `geosite:a,b` / `rule-set:a,b` entry as one predicate; undefined for a plain pattern; null
 * when the entry was invalid (already reported at `path`).
 */
export function nameSetMatcher(entry: string, path: string, c: NameListContext): HostMatcher | undefined | null {
  const lower = entry.toLowerCase();
  const matchers: HostMatcher[] = [];
  let valid = true;
  if (lower.startsWith("geosite:")) {
    for (const code of namesAfter(entry, "geosite:")) {
      try {
        matchers.push(warnOf(c.env.geo.site(code), path, c));
      } catch (err) {
        // One report per entry: a missing GeoSite.dat would fail every code the same way.
        c.error(path, (err as Error).message);
        return null;
      }
    }
  } else if (lower.startsWith("rule-set:")) {
    for (const name of namesAfter(entry, "rule-set:")) {
      const set = ruleSetFor(name, "ipcidr", path, c);
      if (set) matchers.push((h) => set.matchDomain(h));
      else valid = false;
    }
  } else {
    return undefined;
  }
  if (!valid) return null;
  return matchers.length === 1 ? matchers[0]! : (h) => matchers.some((m) => m(h));
}

/** A whole list as one predicate: the patterns in one trie, then the sets in order. */
export function nameList(entries: string[], path: string, c: NameListContext): HostMatcher {
  const trie = new DomainTrie<true>();
  const others: HostMatcher[] = [];
  entries.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    const m = nameSetMatcher(entry, at, c);
    if (m) others.push(m);
    if (m !== undefined) return;
    try {
      trie.insert(entry, true);
    } catch (err) {
      c.error(at, (err as Error).message);
    }
  });
  if (others.length === 0) return (h) => trie.search(h) !== undefined;
  return (h) => trie.search(h) !== undefined || others.some((m) => m(h));
}
