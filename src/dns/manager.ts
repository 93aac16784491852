import type { RecordType } from "dns-packet";
import { DnsCache } from "./cache.ts";
import { addressesOf, buildQuery, type DnsMessage, minTtl, RCODE, rcodeOf, setTtl } from "./message.ts";
import type { NameserverGroup } from "./upstream.ts";

export interface PolicyEntry {
  /** The key as written, for logs. */
  key: string;
  /** The servers for a name this entry covers. */
  lookup(host: string): NameserverGroup | undefined;
  /** Every group the entry may return (to close them). */
  groups: readonly NameserverGroup[];
}

export interface DnsResolverOptions {
  main: NameserverGroup;
  fallback?: NameserverGroup;
  policy?: readonly PolicyEntry[];
  /** `fallback-filter.domain`/`geosite`: names asked of `fallback` only. */
  fallbackDomain?: (host: string) => boolean;
  /** `fallback-filter` geoip/ipcidr: true when an address of the main answer is not to be trusted. */
  fallbackIpRejected?: (ip: string) => boolean;
  cache?: DnsCache;
  /** Told about failed background refreshes. */
  onError?: (message: string) => void;
}

/** TTL for a cached answer without records (mihomo caches negative answers this long). */
const EMPTY_TTL = 60;

/**
 * mihomo's resolver (config.md §5.3): per question, a cached answer (served even when stale, then
 * refreshed in the background), else one shared exchange: `nameserver-policy` first, then
 * `fallback-filter.domain`, then `nameserver` — for A/AAAA checked against the fallback filter and
 * replaced by `fallback`'s answer when it fails it.
 */
export class DnsResolver {
  readonly cache: DnsCache;
  private readonly inflight = new Map<string, Promise<DnsMessage>>();

  constructor(private readonly options: DnsResolverOptions) {
    this.cache = options.cache ?? new DnsCache();
  }

  /** Answer one question. The result is a fresh object the caller may change (id, TTLs). */
  async exchange(query: DnsMessage): Promise<DnsMessage> {
    const q = query.questions?.[0];
    if (!q) throw new Error("query has no question");
    const name = q.name.toLowerCase().replace(/\.$/, "");
    const key = `${name}|${q.type}|${q.class ?? "IN"}`;
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.ttl <= 0) this.shared(key, name, q.type).catch((err) => this.options.onError?.(`refresh ${name} ${q.type}: ${messageOf(err)}`));
      return withTtl(hit.message, query, hit.ttl > 0 ? hit.ttl : 1, true);
    }
    const answer = await this.shared(key, name, q.type);
    return withTtl(answer, query, undefined, false);
  }

  /** Addresses of `host` for one family (A or AAAA), through the cache. */
  async lookup(host: string, type: "A" | "AAAA"): Promise<string[]> {
    const answer = await this.exchange(buildQuery(host, type, { ednsSize: 0 }));
    const rcode = rcodeOf(answer);
    if (rcode !== RCODE.NOERROR) throw new Error(rcode === RCODE.NXDOMAIN ? "no such host" : `rcode ${rcode}`);
    return addressesOf(answer);
  }

  flush(): void {
    this.cache.clear();
  }

  async close(): Promise<void> {
    const groups = new Set<NameserverGroup>([this.options.main]);
    if (this.options.fallback) groups.add(this.options.fallback);
    for (const p of this.options.policy ?? []) for (const g of p.groups) groups.add(g);
    await Promise.allSettled([...groups].map((g) => g.close()));
  }

  /** Concurrent identical questions share one upstream exchange; the answer is cached. */
  private shared(key: string, name: string, type: RecordType): Promise<DnsMessage> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.resolveUncached(name, type).then(
        (answer) => {
          this.inflight.delete(key);
          const ttl = minTtl(answer, EMPTY_TTL);
          if (ttl > 0) this.cache.set(key, answer, ttl);
          return answer;
        },
        (err) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async resolveUncached(name: string, type: RecordType): Promise<DnsMessage> {
    const query = buildQuery(name, type);
    const o = this.options;
    for (const p of o.policy ?? []) {
      const group = p.lookup(name);
      if (group) return group.exchange(query);
    }
    if (o.fallback && o.fallbackDomain?.(name)) return o.fallback.exchange(query);
    if (!o.fallback || (type !== "A" && type !== "AAAA")) return o.main.exchange(query);
    try {
      const main = await o.main.exchange(query);
      const ips = addressesOf(main);
      if (rcodeOf(main) === RCODE.NOERROR && ips.length > 0 && !ips.some((ip) => o.fallbackIpRejected?.(ip))) return main;
    } catch {
      // A failed main answer is what `fallback` is for.
    }
    return o.fallback.exchange(query);
  }
}

/** A copy of `answer` for `query`: its id and question, TTLs rewritten when served from cache. */
function withTtl(answer: DnsMessage, query: DnsMessage, ttl: number | undefined, copy: boolean): DnsMessage {
  const out: DnsMessage = copy
    ? {
        ...answer,
        answers: answer.answers?.map((r) => ({ ...r })),
        authorities: answer.authorities?.map((r) => ({ ...r })),
        additionals: answer.additionals?.filter((r) => r.type !== "OPT").map((r) => ({ ...r })),
      }
    : { ...answer, additionals: answer.additionals?.filter((r) => r.type !== "OPT") };
  out.id = query.id ?? 0;
  out.questions = query.questions;
  out.type = "response";
  if (ttl !== undefined) setTtl(out, ttl);
  return out;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
