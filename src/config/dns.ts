import { isIP } from "node:net";
import { Value } from "@sinclair/typebox/value";
import type { Registry } from "../core/registry.ts";
import { DomainTrie } from "../dns/domain-trie.ts";
import { type NameserverSpec, parseNameserver } from "../dns/nameserver.ts";
import { type IpPrefix, isLanAddress, parseIp, parsePrefix, prefixContains } from "../sdk/ip.ts";
import { createMetadata } from "../sdk/metadata.ts";
import type { Rule, RuleEnv } from "../sdk/types.ts";
import { type HostMatcher, nameList, nameSetMatcher } from "./name-lists.ts";
import { parseRuleLine } from "./rules.ts";
import type { RawConfig } from "./build.ts";

/** The `dns` section, validated and with its defaults (config.md §5.1); live objects come later. */
export interface DnsConfig {
  enable: boolean;
  /** `listen` split, undefined when there is no DNS server. */
  listen: { host: string; port: number } | undefined;
  ipv6: boolean;
  useHosts: boolean;
  useSystemHosts: boolean;
  respectRules: boolean;
  enhancedMode: "fake-ip" | "redir-host" | "normal";
  fakeIpRange: string;
  fakeIpRange6: string | undefined;
  /** True when a name must not get a fake IP (filter and filter mode applied). */
  fakeIpSkip: HostMatcher;
  defaultNameserver: NameserverSpec[];
  nameserver: NameserverSpec[];
  fallback: NameserverSpec[];
  proxyServerNameserver: NameserverSpec[];
  directNameserver: NameserverSpec[];
  directFollowPolicy: boolean;
  fallbackFilter: {
    geoip: boolean;
    geoipCode: string;
    ipcidr: IpPrefix[];
    /** `domain` and (deprecated) `geosite` entries; undefined when both are empty. */
    domain: HostMatcher | undefined;
  };
  /** `nameserver-policy` in order: each entry gives the servers for a name it covers. */
  policy: { key: string; lookup(host: string): NameserverSpec[] | undefined }[];
  cacheMaxSize: number;
}

export interface DnsBuildContext {
  registry: Registry;
  env: RuleEnv;
  /** Proxy and group names, to tell `#NAME` proxies from interface names. */
  outboundNames: Set<string>;
  error(path: string, message: string): void;
  warn(path: string, message: string): void;
}

const DEFAULT_FAKE_IP_FILTER = ["dns.msftnsci.com", "www.msftnsci.com", "www.msftconnecttest.com"];
const DEFAULT_DEFAULT_NAMESERVER = ["114.114.114.114", "223.5.5.5", "8.8.8.8", "1.0.0.1"];
const DEFAULT_NAMESERVER = ["https://doh.pub/dns-query", "tls://223.5.5.5:853"];

