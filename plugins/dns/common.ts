/**
 * What every upstream scheme shares: the `#…` parameters (config.md §5.2) as a schema, the name an
 * entry goes by in messages, the time bound on each exchange, and mihomo's per-entry wrappers for
 * `ecs`/`ecs-override` and `disable-ipv4`/`disable-ipv6`/`disable-qtype-N` (dns/util.go), which
 * it applies around every client, whatever its scheme.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { decodeMessage, EDNS_UDP_SIZE, encodeMessage, setEdns } from "../../src/dns/message.ts";
import { type DialOptions, type Logger, type Resolver, type Static, t } from "../../src/sdk/index.ts";
import { emptyReply, hasRecordType, questionType, recordTypes } from "./wire.ts";

/** mihomo's per-query timeout for plain, TLS and HTTPS upstreams. */
export const EXCHANGE_TIMEOUT_MS = 5000;
/** A kept connection with no query for this long is closed (servers close theirs after 10-30 s anyway). */
export const IDLE_MS = 60_000;

/**
 * The options the core passes: every `#key=value` parameter as the string written (mihomo tests
 * `== "true"`), and `proxy` (`#NAME`, `RULES`, or ""). Parameters not listed here are accepted and
 * ignored, as mihomo ignores them; `disable-qtype-<n>` keys are read by pattern.
 */
export const commonOptions = {
  proxy: t.Optional(t.String()),
  ecs: t.Optional(t.String()),
  "ecs-override": t.Optional(t.String()),
  "disable-ipv4": t.Optional(t.String()),
  "disable-ipv6": t.Optional(t.String()),
  "skip-cert-verify": t.Optional(t.String()),
};
export const resolverOptions = t.Object(commonOptions);
export type ResolverOptions = Static<typeof resolverOptions>;

export const flag = (o: object, key: string): boolean => (o as Record<string, unknown>)[key] === "true";

/** The entry as messages name it (mihomo's `Address()`): scheme, host, port and path; never userinfo or parameters. */
export function labelOf(url: URL, port: number): string {
  const path = url.pathname === "/" ? "" : url.pathname;
  return `${url.protocol}//${url.hostname}:${port}${path}`;
}

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") ? h.slice(1, -1) : h;
}

export function portOf(url: URL, fallback: number): number {
  return url.port ? Number(url.port) : fallback;
}

/** Why an exchange was cut short by its own deadline (as opposed to the caller's signal). */
export class ExchangeTimeout extends Error {
  override name = "ExchangeTimeout";
}

/** A kept connection went away under a query: it may be sent once more on a new connection. */
export class ConnectionLost extends Error {
  override name = "ConnectionLost";
}

/** An error whose message starts with the entry's name (once, however deep it was wrapped). */
export function named(what: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith(what) ? (err as Error) : new Error(`${what}: ${message}`);
}

const reasonOf = (s: AbortSignal): Error => (s.reason instanceof Error ? s.reason : new Error("aborted"));

/**
 * Run one exchange under a deadline and the caller's signal: `run` gets a signal that aborts at
 * whichever comes first (the deadline with an ExchangeTimeout) and must release what it holds when
 * it does; the returned promise settles then even if `run` does not.
 */
export function bounded<T>(what: string, outer: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>, ms = EXCHANGE_TIMEOUT_MS): Promise<T> {
  if (outer?.aborted) return Promise.reject(reasonOf(outer));
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new ExchangeTimeout(`${what}: no answer within ${ms / 1000} s`)), ms);
  const onAbort = () => c.abort(reasonOf(outer!));
  outer?.addEventListener("abort", onAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    c.signal.addEventListener("abort", () => reject(c.signal.reason), { once: true });
  });
  return Promise.race([run(c.signal), aborted]).finally(() => {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onAbort);
  });
}

/** `disable-ipv4`, `disable-ipv6` and `disable-qtype-<n>=true` as a set of query types. */
function disabledTypes(o: ResolverOptions): Set<number> {
  const types = new Set<number>();
  if (flag(o, "disable-ipv4")) types.add(1);
  if (flag(o, "disable-ipv6")) types.add(28);
  for (const [key, value] of Object.entries(o)) {
    const m = /^disable-qtype-(\d{1,5})$/.exec(key);
    if (m && value === "true" && Number(m[1]) > 0 && Number(m[1]) <= 0xffff) types.add(Number(m[1]));
  }
  return types;
}

/**
 * `ecs` as the subnet to send: `1.2.3.0/24`, or a bare address meaning /32 (/128), host bits
 * cleared as RFC 7871 requires. mihomo logs an invalid value and goes on without ECS; so do we.
 */
function ecsOf(text: string | undefined, what: string, log: Logger): string | undefined {
  if (!text) return undefined;
  const cidr = text.includes("/") ? text : `${text}/${isIP(text) === 6 ? 128 : 32}`;
  try {
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    const net = addr.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    return `${net.toString()}/${bits}`;
  } catch {
    log.warn(`${what}: ignoring invalid ecs "${text}" (expected an address or address/bits)`);
    return undefined;
  }
}

/** The reply without records of the disabled types (mihomo filters every section). */
function withoutTypes(reply: Uint8Array, types: ReadonlySet<number>): Uint8Array {
  const m = decodeMessage(reply);
  // dns-packet names types; the wire order of the records tells which decoded record has which code.
  const codes = recordTypes(reply);
  let i = 0;
  const keep = () => !types.has(codes[i++]!);
  m.answers = m.answers?.filter(keep);
  m.authorities = m.authorities?.filter(keep);
  m.additionals = m.additionals?.filter(keep);
  return encodeMessage(m);
}

/**
 * Apply an entry's `ecs` and `disable-*` parameters around `inner`, as mihomo wraps its clients:
 * a disabled query type is answered here with an empty NOERROR (nothing is sent), records of those
 * types are dropped from replies, and ECS is set on outgoing queries (kept when the query already
 * has one, unless `ecs-override=true`). Without those parameters `inner` is returned as is.
 */
export function withParams(inner: Resolver, o: ResolverOptions, what: string, log: Logger): Resolver {
  const disabled = disabledTypes(o);
  const ecs = ecsOf(o.ecs, what, log);
  if (disabled.size === 0 && !ecs) return inner;
  const override = flag(o, "ecs-override");
  return {
    async exchange(message: Uint8Array, options?: DialOptions): Promise<Uint8Array> {
      if (disabled.has(questionType(message))) return emptyReply(message);
      let query = message;
      if (ecs) {
        const m = decodeMessage(message);
        setEdns(m, EDNS_UDP_SIZE, ecs, override);
        query = encodeMessage(m);
      }
      const reply = await inner.exchange(query, options);
      return disabled.size > 0 && hasRecordType(reply, disabled) ? withoutTypes(reply, disabled) : reply;
    },
    close: () => inner.close?.(),
  };
}
