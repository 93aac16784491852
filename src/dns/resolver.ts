import { isIP } from "node:net";
import { UserError } from "../sdk/types.ts";
import type { Hosts } from "./hosts.ts";

export interface ResolveOptions {
  /** Global `ipv6` switch: false means A records only. */
  ipv6: boolean;
}

/** A proxy's `ip-version` (config.md §6.2); anything else means dual, as in mihomo. */
export type IpVersion = "dual" | "ipv4" | "ipv6" | "ipv4-prefer" | "ipv6-prefer";
const IP_VERSIONS = new Set<string>(["dual", "ipv4", "ipv6", "ipv4-prefer", "ipv6-prefer"]);

export function ipVersionOf(value: unknown): IpVersion {
  return typeof value === "string" && IP_VERSIONS.has(value) ? (value as IpVersion) : "dual";
}

/** Addresses of `host` for one family; rejects when the name does not exist or the lookup fails. */
export type AddressLookup = (host: string, family: 4 | 6) => Promise<string[]>;

/** The OS resolver: what mihomo uses for everything while `dns.enable` is false. */
export const systemLookup: AddressLookup = async (host, family) => {
  const results = await Bun.dns.lookup(host, { family });
  return results.filter((r) => r.family === family).map((r) => r.address);
};

/**
 * Name resolution for routing and dials: `hosts` first, then `lookup` — the system resolver while
 * `dns` is off, else one of ferry's resolvers (main, proxy-server, direct or bootstrap).
 */
export class HostResolver {
  constructor(
    private readonly hosts: Hosts,
    private readonly options: ResolveOptions,
    private readonly lookup: AddressLookup = systemLookup,
  ) {}

  /**
   * Resolve to one address of the families `version` allows: a random IPv4 first unless
   * ipv6-prefer (config.md §5.3). Rejects with a message naming the host; an IP literal of a
   * refused family is an error too.
   */
  async resolve(host: string, version: IpVersion = "dual"): Promise<string> {
    const only = !this.options.ipv6 || version === "ipv4" ? 4 : version === "ipv6" ? 6 : 0;
    const literal = isIP(host);
    if (literal) {
      if (only && literal !== only) throw new UserError(`${host}: IP version mismatch (${only === 4 ? "IPv4 only" : "IPv6 only"})`);
      return host;
    }
    const first = version === "ipv6-prefer" ? 6 : 4;
    const mapped = this.hosts.lookup(host);
    if (Array.isArray(mapped)) {
      const allowed = mapped.filter((ip) => !only || isIP(ip) === only);
      const preferred = allowed.filter((ip) => isIP(ip) === first);
      const pool = preferred.length > 0 ? preferred : allowed;
      if (pool.length === 0) throw new UserError(`${host}: hosts has no ${only ? `IPv${only} ` : ""}address`);
      return pickOne(pool);
    }
    if (mapped) host = mapped;
    const families: (4 | 6)[] = only ? [only] : first === 6 ? [6, 4] : [4, 6];
    let lastError: unknown;
    for (const family of families) {
      try {
        const ips = await this.lookup(host, family);
        if (ips.length > 0) return pickOne(ips);
      } catch (err) {
        lastError = err;
      }
    }
    if (lastError) throw new UserError(`resolve ${host}: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
    throw new UserError(`resolve ${host}: no ${only ? `IPv${only} ` : ""}address`);
  }

  /** Hosts-only lookup (no network), used before rule matching: an address, or undefined. */
  fromHosts(host: string): string | undefined {
    const v = this.hosts.pick(host);
    return v && isIP(v) ? v : undefined;
  }
}

function pickOne(list: string[]): string {
  return list.length === 1 ? list[0]! : list[Math.floor(Math.random() * list.length)]!;
}
