import { isIP } from "node:net";
import type { Hosts } from "./hosts.ts";
import type { FakeIpPool } from "./fakeip.ts";
import type { DnsMapping } from "./mapping.ts";
import type { DnsResolver } from "./manager.ts";
import {
  type DecodedMessage,
  type DnsAnswer,
  type DnsMessage,
  decodeMessage,
  encodeMessage,
  RCODE,
  replyTo,
} from "./message.ts";

export interface DnsHandlerOptions {
  resolver: DnsResolver;
  /** `dns.use-hosts`: answer A/AAAA from `hosts`. */
  hosts?: Hosts;
  /** `dns.ipv6 AND ipv6`: false answers AAAA with an empty NOERROR. */
  ipv6(): boolean;
  /** fake-ip mode: the pool (read per query: a reload may hand over the previous one). */
  pool(): FakeIpPool | undefined;
  /** True when a name is exempt from fake IPs (`fake-ip-filter` and its mode). */
  fakeIpSkip(host: string): boolean;
  /** Addresses handed out → names (redir-host, and fake-ip's exempt names); undefined in normal mode. */
  mapping(): DnsMapping | undefined;
}

/** TTLs mihomo gives synthetic answers: hosts 10 s, fake IPs 1 s. */
const HOSTS_TTL = 10;
const FAKE_TTL = 1;

/**
 * What ferry's DNS server (and the controller's DoH endpoint) answers, in mihomo's middleware order
 * (config.md §5.4): hosts, then fake-ip, then the resolver, with redir-host mapping recorded on the
 * way out.
 */
export class DnsHandler {
  constructor(private readonly o: DnsHandlerOptions) {}

  /** Wire in, wire out; a malformed query throws (the server drops it). */
  async handleWire(bytes: Uint8Array): Promise<Uint8Array> {
    return encodeMessage(await this.handle(decodeMessage(bytes)));
  }

  async handle(query: DecodedMessage): Promise<DnsMessage> {
    const q = query.questions?.[0];
    if (!q || query.type === "response") return replyTo(query, RCODE.FORMERR);
    const name = q.name.toLowerCase().replace(/\.$/, "");
    const type = q.type;
    if (type === "AAAA" && !this.o.ipv6()) return replyTo(query, RCODE.NOERROR);
    if (type === "A" || type === "AAAA") {
      const fromHosts = this.fromHosts(query, name, type);
      if (fromHosts) return fromHosts;
    }
    const pool = this.o.pool();
    if (pool && !this.o.fakeIpSkip(name)) {
      if (type === "A") return replyTo(query, RCODE.NOERROR, [record(q.name, "A", pool.lookup(name), FAKE_TTL)]);
      if (type === "AAAA") {
        const ip6 = pool.lookup6(name);
        return replyTo(query, RCODE.NOERROR, ip6 ? [record(q.name, "AAAA", ip6, FAKE_TTL)] : []);
      }
      // SVCB (64) and HTTPS (65), which dns-packet names by number.
      if ((type as string) === "UNKNOWN_64" || (type as string) === "UNKNOWN_65") return replyTo(query, RCODE.NOERROR);
    }
    if (pool && type === "PTR") {
      const host = pool.lookBack(ptrToIp(name) ?? "");
      if (host) return replyTo(query, RCODE.NOERROR, [{ name: q.name, type: "PTR", ttl: FAKE_TTL, class: "IN", data: host }]);
    }
    let answer: DnsMessage;
    try {
      answer = await this.o.resolver.exchange(query);
    } catch {
      // Every upstream failed or timed out: say so at once rather than leave the client waiting.
      return replyTo(query, RCODE.SERVFAIL);
    }
    this.record(answer, name);
    return answer;
  }

  private fromHosts(query: DnsMessage, name: string, type: "A" | "AAAA"): DnsMessage | Promise<DnsMessage> | undefined {
    const hosts = this.o.hosts;
    if (!hosts) return undefined;
    const v = hosts.lookup(name);
    if (v === undefined) return undefined;
    const qname = query.questions![0]!.name;
    if (Array.isArray(v)) {
      const family = type === "A" ? 4 : 6;
      const ips = v.filter((ip) => isIP(ip) === family);
      const mapping = this.o.mapping();
      if (mapping) for (const ip of ips) mapping.set(ip, name, HOSTS_TTL);
      return replyTo(query, RCODE.NOERROR, ips.map((ip) => record(qname, type, ip, HOSTS_TTL)));
    }
    // An alias: a CNAME to the target, then the target's own answer.
    const cname: DnsAnswer = { name: qname, type: "CNAME", ttl: HOSTS_TTL, class: "IN", data: v };
    return this.o.resolver.exchange({ ...query, questions: [{ name: v, type, class: "IN" }] }).then((answer) => {
      this.record(answer, name);
      return replyTo(query, (answer.flags ?? 0) & 0xf, [cname, ...(answer.answers ?? [])]);
    });
  }

  private record(answer: DnsMessage, name: string): void {
    const mapping = this.o.mapping();
    if (!mapping) return;
    for (const r of answer.answers ?? []) {
      if (r.type === "A" || r.type === "AAAA") mapping.set(r.data as string, name, r.ttl ?? FAKE_TTL);
    }
  }
}

function record(name: string, type: "A" | "AAAA", ip: string, ttl: number): DnsAnswer {
  return { name, type, ttl, class: "IN", data: ip };
}

/** `4.3.2.1.in-addr.arpa` → `1.2.3.4`; IPv6 nibble form likewise; undefined for anything else. */
function ptrToIp(name: string): string | undefined {
  if (name.endsWith(".in-addr.arpa")) {
    const parts = name.slice(0, -".in-addr.arpa".length).split(".");
    return parts.length === 4 ? parts.reverse().join(".") : undefined;
  }
  if (name.endsWith(".ip6.arpa")) {
    const nibbles = name.slice(0, -".ip6.arpa".length).split(".").reverse();
    if (nibbles.length !== 32) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).join(""));
    return groups.join(":");
  }
  return undefined;
}
