import { AsyncLocalStorage } from "node:async_hooks";
import { isIP } from "node:net";
import { resolve as resolvePath } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { BUILTIN_OUTBOUNDS, type BuiltConfig, type ListenerSpec, type ProxySpec } from "../config/build.ts";
import { HostResolver, type IpVersion, ipVersionOf } from "../dns/resolver.ts";
import { DnsRuntime } from "../dns/service.ts";
import type { FindProcessMode } from "../process/lookup.ts";
import { log as rootLog, scopedLogger } from "../log.ts";
import { parseIp, parsePrefix, prefixContains } from "../sdk/ip.ts";
import { createMetadata, type Metadata } from "../sdk/metadata.ts";
import type { Duplex } from "../sdk/stream.ts";
import {
  type CreateContext,
  type DialOptions,
  type Group,
  type GroupSources,
  type Inbound,
  type InboundCommon,
  type Outbound,
  type SelectionStore,
  UserError,
} from "../sdk/types.ts";
import { liveMembers } from "../providers/membership.ts";
import type { HttpDialer } from "../providers/http.ts";
import { type ProviderHost, ProxyProvider } from "../providers/provider.ts";
import { RuleProvider } from "../providers/rule-provider.ts";
import { Sniffer } from "../sniff/sniffer.ts";
import { cacheOf } from "../store/cache.ts";
import { EngineHealth, type ProxyStates } from "./health.ts";
import type { Registry } from "./registry.ts";
import { Router } from "./router.ts";
import { connectTcp } from "./socket-stream.ts";
import type { Tracker } from "./tracker.ts";
import type { TunnelImpl, TunnelState } from "./tunnel.ts";

/** Process-wide pieces that outlive one config: the tracker and the tunnel (its state is swapped). */
export interface Shared {
  registry: Registry;
  tracker: Tracker;
  tunnel: TunnelImpl;
  homeDir: string;
  /** Latency records per outbound instance, kept across reloads for the outbounds that survive them. */
  states: ProxyStates;
}

export interface RunningInbound {
  spec: ListenerSpec;
  inbound: Inbound;
  plugin: string;
  /** Everything the listener was created from: equal keys mean the running socket can be kept. */
  key: string;
  started: boolean;
}

/** Source-address lists of the built-in listeners (and `listeners` entries without users). */
export interface LanLists {
  lanAllowed: string[];
  lanDisallowed: string[];
  skipAuthPrefixes: string[];
}

/**
 * Owns one loaded config: outbounds, groups, router, listeners. A reload builds a new Engine beside
 * the old, swaps the tunnel's state to it, then closes the old one's listeners; open connections
 * keep the outbounds they were dialled with.
 */
export class Engine {
  readonly outbounds = new Map<string, Outbound>();
  /** Top-level proxies and groups in config order (GLOBAL's members, `/proxies`). */
  readonly order: string[] = [];
  readonly inbounds: RunningInbound[] = [];
  /** Replaced when a rule-set update changes what its lines need (see recompileRouters). */
  router: Router;
  /** Rule indices switched off by `PATCH /rules/disable`; forgotten on reload. */
  readonly disabledRules = new Set<number>();
  readonly subRouters = new Map<string, Router>();
  /** `proxy-providers` in config order; their nodes are outbounds outside the name space above. */
  readonly providers = new Map<string, ProxyProvider>();
  /** `rule-providers`: the sets the rules hold, and how their content is fetched. */
  readonly ruleProviders = new Map<string, RuleProvider>();
  /** Names for rules and generic lookups; `hosts`, then the system resolver or ferry's DNS. */
  readonly resolver: HostResolver;
  /** Proxy servers' names (`proxy-server-nameserver`) and DIRECT's (`direct-nameserver`). */
  private readonly serverResolver: HostResolver;
  private readonly directResolver: HostResolver;
  /** ferry's DNS (`dns.enable: true`), else undefined. */
  readonly dns: DnsRuntime | undefined;
  readonly state: TunnelState;
  /** Health checks of this config's groups; stopped when it is replaced. */
  readonly health: EngineHealth;
  /** `profile.store-selected`: choices kept in HOME/cache.db, or nowhere. */
  readonly selections: SelectionStore;
  private closed = false;
  /** Held by the resolver: `setIpv6` changes it in place. */
  private readonly resolveOptions: { ipv6: boolean };

