/*
 * DOMAIN and DOMAIN-SUFFIX rules as hash maps from name to the first rule index using it; a lookup
 * tries the host and each parent at a dot, so it costs O(labels), not O(rules). Measured in bun-probe
 * §8: ~0.3 µs per lookup at 1,000 rules, ~2 µs at 1M; a label trie was 5× the memory.
 */
export class DomainIndex {
  private readonly exact = new Map<string, number>();
  private readonly suffixes = new Map<string, number>();

  /** Rules must be added in rule order: the first index per name wins. */
  addExact(domain: string, rule: number): void {
    if (!this.exact.has(domain)) this.exact.set(domain, rule);
  }

  addSuffix(suffix: string, rule: number): void {
    if (!this.suffixes.has(suffix)) this.suffixes.set(suffix, rule);
  }

  get size(): number {
    return this.exact.size + this.suffixes.size;
  }

  /**
   * Smallest rule index whose domain equals `host` or whose suffix is `host` or a parent of it at a
   * label boundary; -1 if none. A suffix written with a leading dot is never produced as a key here,
   * which is mihomo's "never matches".
   */
  lookup(host: string): number {
    let best = this.exact.get(host) ?? -1;
    const suffixes = this.suffixes;
    if (suffixes.size === 0) return best;
    const own = suffixes.get(host);
    if (own !== undefined && (best < 0 || own < best)) best = own;
    for (let dot = host.indexOf("."); dot >= 0; dot = host.indexOf(".", dot + 1)) {
      const hit = suffixes.get(host.substring(dot + 1));
      if (hit !== undefined && (best < 0 || hit < best)) best = hit;
    }
    return best;
  }
}
