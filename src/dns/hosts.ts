import { networkInterfaces } from "node:os";
import { isIP } from "node:net";
import { UserError } from "../sdk/types.ts";
import { DomainTrie } from "./domain-trie.ts";

type HostsValue = { ips: string[] } | { alias: string };

/**
 * The `hosts` section (config.md §4): keys are Clash domain patterns; values an IP, a list of IPs
 * (one picked at random per lookup), a domain alias (CNAME-like), or `lan`. `localhost` is always
 * present. Alias chains are followed; a cycle is a load error.
 */
export class Hosts {
  private readonly trie = new DomainTrie<HostsValue>();

  constructor(entries: Record<string, unknown> = {}) {
    this.trie.insert("localhost", { ips: ["127.0.0.1"] });
    for (const [pattern, raw] of Object.entries(entries)) {
      this.trie.insert(pattern, parseValue(pattern, raw));
    }
    for (const pattern of Object.keys(entries)) this.follow(pattern.replace(/^\+\.|^\./, "x."), pattern);
  }

  /**
   * What a host maps to after following aliases: its addresses, or the final alias name when the
   * chain leaves `hosts` (that name is then resolved by DNS); undefined when the host is not listed.
   */
  lookup(host: string): string[] | string | undefined {
    return this.follow(host, host);
  }

  /** One address for a host (random among several); an alias target name; or undefined. */
  pick(host: string): string | undefined {
    const v = this.lookup(host);
    if (v === undefined || typeof v === "string") return v;
    if (v.length === 0) return undefined;
    return v.length === 1 ? v[0] : v[Math.floor(Math.random() * v.length)];
  }

  private follow(host: string, origin: string): string[] | string | undefined {
    const seen: string[] = [];
    let name = host;
    for (;;) {
      const v = this.trie.search(name);
      if (!v) return seen.length === 0 ? undefined : name;
      if ("ips" in v) return v.ips;
      if (seen.includes(v.alias)) {
        throw new UserError(`hosts["${origin}"]: alias cycle ${[...seen, v.alias].join(" -> ")}`);
      }
      seen.push(v.alias);
      name = v.alias;
    }
  }
}

function parseValue(key: string, raw: unknown): HostsValue {
  const where = `hosts["${key}"]`;
  if (Array.isArray(raw)) {
    const ips = raw.map(String);
    const bad = ips.find((ip) => !isIP(ip));
    if (bad !== undefined) throw new UserError(`${where}: "${bad}" is not an IP (lists may hold only IPs)`);
    return { ips };
  }
  if (typeof raw !== "string" || raw === "") throw new UserError(`${where}: expected an IP, a list of IPs, a domain or "lan"`);
  if (isIP(raw)) return { ips: [raw] };
  if (raw === "lan") return { ips: lanAddresses() };
  if (raw.split(".").length >= 2 && /^[a-z0-9.-]+$/i.test(raw)) return { alias: raw.toLowerCase() };
  throw new UserError(`${where}: "${raw}" is neither an IP, a domain with two or more labels, nor "lan"`);
}

/** Every non-loopback, non-link-local address of this host's interfaces. */
function lanAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || a.address.startsWith("fe80:") || a.address.startsWith("169.254.")) continue;
      out.push(a.address);
    }
  }
  return out;
}