  constructor(
    readonly config: BuiltConfig,
    readonly shared: Shared,
  ) {
    this.resolveOptions = { ipv6: config.ipv6 };
    if (config.dns.enable) {
      this.dns = new DnsRuntime({
        config: config.dns,
        hosts: config.hosts,
        rawHosts: (config.raw.hosts ?? {}) as Record<string, unknown>,
        registry: shared.registry,
        env: config.env,
        resolveOptions: this.resolveOptions,
        context: (plugin, bootstrap) => this.resolverContext(plugin, bootstrap),
        store: config.raw.profile?.["store-fake-ip"] ? cacheOf(shared.homeDir) : undefined,
        log: scopedLogger("dns"),
      });
      this.resolver = this.dns.hostResolver;
      this.serverResolver = this.dns.proxyServerResolver;
      this.directResolver = this.dns.directResolver;
    } else {
      this.resolver = new HostResolver(config.hosts, this.resolveOptions);
      this.serverResolver = this.directResolver = this.resolver;
    }
    this.selections = config.raw.profile?.["store-selected"] === false ? { get: () => undefined, set() {}, delete() {} } : cachedSelections(shared.homeDir);
    this.health = new EngineHealth(shared.states, () => (config.raw as Record<string, unknown>)["unified-delay"] === true);
    this.createOutbounds();
    this.router = this.compileRules(config.rules);
    for (const [name, rules] of config.subRules) this.subRouters.set(name, this.compileRules(rules));
    this.state = {
      mode: config.mode,
      outbound: (name) => this.outbounds.get(name),
      router: this.router,
      subRouter: (name) => this.subRouters.get(name),
      hostsLookup: (host) => this.resolver.fromHosts(host),
      reverseLookup: this.dns ? (ip) => this.dns!.reverse(ip) : () => undefined,
      providerOf: (o) => {
        for (const p of this.providers.values()) if (p.specs.has(o)) return p.name;
        return "";
      },
      sniffer: config.sniffer && new Sniffer(config.sniffer, rootLog),
      log: rootLog,
    };
    this.createInbounds();
  }

  /**
   * Services for a plugin's objects. For a proxy, the fields every proxy type shares are applied
   * here, once: `ip-version` to every name it resolves, `dialer-proxy` as the default way to its
   * server.
   */
  private context(plugin: string, proxy?: Record<string, unknown>): CreateContext {
    const version = ipVersionOf(proxy?.["ip-version"]);
    const dialerProxy = proxy?.["dialer-proxy"] as string | undefined;
    return {
      log: scopedLogger(plugin),
      outbound: (name) => this.outbounds.get(name),
      outboundNames: () => this.order,
      dialDirect: (host, port, options) => this.dialDirect(host, port, options, version, this.directResolver),
      dialServer: (host, port, options) => this.dialServer(host, port, { dialerProxy, ...options }, version),
      dialChain: (chain, metadata, options) => dialChain(chain, metadata, options),
      resolve: (host) => this.serverResolver.resolve(host, version),
      transport: (name) => this.shared.registry.get("transport", name)?.definition,
      tunnel: this.shared.tunnel,
      homeDir: this.shared.homeDir,
      health: this.health,
      selections: this.selections,
    };
  }