/** Build and check `dns` (config.md §5, §23 rows 33–34). Errors and warnings name the key path. */
export function buildDns(raw: RawConfig, c: DnsBuildContext): DnsConfig {
  const d = raw.dns ?? {};
  const enable = d.enable === true;
  const mode = (d["enhanced-mode"] ?? "redir-host").toLowerCase() as DnsConfig["enhancedMode"];
  const servers = (key: string, list: string[] | undefined, fallbackList: string[] = []) =>
    nameservers(list ?? fallbackList, `dns.${key}`, c);

  const defaultList = d["default-nameserver"] ?? DEFAULT_DEFAULT_NAMESERVER;
  if (defaultList.length === 0) c.error("dns.default-nameserver", "default-nameserver must not be empty");
  defaultList.forEach((s, i) => {
    const host = parseHostOf(s);
    if (host !== undefined && host !== "" && !isIP(host)) {
      c.error(`dns.default-nameserver[${i}]`, `"${s}": default-nameserver entries must be IP addresses (they resolve the other nameservers' names)`);
    }
  });
  const nameserver = servers("nameserver", d.nameserver, DEFAULT_NAMESERVER);
  if (enable && nameserver.length === 0) c.error("dns.nameserver", "nameserver must not be empty while dns.enable is true");
  const proxyServerNameserver = servers("proxy-server-nameserver", d["proxy-server-nameserver"]);
  if (d["respect-rules"] && proxyServerNameserver.length === 0) {
    c.error("dns.respect-rules", "respect-rules needs proxy-server-nameserver (resolving a proxy server's name through rules would loop)");
  }
  if (d["respect-rules"] && d["prefer-h3"]) c.warn("dns.prefer-h3", "prefer-h3 together with respect-rules is advised against");

  let fakeIpRange = d["fake-ip-range"] ?? "198.18.0.1/16";
  try {
    const p = parsePrefix(fakeIpRange);
    if (p.family !== 4) throw new Error("must be an IPv4 prefix");
    if (mode === "fake-ip" && p.bits > 29) throw new Error("is too small (a /29 or larger is needed)");
  } catch (err) {
    c.error("dns.fake-ip-range", `"${fakeIpRange}": ${(err as Error).message}`);
    fakeIpRange = "198.18.0.1/16";
  }
  let fakeIpRange6 = d["fake-ip-range6"];
  if (fakeIpRange6) {
    try {
      if (parsePrefix(fakeIpRange6).family !== 6) throw new Error("must be an IPv6 prefix");
    } catch (err) {
      c.error("dns.fake-ip-range6", `"${fakeIpRange6}": ${(err as Error).message}`);
      fakeIpRange6 = undefined;
    }
  }
  if (mode === "fake-ip" && !enable && raw.dns) c.warn("dns.enhanced-mode", "fake-ip mode has no effect while dns.enable is false");

  const filterMode = (d["fake-ip-filter-mode"] ?? "blacklist").toLowerCase();
  let fakeIpSkip: HostMatcher;
  if (filterMode === "rule") {
    fakeIpSkip = filterRules(d["fake-ip-filter"] ?? [], c);
  } else {
    const filter = nameList(d["fake-ip-filter"] ?? DEFAULT_FAKE_IP_FILTER, "dns.fake-ip-filter", c);
    fakeIpSkip = filterMode === "whitelist" ? (h) => !filter(h) : filter;
  }

  const ff = d["fallback-filter"] ?? {};
  const fallback = servers("fallback", d.fallback);
  const ipcidr: IpPrefix[] = [];
  (ff.ipcidr ?? []).forEach((text, i) => {
    try {
      ipcidr.push(parsePrefix(text));
    } catch (err) {
      c.error(`dns.fallback-filter.ipcidr[${i}]`, (err as Error).message);
    }
  });
  const filterDomains = [...(ff.domain ?? [])];
  if ((ff.geosite ?? []).length > 0) {
    c.warn("dns.fallback-filter.geosite", "fallback-filter.geosite is deprecated (use nameserver-policy with geosite:)");
    for (const code of ff.geosite!) filterDomains.push(`geosite:${code}`);
  }
  const geoip = ff.geoip ?? true;
  if (fallback.length > 0 && !d["fallback-filter"]) {
    c.warn("dns.fallback", "fallback without fallback-filter: the implicit filter sends every answer outside geoip CN to fallback");
  }
  if (enable && fallback.length > 0 && geoip) {
    try {
      c.env.geo.countries("1.1.1.1");
    } catch (err) {
      c.error("dns.fallback-filter.geoip", (err as Error).message);
    }
  }

  return {
    enable,
    listen: listenOf(d.listen, c),
    ipv6: d.ipv6 === true,
    useHosts: d["use-hosts"] ?? true,
    useSystemHosts: (d["use-system-hosts"] ?? true) && process.env.DISABLE_SYSTEM_HOSTS !== "1",
    respectRules: d["respect-rules"] === true,
    enhancedMode: mode,
    fakeIpRange,
    fakeIpRange6,
    fakeIpSkip,
    defaultNameserver: servers("default-nameserver", defaultList),
    nameserver,
    fallback,
    proxyServerNameserver,
    directNameserver: servers("direct-nameserver", d["direct-nameserver"]),
    directFollowPolicy: d["direct-nameserver-follow-policy"] === true,
    fallbackFilter: {
      geoip,
      geoipCode: (ff["geoip-code"] ?? "CN").toUpperCase(),
      ipcidr,
      domain: filterDomains.length > 0 ? nameList(filterDomains, "dns.fallback-filter.domain", c) : undefined,
    },
    policy: policyOf(d["nameserver-policy"] ?? {}, c),
    cacheMaxSize: d["cache-max-size"] && d["cache-max-size"] > 0 ? d["cache-max-size"] : 4096,
  };
}

/** True when `ip` fails the fallback filter's address tests (config.md §5.3 step 4). */
export function fallbackIpRejected(config: DnsConfig, env: RuleEnv): (ip: string) => boolean {
  const words = new Uint32Array(4);
  const { geoip, geoipCode, ipcidr } = config.fallbackFilter;
  return (ip) => {
    const family = parseIp(ip, words);
    if (family === 0) return false;
    if (ipcidr.some((p) => prefixContains(p, family, words))) return true;
    if (!geoip || isLanAddress(ip)) return false;
    return !env.geo.countries(ip).includes(geoipCode);
  };
}

