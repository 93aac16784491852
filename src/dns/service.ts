import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { type DnsConfig, fallbackIpRejected } from "../config/dns.ts";
import type { Registry } from "../core/registry.ts";
import type { CreateContext, Logger, RuleEnv } from "../sdk/types.ts";
import { UserError } from "../sdk/types.ts";
import type { Cache } from "../store/cache.ts";
import { DnsCache } from "./cache.ts";
import { FakeIpPool, type FakeIpStore } from "./fakeip.ts";
import { DnsHandler } from "./handler.ts";
import { Hosts } from "./hosts.ts";
import { type PolicyEntry, DnsResolver } from "./manager.ts";
import { DnsMapping } from "./mapping.ts";
import type { NameserverSpec } from "./nameserver.ts";
import { type AddressLookup, HostResolver, type ResolveOptions } from "./resolver.ts";
import { DnsServer } from "./server.ts";
import { NameserverGroup } from "./upstream.ts";

export interface DnsRuntimeOptions {
  config: DnsConfig;
  /** The config's `hosts` section. */
  hosts: Hosts;
  rawHosts: Record<string, unknown>;
  registry: Registry;
  env: RuleEnv;
  /** Live `ipv6` switch (PATCH /configs may change it). */
  resolveOptions: ResolveOptions;
  /** The context for a resolver plugin whose own host names go to `bootstrap`. */
  context(plugin: string, bootstrap: HostResolver): CreateContext;
  /** HOME/cache.db when `profile.store-fake-ip` is on. */
  store: Cache | undefined;
  log: Logger;
}

/** What the tunnel learns about a destination IP from DNS (config.md §18 step 3). */
export type ReverseResult = { host: string; fake: boolean } | "unmapped-fake" | undefined;

/**
 * ferry's DNS for one config (`dns.enable: true`): the resolvers every lookup goes through (main,
 * proxy-server, direct, bootstrap), the fake-IP pool, the redir-host mapping, and the DNS server.
 * A reload hands the server socket and the pool to the next config when they are unchanged.
 */
export class DnsRuntime {
  readonly main: DnsResolver;
  /** Resolution for rules and generic lookups, for proxy servers, and for DIRECT. */
  readonly hostResolver: HostResolver;
  readonly proxyServerResolver: HostResolver;
  readonly directResolver: HostResolver;
  readonly handler: DnsHandler;
  pool: FakeIpPool | undefined;
  mapping = new DnsMapping();
  private server: DnsServer | undefined;
  private readonly resolvers: DnsResolver[] = [];

  constructor(private readonly o: DnsRuntimeOptions) {
    const c = o.config;
    const hosts = c.useSystemHosts ? withSystemHosts(o.rawHosts, o.hosts) : o.hosts;
    const groupOf = this.groupFactory();

    const bootstrap = this.track(new DnsResolver({ main: groupOf(c.defaultNameserver, undefined) }));
    const bootstrapHosts = new HostResolver(hosts, o.resolveOptions, lookupOf(bootstrap));
    const group = (list: NameserverSpec[], respect = false) => groupOf(list, bootstrapHosts, respect);

    const policy: PolicyEntry[] = c.policy.map((p) => {
      const groups = new Map<NameserverSpec[], NameserverGroup>();
      return {
        key: p.key,
        lookup(host) {
          const list = p.lookup(host);
          if (!list) return undefined;
          let g = groups.get(list);
          if (!g) {
            g = group(list, c.respectRules);
            groups.set(list, g);
          }
          return g;
        },
        get groups() {
          return [...groups.values()];
        },
      };
    });
    const onError = (message: string) => o.log.debug(`dns: ${message}`);
    this.main = this.track(
      new DnsResolver({
        main: group(c.nameserver, c.respectRules),
        fallback: c.fallback.length > 0 ? group(c.fallback, c.respectRules) : undefined,
        policy,
        fallbackDomain: c.fallbackFilter.domain,
        fallbackIpRejected: fallbackIpRejected(c, o.env),
        cache: new DnsCache(c.cacheMaxSize),
        onError,
      }),
    );
    const proxyServer =
      c.proxyServerNameserver.length > 0 ? this.track(new DnsResolver({ main: group(c.proxyServerNameserver), onError })) : this.main;
    const direct =
      c.directNameserver.length > 0
        ? this.track(new DnsResolver({ main: group(c.directNameserver), policy: c.directFollowPolicy ? policy : undefined, onError }))
        : this.main;
    this.hostResolver = new HostResolver(hosts, o.resolveOptions, lookupOf(this.main));
    this.proxyServerResolver = new HostResolver(hosts, o.resolveOptions, lookupOf(proxyServer));
    this.directResolver = new HostResolver(hosts, o.resolveOptions, lookupOf(direct));

    if (c.enhancedMode === "fake-ip") this.pool = new FakeIpPool(c.fakeIpRange, c.fakeIpRange6, o.store && fakeIpStore(o.store));
    this.handler = new DnsHandler({
      resolver: this.main,
      hosts: c.useHosts ? hosts : undefined,
      ipv6: () => c.ipv6 && o.resolveOptions.ipv6,
      pool: () => this.pool,
      fakeIpSkip: c.fakeIpSkip,
      mapping: () => (c.enhancedMode === "normal" ? undefined : this.mapping),
    });
  }

