/**
 * The JSON shapes of controller-api.md §7–§8, built from the Engine. Key names, casing and types are
 * the contract; keys are written in mihomo's order (struct order, or sorted for maps).
 */
import { BUILTIN_OUTBOUNDS } from "../config/build.ts";
import type { Engine } from "../core/engine.ts";
import type { ProxyProvider } from "../providers/provider.ts";
import type { TrackedConnection, Tracker } from "../core/tracker.ts";
import { type Group, isGroup, type Outbound } from "../sdk/types.ts";
import { DEFAULT_TEST_URL, type DelayRecord, type ProxyStates } from "../core/health.ts";
import { rfc3339, ZERO_TIME } from "./time.ts";

type Json = Record<string, unknown>;

/**
 * What groups beyond `select` (the groups issue) offer for pins: read when present, so URLTest and
 * Fallback report `fixed` and accept `DELETE /proxies/{name}` without changes here.
 */
interface Pinnable {
  fixed(): string;
  unfix(): void;
}

export function pinnable(g: Group): (Group & Pinnable) | undefined {
  const p = g as Group & Partial<Pinnable>;
  return typeof p.fixed === "function" && typeof p.unfix === "function" ? (p as Group & Pinnable) : undefined;
}

const CONFIG_BUILTIN = new Set(Object.keys(BUILTIN_OUTBOUNDS));