function nameservers(list: string[], path: string, c: DnsBuildContext): NameserverSpec[] {
  const out: NameserverSpec[] = [];
  const seen = new Set<string>();
  list.forEach((text, i) => {
    const at = `${path}[${i}]`;
    let spec: NameserverSpec;
    try {
      spec = parseNameserver(String(text));
    } catch (err) {
      c.error(at, (err as Error).message);
      return;
    }
    if (seen.has(spec.text)) return;
    seen.add(spec.text);
    if (spec.scheme === "dhcp" && spec.host === "system") spec = { ...spec, scheme: "system" };
    const entry = c.registry.get("resolver", spec.scheme);
    if (!entry) {
      c.error(at, `"${text}": unsupported nameserver scheme "${spec.scheme}" (known: ${c.registry.types("resolver").join(", ")})`);
      return;
    }
    const options = { ...spec.params, proxy: spec.proxy };
    if (!Value.Check(entry.definition.options, options)) {
      const first = Value.Errors(entry.definition.options, options).First();
      c.error(at, `"${text}": ${first ? `${first.path.slice(1) || "parameters"}: ${first.message}` : "invalid parameters"}`);
      return;
    }
    const problem = entry.definition.validate?.(spec.url, options);
    if (problem) {
      c.error(at, `"${text}": ${problem}`);
      return;
    }
    if (spec.proxy && spec.proxy !== "RULES" && !c.outboundNames.has(spec.proxy)) {
      c.warn(at, `"${text}": "#${spec.proxy}" names no proxy or group; ferry cannot bind to an interface by name, so the query goes out directly`);
      spec = { ...spec, proxy: "" };
    }
    out.push(spec);
  });
  return out;
}

function parseHostOf(text: string): string | undefined {
  try {
    return parseNameserver(text).host;
  } catch {
    return undefined;
  }
}

function listenOf(listen: string | undefined, c: DnsBuildContext): DnsConfig["listen"] {
  if (!listen) return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    c.error("dns.listen", `"${listen}" is not host:port (mihomo would fail at runtime)`);
    return undefined;
  }
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/**
 * `fake-ip-filter-mode: rule`: the filter holds rule lines whose target is `fake-ip` or `real-ip`,
 * matched in order on the name alone; a name no line matches gets a fake IP.
 */
function filterRules(lines: string[], c: DnsBuildContext): HostMatcher {
  const rules: { rule: Rule; real: boolean }[] = [];
  lines.forEach((line, i) => {
    const path = `dns.fake-ip-filter[${i}]`;
    try {
      const parsed = parseRuleLine(line, c.registry, (m) => c.warn(path, m), c.env);
      const target = parsed.target.toLowerCase();
      if (target !== "fake-ip" && target !== "real-ip") throw new Error(`target must be fake-ip or real-ip, not "${parsed.target}"`);
      rules.push({ rule: parsed.rule, real: target === "real-ip" });
    } catch (err) {
      c.error(path, (err as Error).message);
    }
  });
  const metadata = createMetadata({ network: "udp", type: "Inner" });
  return (host) => {
    metadata.host = host;
    for (const r of rules) if (r.rule.match(metadata)) return r.real;
    return false;
  };
}

/**
 * `nameserver-policy` in file order; consecutive plain-domain keys share one trie, so inside such
 * a run the trie's priority (exact > `*` > `.`) decides, as in mihomo.
 */
function policyOf(policy: Record<string, string | string[]>, c: DnsBuildContext): DnsConfig["policy"] {
  const out: DnsConfig["policy"] = [];
  let run: { trie: DomainTrie<NameserverSpec[]>; keys: string[] } | undefined;
  const flush = () => {
    if (!run) return;
    const { trie, keys } = run;
    out.push({ key: keys.join(" "), lookup: (h) => trie.search(h) });
    run = undefined;
  };
  for (const [key, value] of Object.entries(policy)) {
    const path = `dns.nameserver-policy["${key}"]`;
    const servers = nameservers(Array.isArray(value) ? value : [value], path, c);
    const set = nameSetMatcher(key, path, c);
    if (set === null) continue;
    if (set) {
      flush();
      out.push({ key, lookup: (h) => (set(h) ? servers : undefined) });
      continue;
    }
    run ??= { trie: new DomainTrie<NameserverSpec[]>(), keys: [] };
    run.keys.push(key);
    for (const pattern of key.split(",")) {
      try {
        run.trie.insert(pattern.trim(), servers);
      } catch (err) {
        c.error(path, (err as Error).message);
      }
    }
  }
  flush();
  return out;
}
