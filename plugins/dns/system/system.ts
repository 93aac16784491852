/**
 * The OS resolver (`system`). A and AAAA go through Bun.dns.lookup, so the answer is what any
 * program on the machine gets (hosts file, nsswitch); other types go, as mihomo's `system` sends
 * every query (dns/system.go), over UDP to the `nameserver` lines of /etc/resolv.conf, all at once,
 * the first usable answer winning. The file is read again at most every 5 minutes, as mihomo does.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type DnsAnswer, decodeMessage, encodeMessage, RCODE, rcodeOf, replyTo } from "../../../src/dns/message.ts";
import type { CreateContext, DialOptions, Resolver } from "../../../src/sdk/index.ts";
import { bounded, named } from "../common.ts";
import { UdpResolver } from "../udp/udp.ts";
import { questionType } from "../wire.ts";

/** TTL of a synthesized answer: getaddrinfo does not say how long its answer holds. */
const LOOKUP_TTL = 60;
const RESOLV_CONF = "/etc/resolv.conf";
const REREAD_MS = 5 * 60_000;

export interface Server {
  host: string;
  port: number;
}

/** The `nameserver` addresses of a resolv.conf text (port 53), in order; others lines are ignored. */
export function nameserversIn(text: string): Server[] {
  const out: Server[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "nameserver" && f[1] && isIP(f[1])) out.push({ host: f[1], port: 53 });
  }
  return out;
}

/** The machine's resolv.conf servers, read again when older than REREAD_MS. */
export function resolvConfServers(): () => Server[] {
  let servers: Server[] = [];
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (performance.now() - readAt > REREAD_MS) {
      readAt = performance.now();
      try {
        servers = nameserversIn(readFileSync(RESOLV_CONF, "utf8"));
      } catch {
        servers = [];
      }
    }
    return servers;
  };
}

export class SystemResolver implements Resolver {
  private readonly forwarders = new Map<string, UdpResolver>();

  constructor(
    private readonly what: string,
    private readonly servers: () => Server[],
    private readonly ctx: CreateContext,
  ) {}

  exchange(message: Uint8Array, options?: DialOptions): Promise<Uint8Array> {
    const type = questionType(message);
    if (type === 1 || type === 28) return bounded(this.what, options?.signal, () => this.lookup(message, type === 1 ? 4 : 6));
    return this.forward(message, options);
  }

  close(): void {
    for (const f of this.forwarders.values()) f.close();
    this.forwarders.clear();
  }

  private async lookup(message: Uint8Array, family: 4 | 6): Promise<Uint8Array> {
    const query = decodeMessage(message);
    const name = query.questions?.[0]?.name ?? "";
    let found: { address: string; family: number; ttl: number }[];
    try {
      found = await Bun.dns.lookup(name, { family });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "DNS_ENOTFOUND" && code !== "DNS_ENODATA") throw named(this.what, err);
      // No address of this family: NODATA when the name has others, else NXDOMAIN.
      const any = await Bun.dns.lookup(name).catch(() => []);
      return encodeMessage(replyTo(query, any.length > 0 ? RCODE.NOERROR : RCODE.NXDOMAIN));
    }
    const answers: DnsAnswer[] = [];
    for (const r of found) {
      if (r.family !== family) continue;
      const ttl = r.ttl > 0 ? r.ttl : LOOKUP_TTL;
      answers.push(family === 4 ? { type: "A", name, ttl, data: r.address } : { type: "AAAA", name, ttl, data: r.address });
    }
    return encodeMessage(replyTo(query, RCODE.NOERROR, answers));
  }

  /** Every resolv.conf server at once; the first answer that is not SERVFAIL/REFUSED wins (mihomo's batchExchange). */
  private async forward(message: Uint8Array, options?: DialOptions): Promise<Uint8Array> {
    const servers = this.servers();
    if (servers.length === 0) throw new Error(`${this.what}: ${RESOLV_CONF} lists no nameserver`);
    const done = new AbortController();
    const signal = options?.signal ? AbortSignal.any([options.signal, done.signal]) : done.signal;
    try {
      return await Promise.any(
        servers.map(async (s) => {
          const reply = await this.forwarder(s).exchange(message, { signal });
          const rcode = rcodeOf(decodeMessage(reply));
          if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) throw new Error(`${this.what}: ${s.host} answered ${rcode === RCODE.SERVFAIL ? "SERVFAIL" : "REFUSED"}`);
          return reply;
        }),
      );
    } catch (err) {
      throw err instanceof AggregateError ? (err.errors[0] as Error) : err;
    } finally {
      done.abort();
    }
  }

  private forwarder(s: Server): UdpResolver {
    const key = `${s.host}:${s.port}`;
    let f = this.forwarders.get(key);
    if (!f) {
      f = new UdpResolver(`${this.what}(udp://${isIP(s.host) === 6 ? `[${s.host}]` : s.host}:${s.port})`, s.host, s.port, "", this.ctx);
      this.forwarders.set(key, f);
    }
    return f;
  }
}