/** Proxy and group objects (§8.1, §8.2) for one Engine. */
export class ProxyWriter {
  private readonly options = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly engine: Engine,
    private readonly states: ProxyStates,
  ) {
    for (const p of engine.config.proxies) this.options.set(p.name, p.options);
    for (const g of engine.config.groups) this.options.set(g.name, g.options);
  }

  /** Every top-level proxy and group, keyed by name (provider nodes are not listed, mihomo ≥ 1.19.28). */
  all(): Record<string, Json> {
    const out: Record<string, Json> = {};
    for (const [name, o] of this.engine.outbounds) out[name] = this.proxy(o);
    return out;
  }

  groups(): Json[] {
    return [...this.engine.outbounds.values()].filter(isGroup).map((g) => this.proxy(g));
  }

  /** A proxy or group object; provider nodes name their provider and bring their own options. */
  proxy(o: Outbound, provider?: ProxyProvider): Json {
    const opts = (provider ? provider.specs.get(o)?.options : this.options.get(o.name)) ?? {};
    const state = this.states.peek(o);
    const common = {
      alive: state?.alive ?? true,
      "dialer-proxy": str(opts["dialer-proxy"]),
      extra: extraJson(state?.extra),
      history: historyJson(state?.history),
      interface: str(opts["interface-name"]),
      mptcp: opts.mptcp === true,
      name: o.name,
      "provider-name": provider?.name ?? "",
      "routing-mark": typeof opts["routing-mark"] === "number" ? opts["routing-mark"] : 0,
      smux: isRecord(opts.smux) && opts.smux.enabled === true,
      tfo: opts.tfo === true,
      type: this.typeOf(o),
      udp: o.supportsUdp,
      uot: opts["udp-over-tcp"] === true,
      xudp: opts.xudp === true,
    };
    if (!isGroup(o)) return { ...common, id: this.states.of(o).id };
    return this.group(o, opts, common);
  }

  private group(g: Group, opts: Record<string, unknown>, common: Json): Json {
    const type = g.type;
    const emptyFallback = str(opts["empty-fallback"]) || "COMPATIBLE";
    const members = g.members();
    const url = g.testUrl ?? str(opts.url);
    const out: Json = {
      ...common,
      all: members.length > 0 ? [...members] : [emptyFallback],
      emptyFallback,
      hidden: g.hidden === true || opts.hidden === true,
      icon: g.icon ?? str(opts.icon),
      testUrl: type === "Selector" ? (url === DEFAULT_TEST_URL ? "" : url) : url || DEFAULT_TEST_URL,
    };
    if (type !== "LoadBalance") out.now = g.now();
    if (type !== "Selector") out.expectedStatus = str(opts["expected-status"]) || "*";
    if (type === "URLTest" || type === "Fallback") out.fixed = pinnable(g)?.fixed() ?? "";
    return out;
  }

  /** The runtime type name; the built-in COMPATIBLE is a DIRECT underneath but shows as `Compatible`. */
  private typeOf(o: Outbound): string {
    if (o.name === "COMPATIBLE" && CONFIG_BUILTIN.has(o.name) && !this.options.has(o.name)) return "Compatible";
    return o.type;
  }

  /**
   * `/providers/proxies` (§7.27): the `proxy-providers`, then mihomo's Compatible providers, one per
   * group with a `proxies:` list, and `default` with GLOBAL's members.
   */
  providers(): Record<string, Json> {
    const out: Record<string, Json> = {};
    for (const p of this.engine.providers.values()) out[p.name] = this.provider(p);
    for (const g of this.engine.config.groups) {
      if (g.members.length === 0) continue;
      const url = str(g.options.url) || DEFAULT_TEST_URL;
      out[g.name] = this.compatible(g.name, g.members, url, str(g.options["expected-status"]) || "*");
    }
    const global = this.engine.outbounds.get("GLOBAL");
    const members = global && isGroup(global) ? global.members() : [];
    out.default = this.compatible("default", members, "", "*");
    return out;
  }

  /** A `proxy-providers` entry (§7.27): its current nodes, test URL, last update and usage. */
  provider(p: ProxyProvider): Json {
    const out: Json = {
      name: p.name,
      type: "Proxy",
      vehicleType: p.vehicleType,
      proxies: p.nodes.map((o) => this.proxy(o, p)),
      testUrl: p.testUrl,
      expectedStatus: p.expectedStatus,
      updatedAt: p.updatedAt ? rfc3339(p.updatedAt) : ZERO_TIME,
    };
    const info = p.subscriptionInfo;
    if (info) out.subscriptionInfo = { Upload: info.upload, Download: info.download, Total: info.total, Expire: info.expire };
    return out;
  }

  /** Members of a Compatible provider by name, in provider order. */
  providerMembers(name: string): string[] | undefined {
    if (name === "default") {
      const global = this.engine.outbounds.get("GLOBAL");
      return global && isGroup(global) ? global.members() : [];
    }
    const g = this.engine.config.groups.find((x) => x.name === name && x.members.length > 0);
    return g?.members;
  }

  private compatible(name: string, members: string[], testUrl: string, expectedStatus: string): Json {
    const proxies = members.map((m) => this.engine.outbounds.get(m)).filter((o): o is Outbound => o !== undefined);
    return {
      name,
      type: "Proxy",
      vehicleType: "Compatible",
      proxies: proxies.map((o) => this.proxy(o)),
      testUrl,
      expectedStatus,
      updatedAt: ZERO_TIME,
    };
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function historyJson(h: DelayRecord[] | undefined): Json[] {
  return h ? h.map((r) => ({ time: rfc3339(r.time), delay: r.delay })) : [];
}

function extraJson(extra: Map<string, { alive: boolean; history: DelayRecord[] }> | undefined): Json {
  const out: Json = {};
  if (!extra) return out;
  for (const url of [...extra.keys()].sort()) {
    const r = extra.get(url)!;
    out[url] = { alive: r.alive, history: historyJson(r.history) };
  }
  return out;
}

/* -------------------------------------------------------------------------------------------- */

/**
 * `/connections` snapshots, serialised by hand: with thousands of connections a snapshot a second
 * is the controller's hottest path. The parts of a connection that never change (id, metadata,
 * start, chains, rule) are serialised once and cached; only the counters are written each time.
 */
export class ConnectionWriter {
  private readonly cache = new WeakMap<TrackedConnection, [head: string, tail: string]>();

  constructor(private readonly tracker: Tracker) {}

  snapshot(memory: number): string {
    const totals = this.tracker.totals();
    const parts: string[] = [];
    for (const c of this.tracker.connections()) {
      let fixed = this.cache.get(c);
      if (!fixed) {
        fixed = connectionParts(c);
        this.cache.set(c, fixed);
      }
      parts.push(`${fixed[0]}${c.upload},"download":${c.download}${fixed[1]}`);
    }
    return `{"downloadTotal":${totals.download},"uploadTotal":${totals.upload},"connections":[${parts.join(",")}],"memory":${memory}}\n`;
  }
}

function connectionParts(c: TrackedConnection): [string, string] {
  const m = c.metadata;
  const metadata = {
    network: m.network,
    type: m.type,
    sourceIP: m.sourceIP,
    destinationIP: m.destinationIP,
    sourceGeoIP: null,
    destinationGeoIP: null,
    sourceIPASN: "",
    destinationIPASN: "",
    // Ports are strings on the wire, kept for old Clash clients (§2.4).
    sourcePort: String(m.sourcePort),
    destinationPort: String(m.destinationPort),
    inboundIP: m.inboundIP,
    inboundPort: String(m.inboundPort),
    inboundName: m.inboundName,
    inboundUser: m.inboundUser,
    rematchName: "",
    host: m.host,
    dnsMode: m.dnsMode,
    uid: m.uid,
    process: m.process,
    processPath: m.processPath,
    specialProxy: m.specialProxy,
    specialRules: m.specialRules,
    remoteDestination: c.remoteDestination,
    dscp: m.dscp,
    sniffHost: m.sniffHost,
  };
  const head = `{"id":${JSON.stringify(c.id)},"metadata":${JSON.stringify(metadata)},"upload":`;
  const tail = `,"start":${JSON.stringify(rfc3339(c.start))},"chains":${JSON.stringify(c.chains)},"providerChains":${JSON.stringify(c.providerChains)},"rule":${JSON.stringify(c.rule)},"rulePayload":${JSON.stringify(c.rulePayload)}}`;
  return [head, tail];
}

/* -------------------------------------------------------------------------------------------- */

const GEOX_DEFAULTS = {
  "geo-ip": "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geoip.dat",
  mmdb: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geoip.metadb",
  asn: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/GeoLite2-ASN.mmdb",
  "geo-site": "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geosite.dat",
};

const TUN_STACKS: Record<string, string> = { gvisor: "gVisor", system: "System", mixed: "Mixed" };

/** Listener ports as `/configs` reports them: the live ones (0 when that listener is not running). */
const PORT_LISTENERS = {
  port: "DEFAULT-HTTP",
  "socks-port": "DEFAULT-SOCKS",
  "redir-port": "DEFAULT-REDIR",
  "tproxy-port": "DEFAULT-TPROXY",
  "mixed-port": "DEFAULT-MIXED",
} as const;

/**
 * `GET /configs` (§7.6). Listener ports are the live ones. TUN, the sniffer and the legacy inbounds
 * are not active in this version of ferry, so they are reported off whatever the file says.
 */
export function configsJson(engine: Engine, version: string): Json {
  const raw = engine.config.raw as Record<string, unknown>;
  const live = (name: string) => engine.inbounds.find((r) => r.spec.name === name && r.started)?.spec.port ?? 0;
  const tun = isRecord(raw.tun) ? raw.tun : {};
  const tunOut: Json = {
    enable: false,
    device: str(tun.device),
    stack: TUN_STACKS[str(tun.stack).toLowerCase()] ?? "gVisor",
    "dns-hijack": Array.isArray(tun["dns-hijack"]) ? tun["dns-hijack"] : ["0.0.0.0:53"],
    "auto-route": tun["auto-route"] !== false,
    "auto-detect-interface": tun["auto-detect-interface"] !== false,
    "file-descriptor": typeof tun["file-descriptor"] === "number" ? tun["file-descriptor"] : 0,
  };
  for (const [k, v] of Object.entries(tun)) {
    if (k in tunOut || k === "stack" || k === "enable") continue;
    if (v === false || v === 0 || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    tunOut[k] = v;
  }
  const users = Array.isArray(raw.authentication) ? raw.authentication.map((u: string) => u.split(":")[0]!) : [];
  const geox = isRecord(raw["geox-url"]) ? raw["geox-url"] : {};
  const list = (v: unknown) => (Array.isArray(v) && v.length > 0 ? v : null);
  return {
    port: live(PORT_LISTENERS.port),
    "socks-port": live(PORT_LISTENERS["socks-port"]),
    "redir-port": live(PORT_LISTENERS["redir-port"]),
    "tproxy-port": live(PORT_LISTENERS["tproxy-port"]),
    "mixed-port": live(PORT_LISTENERS["mixed-port"]),
    tun: tunOut,
    "tuic-server": { enable: false, listen: "", certificate: "", "private-key": "", "ech-key": "", "mux-option": { brutal: { enabled: false } } },
    "ss-config": "",
    "vmess-config": "",
    authentication: users.length > 0 ? users : null,
    "skip-auth-prefixes": list(engine.config.skipAuthPrefixes),
    "lan-allowed-ips": list(engine.config.lanAllowed),
    "lan-disallowed-ips": list(engine.config.lanDisallowed),
    "allow-lan": raw["allow-lan"] === true,
    "bind-address": str(raw["bind-address"]) || "*",
    "inbound-tfo": raw["inbound-tfo"] === true,
    "inbound-mptcp": raw["inbound-mptcp"] === true,
    mode: engine.config.mode,
    "unified-delay": raw["unified-delay"] === true,
    "log-level": engine.config.logLevel,
    ipv6: engine.config.ipv6,
    "interface-name": str(raw["interface-name"]),
    "routing-mark": typeof raw["routing-mark"] === "number" ? raw["routing-mark"] : 0,
    "geox-url": {
      "geo-ip": str(geox.geoip) || GEOX_DEFAULTS["geo-ip"],
      mmdb: str(geox.mmdb) || GEOX_DEFAULTS.mmdb,
      asn: str(geox.asn) || GEOX_DEFAULTS.asn,
      "geo-site": str(geox.geosite) || GEOX_DEFAULTS["geo-site"],
    },
    "geo-auto-update": raw["geo-auto-update"] === true,
    "geo-update-interval": typeof raw["geo-update-interval"] === "number" ? raw["geo-update-interval"] : 24,
    "geodata-mode": raw["geodata-mode"] === true,
    "geodata-loader": str(raw["geodata-loader"]).toLowerCase() === "standard" ? "standard" : "memconservative",
    "geosite-matcher": ["mph", "hybrid"].includes(str(raw["geosite-matcher"]).toLowerCase()) ? "mph" : "succinct",
    "tcp-concurrent": raw["tcp-concurrent"] === true,
    "find-process-mode": str(raw["find-process-mode"]).toLowerCase() || "strict",
    sniffing: engine.state.sniffer?.enabled === true,
    "global-ua": str(raw["global-ua"]) || `clash.meta/${version}`,
    "etag-support": raw["etag-support"] !== false,
    "keep-alive-idle": typeof raw["keep-alive-idle"] === "number" ? raw["keep-alive-idle"] : 0,
    "keep-alive-interval": typeof raw["keep-alive-interval"] === "number" ? raw["keep-alive-interval"] : 0,
    "disable-keep-alive": raw["disable-keep-alive"] === true,
  };
}

/* -------------------------------------------------------------------------------------------- */

/** Rule types whose `size` is the number of entries (§7.22); others print -1. */
const SIZED_RULES = new Set(["GeoIP", "GeoSite"]);

/**
 * `GET /rules` (§7.22). Hit and miss counters need the router to count; until it does they stay at
 * zero, with "never" printed as the Unix epoch in local time, as mihomo prints it.
 */
export function rulesJson(engine: Engine): Json[] {
  const never = rfc3339(new Date(0));
  return engine.config.rules.map((r, index) => {
    const size = (r.rule as { size?: unknown }).size;
    return {
      index,
      type: r.rule.type,
      payload: r.rule.payload,
      proxy: r.target,
      size: SIZED_RULES.has(r.rule.type) && typeof size === "number" ? size : -1,
      extra: {
        disabled: engine.disabledRules.has(index),
        hitCount: 0,
        hitAt: never,
        missCount: 0,
        missAt: never,
      },
    };
  });
}