  private createOutbounds(): void {
    const { registry } = this.shared;
    for (const [name, type] of Object.entries(BUILTIN_OUTBOUNDS)) {
      const entry = registry.get("outbound", type);
      if (!entry) throw new UserError(`built-in outbound type "${type}" is not registered`);
      this.outbounds.set(name, entry.definition.create({ name }, this.context(entry.plugin)));
    }
    for (const p of this.config.proxies) {
      const entry = registry.get("outbound", p.type)!;
      this.outbounds.set(
        p.name,
        guard(entry.plugin, () => entry.definition.create({ ...p.options, name: p.name }, this.context(entry.plugin, p.options)), p.path),
      );
      this.order.push(p.name);
    }
    this.createProviders();
    for (const g of this.config.groups) {
      const entry = registry.get("group", g.type)!;
      this.outbounds.set(
        g.name,
        guard(entry.plugin, () => entry.definition.create(
            { ...g.options, name: g.name, proxies: g.members, ...this.groupMembers(g.members, g.use, g.options) },
            this.context(entry.plugin),
          ), g.path),
      );
      this.order.push(g.name);
    }
    if (!this.outbounds.has("GLOBAL")) {
      const entry = registry.get("group", "select");
      if (!entry) throw new UserError(`group type "select" is not registered (needed for GLOBAL)`);
      const members = ["DIRECT", "REJECT", ...this.order];
      const global = entry.definition.create({ name: "GLOBAL", proxies: members, ...this.groupMembers(members, [], {}) }, this.context(entry.plugin)) as Group;
      this.outbounds.set("GLOBAL", global);
    }
  }

  /** Outbounds by name, looked up at call time (groups may name groups created after them). */
  private membersOf(names: string[]): () => Outbound[] {
    return () => names.flatMap((n) => this.outbounds.get(n) ?? []);
  }

  /**
   * A group's live members (its named members, then its providers' nodes, filtered: config.md
   * §8.1) and what it needs to know of its providers.
   */
  private groupMembers(names: string[], use: string[], options: Record<string, unknown>): { members: () => Outbound[]; sources: GroupSources } {
    const providers = use.flatMap((u) => this.providers.get(u) ?? []);
    const members = liveMembers(this.membersOf(names), providers, options);
    const sources: GroupSources = {
      own: () => members().filter((m) => !providers.some((p) => p.specs.has(m))),
      providerTestUrl: providers.find((p) => p.testUrl !== "")?.testUrl ?? "",
      register: (test) => {
        for (const p of providers) p.register(test);
      },
      onProviderChecked: (listener) => {
        for (const p of providers) p.onChecked(listener);
      },
      checkProviders: async () => {
        await Promise.all(providers.map((p) => p.checkAll()));
      },
      touch: () => {
        for (const p of providers) p.touch();
      },
    };
    return { members, sources };
  }

  /** Providers load their inline payload or on-disk copy now; downloads wait for start(). */
  private createProviders(): void {
    const raw = this.config.raw;
    const host: ProviderHost = {
      registry: this.shared.registry,
      log: rootLog,
      createNode: (spec) => this.createProxy(spec),
      dialer: (proxy) => this.downloadDialer(proxy),
      userAgent: raw["global-ua"] || `clash.meta/v${pkg.version}`,
      etagSupport: raw["etag-support"] !== false,
      memory: {
        get: (bucket, name) => cacheOf(this.shared.homeDir).get(bucket, name),
        set: (bucket, name, value) => cacheOf(this.shared.homeDir).set(bucket, name, value),
      },
      health: this.health,
    };
    for (const spec of this.config.providers) {
      const provider = new ProxyProvider({ ...spec, file: spec.file && resolvePath(this.shared.homeDir, spec.file) }, host);
      provider.loadLocal();
      this.providers.set(spec.name, provider);
    }
    for (const spec of this.config.ruleProviders) {
      const provider = new RuleProvider({ ...spec, file: spec.file && resolvePath(this.shared.homeDir, spec.file) }, host, () => this.recompileRouters());
      provider.loadLocal();
      this.ruleProviders.set(spec.name, provider);
    }
  }

  /** One proxy's outbound, created as a top-level entry is (provider nodes use it too). */
  private createProxy(p: ProxySpec): Outbound {
    const entry = this.shared.registry.get("outbound", p.type);
    if (!entry) throw new UserError(`${p.path}: unsupported proxy type "${p.type}"`);
    return guard(entry.plugin, () => entry.definition.create({ ...p.options, name: p.name }, this.context(entry.plugin, p.options)), p.path);
  }

