import { isIP } from "node:net";
import { UserError } from "../sdk/types.ts";
import type { Hosts } from "./hosts.ts";

export interface ResolveOptions {
  /** Global `ipv6` switch: false means A records only. */
  ipv6: boolean;
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

  /** Resolve to one address, IPv4 preferred. Rejects with a message naming the host. */
  async resolve(host: string): Promise<string> {
    if (isIP(host)) return host;
    const fromHosts = this.hosts.pick(host);
    if (fromHosts && isIP(fromHosts)) return fromHosts;
    if (fromHosts) host = fromHosts;
    if (!this.options.ipv6 && isIP(host) === 6) throw new UserError(`resolve ${host}: IPv6 is disabled`);
    let results: { address: string; family: number }[];
    try {
      results = await Bun.dns.lookup(host, this.options.ipv6 ? {} : { family: 4 });
    } catch (err) {
      throw new UserError(`resolve ${host}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const v4 = results.find((r) => r.family === 4);
    const pick = v4 ?? results[0];
    if (!pick) throw new UserError(`resolve ${host}: no address`);
    return pick.address;
  }

  /** Hosts-only lookup (no network), used before rule matching: an address, or undefined. */
  fromHosts(host: string): string | undefined {
    const v = this.hosts.pick(host);
    return v && isIP(v) ? v : undefined;
  }
}