  /**
   * The name behind a destination IP: a fake IP's host (or "unmapped-fake" for one nobody was
   * given), else a name the DNS server handed this address out for.
   */
  reverse(ip: string): ReverseResult {
    if (this.pool?.contains(ip)) {
      const host = this.pool.lookBack(ip);
      return host ? { host, fake: true } : "unmapped-fake";
    }
    const host = this.mapping.get(ip);
    return host ? { host, fake: false } : undefined;
  }

  /** Keep the previous config's server socket (same address) and fake-IP pool (same ranges). */
  adopt(previous: DnsRuntime): void {
    const l = this.o.config.listen;
    const s = previous.server;
    if (l && s && s.host === l.host && s.port === l.port) {
      previous.server = undefined;
      s.setHandler(this.handler);
      this.server = s;
    }
    const p = previous.pool;
    if (this.pool && p && p.range === this.pool.range && p.range6 === this.pool.range6) this.pool = p;
    this.mapping = previous.mapping;
  }

  /** Open `dns.listen` unless adopted. Bind failure is logged, as mihomo does. */
  async start(): Promise<void> {
    const l = this.o.config.listen;
    if (!l || this.server) return;
    const server = new DnsServer(l.host, l.port, this.handler, this.o.log);
    try {
      await server.start();
      this.server = server;
      this.o.log.info(`DNS server listening at ${server.addresses.join(", ")}`);
    } catch (err) {
      this.o.log.error(`DNS server ${l.host}:${l.port}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The bound port of the DNS server (tests, `listen: 127.0.0.1:0`). */
  get serverPort(): number | undefined {
    return this.server?.boundPort;
  }

  flushCache(): void {
    for (const r of this.resolvers) r.flush();
  }

  flushFakeIp(): void {
    this.pool?.flush();
    this.mapping.clear();
  }

  async close(): Promise<void> {
    this.server?.close();
    this.server = undefined;
    await Promise.allSettled(this.resolvers.map((r) => r.close()));
  }

  private track(r: DnsResolver): DnsResolver {
    this.resolvers.push(r);
    return r;
  }

  /** Nameserver lists → groups of resolver plugin instances (one instance per entry and list). */
  private groupFactory() {
    const { registry, context } = this.o;
    return (list: NameserverSpec[], bootstrap: HostResolver | undefined, respectRules = false): NameserverGroup => {
      const resolveBoot = bootstrap ?? new HostResolver(new Hosts(), this.o.resolveOptions);
      return new NameserverGroup(
        list.map((spec) => {
          const entry = registry.get("resolver", spec.scheme);
          if (!entry) throw new UserError(`${spec.text}: no resolver plugin for "${spec.scheme}"`);
          const proxy = spec.proxy || (respectRules ? "RULES" : "");
          const resolver = entry.definition.create(spec.url, { ...spec.params, proxy }, context(entry.plugin, resolveBoot));
          return { spec, resolver };
        }),
      );
    };
  }
}

function lookupOf(resolver: DnsResolver): AddressLookup {
  return (host, family) => resolver.lookup(host, family === 4 ? "A" : "AAAA");
}

function fakeIpStore(cache: Cache): FakeIpStore {
  const bucket = "fakeip";
  return {
    load: () => cache.entries(bucket).map(([host, offset]) => [host, Number(offset)] as [string, number]),
    put: (host, offset) => cache.set(bucket, host, String(offset)),
    delete: (host) => cache.delete(bucket, host),
    clear: () => cache.clear(bucket),
  };
}

/** The OS hosts file under the config's `hosts` (which wins); A/AAAA only, no aliases. */
function withSystemHosts(raw: Record<string, unknown>, fallback: Hosts): Hosts {
  let text: string;
  try {
    text = readFileSync(process.platform === "win32" ? "C:\\Windows\\System32\\drivers\\etc\\hosts" : "/etc/hosts", "utf8");
  } catch {
    return fallback;
  }
  const entries: Record<string, string[]> = {};
  for (const line of text.split("\n")) {
    const fields = line.replace(/#.*/, "").trim().split(/\s+/);
    const ip = fields[0];
    if (!ip || !isIP(ip)) continue;
    for (const name of fields.slice(1)) {
      const n = name.toLowerCase();
      if (!n || n.startsWith(".") || n.endsWith(".") || n.includes("*") || n.startsWith("+")) continue;
      entries[n] ??= [];
      entries[n].push(ip);
    }
  }
  try {
    return new Hosts({ ...entries, ...raw });
  } catch {
    return fallback;
  }
}