  /**
   * How a provider downloads: through the named proxy or group as "Inner" traffic (its dial goes
   * where that outbound sends it), or directly; https is TLS over that stream.
   */
  private downloadDialer(proxy: string): HttpDialer {
    return {
      dial: async (host, port, signal) => {
        if (!proxy) return this.dialDirect(host, port, { signal }, "dual", this.directResolver);
        const via = this.outbounds.get(proxy);
        if (!via) throw new UserError(`proxy "${proxy}" not found`);
        return via.dialTcp(innerMetadata(host, port), { signal });
      },
      tls: async (stream, serverName, signal) => {
        const tls = this.shared.registry.get("transport", "tls");
        if (!tls) throw new UserError(`transport "tls" is not registered (needed for https downloads)`);
        return tls.definition.create({ serverName }, this.context(tls.plugin)).wrap(stream, { signal });
      },
    };
  }

  private createInbounds(): void {
    for (const spec of this.config.listeners) this.inbounds.push(this.createInbound(spec));
  }

  private createInbound(spec: ListenerSpec): RunningInbound {
    const { registry } = this.shared;
    const lan = this.config;
    const allow = cidrMatcher(lan.lanAllowed);
    const deny = cidrMatcher(lan.lanDisallowed);
    const skip = cidrMatcher(lan.skipAuthPrefixes);
    const everyone = lan.lanAllowed.some((c) => c === "0.0.0.0/0") && lan.lanAllowed.some((c) => c === "::/0");
    const open = everyone && lan.lanDisallowed.length === 0;
    const entry = registry.get("inbound", spec.type)!;
    const common: InboundCommon = {
      name: spec.name,
      listen: spec.listen,
      port: spec.port,
      users: spec.users,
      allowSource: !spec.lanRules || open ? () => true : (ip) => !deny(ip) && allow(ip),
      skipAuth: spec.lanRules && lan.skipAuthPrefixes.length > 0 ? skip : () => false,
      specialProxy: spec.proxy,
      specialRules: spec.rule,
    };
    const inbound = guard(entry.plugin, () => entry.definition.create(spec.options, common, this.context(entry.plugin)), spec.path);
    return { spec, inbound, plugin: entry.plugin, key: listenerKey(spec, lan), started: false };
  }

  /**
   * Take over the running listeners of `previous` whose settings are unchanged (same type, name,
   * address, port, users, options and source lists), so a reload keeps their sockets. The
   * listeners taken are removed from `previous`, whose close() then leaves them open.
   */
  adoptListeners(previous: Engine): void {
    if (this.dns && previous.dns) this.dns.adopt(previous.dns);
    this.inbounds.forEach((mine, i) => {
      const j = previous.inbounds.findIndex((o) => o.started && o.key === mine.key);
      if (j < 0) return;
      this.inbounds[i] = previous.inbounds[j]!;
      previous.inbounds.splice(j, 1);
    });
  }

  /**
   * Replace the listener set in place (`PATCH /configs` ports, allow-lan, lan lists): unchanged
   * listeners keep their sockets, the others are closed before the new ones bind.
   */
  async replaceListeners(specs: ListenerSpec[], lan: LanLists): Promise<void> {
    Object.assign(this.config, lan);
    this.config.listeners = specs;
    const next = specs.map((spec) => this.createInbound(spec));
    const current = this.inbounds.splice(0);
    for (let i = 0; i < next.length; i++) {
      const j = current.findIndex((o) => o.started && o.key === next[i]!.key);
      if (j >= 0) next[i] = current.splice(j, 1)[0]!;
    }
    await Promise.all(current.map((r) => closeInbound(r)));
    this.inbounds.push(...next);
    await this.start();
  }

  setMode(mode: BuiltConfig["mode"]): void {
    this.config.mode = mode;
    this.state.mode = mode;
  }

  setIpv6(enabled: boolean): void {
    this.config.ipv6 = enabled;
    this.resolveOptions.ipv6 = enabled;
  }

  /** Route without the given top-level rules (`PATCH /rules/disable`); `/rules` still lists them. */
  setDisabledRules(indices: Iterable<number>): void {
    this.disabledRules.clear();
    for (const i of indices) this.disabledRules.add(i);
    const rules = this.config.rules.filter((_, i) => !this.disabledRules.has(i));
    this.state.router = this.disabledRules.size === 0 ? this.router : this.compileRules(rules);
  }

