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

/**
 * Name resolution for routing and DIRECT dials: `hosts` first, then the system resolver. The DNS
 * issue replaces the second step with ferry's own resolvers; the call sites stay as they are.
 */
export class HostResolver {
  constructor(
    private readonly hosts: Hosts,
    private readonly options: ResolveOptions,
  ) {}

  /**
   * Resolve to one address of the families `version` allows (IPv4 first unless ipv6-prefer).
   * Rejects with a message naming the host; an IP literal of a refused family is an error too.
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
      return pool[Math.floor(Math.random() * pool.length)]!;
    }
    if (mapped) host = mapped;
    let results: { address: string; family: number }[];
    try {
      results = await Bun.dns.lookup(host, only ? { family: only } : {});
    } catch (err) {
      throw new UserError(`resolve ${host}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const pick = results.find((r) => r.family === first) ?? results.find((r) => !only || r.family === only);
    if (!pick) throw new UserError(`resolve ${host}: no ${only ? `IPv${only} ` : ""}address`);
    return pick.address;
  }

  /** Hosts-only lookup (no network), used before rule matching: an address, or undefined. */
  fromHosts(host: string): string | undefined {
    const v = this.hosts.pick(host);
    return v && isIP(v) ? v : undefined;
  }
}
