import { UserError } from "../sdk/types.ts";

/**
 * The Clash domain-pattern language (config.md §19), used by `hosts` and later by fake-ip-filter,
 * nameserver-policy and sniffer lists: `a.com` exact; `*.a.com` exactly one label there (a `*`
 * may stand in any position); `.a.com` any depth of subdomain, not the apex; `+.a.com` apex and
 * any subdomain. Priority when several match: exact > `*` > `.`/`+`.
 */
interface Node<T> {
  children?: Map<string, Node<T>>;
  /** Value for a name ending exactly here. */
  exact?: T;
  /** Value for any subdomain (one or more labels) below here. */
  deep?: T;
}

export class DomainTrie<T> {
  private readonly root: Node<T> = {};
  size = 0;

  /** Throws UserError for an invalid pattern. Later inserts of the same pattern replace earlier ones. */
  insert(pattern: string, value: T): void {
    const p = pattern.toLowerCase();
    if (p !== p.trim() || p === "" || p.endsWith(".")) throw new UserError(`invalid domain pattern "${pattern}"`);
    let labels: string[];
    let deep = false;
    let apex = false;
    if (p.startsWith("+.")) {
      labels = p.slice(2).split(".");
      deep = apex = true;
    } else if (p.startsWith(".")) {
      labels = p.slice(1).split(".");
      deep = true;
    } else {
      labels = p.split(".");
    }
    if (labels.some((l) => l === "")) throw new UserError(`invalid domain pattern "${pattern}"`);
    let node = this.root;
    for (let i = labels.length - 1; i >= 0; i--) {
      node.children ??= new Map();
      const label = labels[i]!;
      let next = node.children.get(label);
      if (!next) {
        next = {};
        node.children.set(label, next);
      }
      node = next;
    }
    if (deep) node.deep = value;
    if (!deep || apex) node.exact = value;
    this.size++;
  }

  /** The best match for a lower-case host, or undefined. */
  search(host: string): T | undefined {
    if (this.size === 0) return undefined;
    const labels = host.split(".");
    return this.walk(this.root, labels, labels.length - 1)?.value;
  }

  /** Depth-first: exact labels before `*`, and any full match before a `deep` match found higher up. */
  private walk(node: Node<T>, labels: string[], i: number): { value: T; rank: number } | undefined {
    if (i < 0) return node.exact !== undefined ? { value: node.exact, rank: 2 } : undefined;
    let best: { value: T; rank: number } | undefined;
    const children = node.children;
    if (children) {
      const exact = children.get(labels[i]!);
      if (exact) best = this.walk(exact, labels, i - 1);
      if (!best || best.rank < 2) {
        const star = children.get("*");
        const viaStar = star ? this.walk(star, labels, i - 1) : undefined;
        if (viaStar && (!best || viaStar.rank > best.rank)) best = { value: viaStar.value, rank: Math.min(viaStar.rank, 1) };
      }
    }
    if (!best && node.deep !== undefined) best = { value: node.deep, rank: 0 };
    return best;
  }
}