  private compileRules(rules: BuiltConfig["rules"]): Router {
    return new Router(rules, {
      resolve: (host) => this.resolver.resolve(host),
      log: scopedLogger("router"),
      // PATCH /configs changes the raw key: read it per connection.
      processMode: () => (this.config.raw["find-process-mode"]?.toLowerCase() ?? "strict") as FindProcessMode,
    });
  }

  /**
   * A rule-set update changed whether the set needs an IP or the process: the routers place their
   * lazy lookups by that when compiled, so they are compiled again.
   */
  private recompileRouters(): void {
    if (this.closed) return;
    this.router = this.compileRules(this.config.rules);
    for (const [name, rules] of this.config.subRules) this.subRouters.set(name, this.compileRules(rules));
    this.setDisabledRules([...this.disabledRules]);
  }

  /** Open every listener not open yet. A listener that cannot bind is logged and skipped, as mihomo does. */
  async start(): Promise<void> {
    if (!this.closed) this.health.start();
    if (!this.closed) await this.dns?.start();
    await Promise.all(
      this.inbounds.map(async (r) => {
        if (r.started) return;
        const { spec, inbound, plugin } = r;
        try {
          await inbound.start();
          r.started = true;
          rootLog.info(`${spec.name} (${spec.type}) listening at ${inbound.addresses().join(", ")}`);
        } catch (err) {
          rootLog.error(`[${plugin}] ${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    // Downloads run in the background: listeners never wait for the network.
    if (!this.closed) for (const p of [...this.providers.values(), ...this.ruleProviders.values()]) p.start();
  }

  /** Addresses actually bound by the listener named `name` (DEFAULT-MIXED, a `listeners` name…). */
  addresses(name: string): string[] {
    return this.inbounds.filter((i) => i.spec.name === name).flatMap((i) => i.inbound.addresses());
  }

  /** Close listeners (and optionally outbounds). Open connections are the tracker's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.health.stop();
    for (const p of this.providers.values()) p.close();
    for (const p of this.ruleProviders.values()) p.close();
    await this.dns?.close();
    await Promise.all(this.inbounds.map((r) => closeInbound(r)));
    for (const o of this.outbounds.values()) {
      try {
        await o.close?.();
      } catch (err) {
        rootLog.error(`outbound ${o.name}: close failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** DIRECT dials: resolve, honour `ipv6: false`, and refuse loops into our own listeners. */
  private async dialDirect(
    host: string,
    port: number,
    options: DialOptions | undefined,
    version: IpVersion,
    resolver: HostResolver,
  ): Promise<Duplex> {
    if (!this.config.ipv6 && isIP(host) === 6) throw new UserError(`${host}: IPv6 is disabled (ipv6: false)`);
    const ip = await resolver.resolve(host, version);
    if (this.isOwnListener(ip, port)) throw new UserError(`${host}:${port} is one of ferry's own listeners (loop refused)`);
    return connectTcp(ip, port, options?.signal);
  }

  private async dialServer(
    host: string,
    port: number,
    options: DialOptions & { dialerProxy?: string },
    version: IpVersion,
  ): Promise<Duplex> {
    const hops = relayHops.getStore();
    if (hops && hops.length > 0) return throughHops(hops, host, port, options);
    const via = options.dialerProxy;
    if (!via) return this.dialDirect(host, port, options, version, this.serverResolver);
    const outbound = this.outbounds.get(via);
    if (!outbound) throw new UserError(`dialer-proxy "${via}" not found`);
    try {
      return await outbound.dialTcp(innerMetadata(host, port), options);
    } catch (err) {
      throw new UserError(`via dialer-proxy "${via}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * The context of a nameserver's resolver plugin: its own host name goes to `bootstrap`
   * (default-nameserver); `#PROXY` sends its connections through that proxy or group, `#RULES`
   * through the rules, as Inner traffic.
   */
  private resolverContext(plugin: string, bootstrap: HostResolver): CreateContext {
    return {
      ...this.context(plugin),
      resolve: (host) => bootstrap.resolve(host),
      dialDirect: (host, port, options) => this.dialDirect(host, port, options, "dual", bootstrap),
      dialServer: async (host, port, options) => {
        const via = options?.dialerProxy;
        if (!via) return this.dialDirect(host, port, options, "dual", bootstrap);
        const metadata = innerMetadata(host, port);
        if (via === "RULES") {
          const routed = this.shared.tunnel.route(metadata);
          const route = routed instanceof Promise ? await routed : routed;
          return route.leaf.dialTcp(metadata, options);
        }
        const outbound = this.outbounds.get(via);
        if (!outbound) return this.dialDirect(host, port, options, "dual", bootstrap);
        return outbound.dialTcp(metadata, options);
      },
    };
  }

  private isOwnListener(ip: string, port: number): boolean {
    for (const { spec } of this.inbounds) {
      if (spec.port !== port) continue;
      if (spec.listen === ip || spec.listen === "0.0.0.0" || spec.listen === "::") {
        return spec.listen === ip || isLoopbackOrLocal(ip);
      }
    }
    return false;
  }
}

/**
 * The hops a relay still has to go through, for the dial in progress: a proxy's `dialServer`
 * during that dial goes through the last of them instead of directly (or its `dialer-proxy`).
 */
const relayHops = new AsyncLocalStorage<Outbound[]>();

function dialChain(chain: Outbound[], metadata: Metadata, options?: DialOptions): Promise<Duplex> {
  const last = chain[chain.length - 1];
  if (!last) return Promise.reject(new UserError("relay: empty chain"));
  return relayHops.run(chain.slice(0, -1), () => last.dialTcp(metadata, options));
}

function throughHops(hops: Outbound[], host: string, port: number, options: DialOptions): Promise<Duplex> {
  return dialChain(hops, innerMetadata(host, port), { signal: options.signal });
}

/** Metadata of a connection ferry opens itself (to a proxy server, a subscription) through an outbound. */
function innerMetadata(host: string, port: number): Metadata {
  const ip = isIP(host) ? host : "";
  return createMetadata({ network: "tcp", type: "Inner", host: ip ? "" : host, destinationIP: ip, destinationPort: port });
}

/** Selections in the `selected` bucket of HOME/cache.db (opened on first use). */
function cachedSelections(homeDir: string): SelectionStore {
  return {
    get: (group) => cacheOf(homeDir).get("selected", group),
    set: (group, member) => cacheOf(homeDir).set("selected", group, member),
    delete: (group) => cacheOf(homeDir).delete("selected", group),
  };
}

async function closeInbound({ inbound, plugin, spec }: RunningInbound): Promise<void> {
  try {
    await inbound.close();
  } catch (err) {
    rootLog.error(`[${plugin}] ${spec.name}: close failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** What a listener is made of, as a comparable string (`Map`s as sorted pairs, object keys sorted). */
function listenerKey(spec: ListenerSpec, lan: LanLists): string {
  const users = spec.users ? [...spec.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : null;
  const lists = spec.lanRules ? [lan.lanAllowed, lan.lanDisallowed, lan.skipAuthPrefixes] : null;
  const { type, name, listen, port, lanRules, proxy, rule, options } = spec;
  return JSON.stringify([type, name, listen, port, users, lanRules, proxy, rule, lists, options], (_, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Run a plugin's create(); a throw becomes a config error naming the plugin and the key path. */
function guard<T>(plugin: string, fn: () => T, path: string): T {
  try {
    return fn();
  } catch (err) {
    throw new UserError(`${path}: plugin "${plugin}" failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function isLoopbackOrLocal(ip: string): boolean {
  return ip.startsWith("127.") || ip === "::1" || ip === "0.0.0.0" || ip === "::";
}

/** CIDR list membership for source checks, with the hand-written parser of the rule path (no ipaddr.js per connection). */
function cidrMatcher(cidrs: string[]): (ip: string) => boolean {
  const prefixes = cidrs.map((c) => parsePrefix(c));
  const words = new Uint32Array(4);
  return (ip) => {
    const family = parseIp(ip, words);
    return family !== 0 && prefixes.some((p) => prefixContains(p, family, words));
  };
}
