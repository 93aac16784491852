import type { Static, TSchema } from "@sinclair/typebox";
import { IpRangeTable } from "../core/ip-ranges.ts";
import { createMetadata } from "../sdk/metadata.ts";
import { isLanAddress, parseIp, parsePrefix } from "../sdk/ip.ts";
import type { PortRanges } from "../sdk/ports.ts";
import type { RuleEnv } from "../sdk/types.ts";
import type { HostMatcher, IpMatcher, SniffProtocol, SnifferOptions } from "../sniff/sniffer.ts";
import type { RawConfig } from "./build.ts";
import { keyPath } from "./issues.ts";
import { nameList, namesAfter, ruleSetFor, warnOf } from "./name-lists.ts";
import { SniffProtocolSchema } from "./schema.ts";

export interface SnifferBuildContext {
  env: RuleEnv;
  /** Decode a value at a key path, reporting problems; undefined when it had errors. */
  decode<S extends TSchema>(schema: S, value: unknown, path: string): Static<S> | undefined;
  error(path: string, message: string): void;
  warn(path: string, message: string): void;
}

const PROTOCOLS: readonly SniffProtocol[] = ["HTTP", "TLS", "QUIC"];

/** Each protocol's ports when none are given (mihomo's sniffer constructors). */
const DEFAULT_PORTS: Record<SniffProtocol, PortRanges> = {
  HTTP: Uint16Array.of(80, 80),
  TLS: Uint16Array.of(443, 443),
  QUIC: Uint16Array.of(443, 443),
};

/**
 * Build and check `sniffer` (config.md §16, §23 row 36; mihomo config.go parseSniffer). Checked
 * whether or not it is enabled, as mihomo parses it either way; undefined unless enabled.
 */
export function buildSniffer(raw: RawConfig, c: SnifferBuildContext): SnifferOptions | undefined {
  const s = raw.sniffer ?? {};
  const enable = s.enable === true;
  const override = s["override-destination"] ?? true;
  const protocols: SnifferOptions["protocols"] = {};
  const sniff = s.sniff ?? {};
  if (Object.keys(sniff).length > 0) {
    if (s.sniffing && s.sniffing.length > 0) c.warn("sniffer.sniffing", "ignored: sniffing and port-whitelist apply only when sniff is empty");
    for (const [name, value] of Object.entries(sniff)) {
      const path = keyPath("sniffer.sniff", name);
      const protocol = protocolOf(name, path, c);
      const o = c.decode(SniffProtocolSchema, value, path);
      if (!protocol || !o) continue;
      const ports = portList(o.ports ?? [], `${path}.ports`, c);
      if (ports) protocols[protocol] = { ports: ports.length > 0 ? ports : DEFAULT_PORTS[protocol], override: o["override-destination"] ?? override };
    }
  } else {
    const names = s.sniffing ?? [];
    if (enable && names.length > 0) c.warn("sniffer.sniffing", "deprecated: use sniff (protocol: {ports, override-destination}) instead");
    const ports = portList(s["port-whitelist"] ?? [], "sniffer.port-whitelist", c);
    names.forEach((name, i) => {
      const protocol = protocolOf(name, `sniffer.sniffing[${i}]`, c);
      if (protocol && ports) protocols[protocol] = { ports: ports.length > 0 ? ports : DEFAULT_PORTS[protocol], override };
    });
  }
  const options: SnifferOptions = {
    protocols,
    forceDomain: optionalList(s["force-domain"] ?? [], "sniffer.force-domain", c),
    skipDomain: optionalList(s["skip-domain"] ?? [], "sniffer.skip-domain", c),
    skipSrcAddress: addressList(s["skip-src-address"] ?? [], "sniffer.skip-src-address", c),
    skipDstAddress: addressList(s["skip-dst-address"] ?? [], "sniffer.skip-dst-address", c),
    forceDnsMapping: s["force-dns-mapping"] ?? true,
    parsePureIp: s["parse-pure-ip"] ?? true,
  };
  if (!enable) return undefined;
  if (Object.keys(protocols).length === 0) c.warn("sniffer", "the sniffer is enabled without protocols (sniff): nothing is sniffed");
  return options;
}

/** A protocol name in any case (mihomo upper-cases it); undefined (reported) when unknown. */
function protocolOf(name: string, path: string, c: SnifferBuildContext): SniffProtocol | undefined {
  const upper = name.toUpperCase();
  const found = PROTOCOLS.find((p) => p === upper);
  if (!found) c.error(path, `unknown sniffer protocol "${name}" (known: ${PROTOCOLS.join(", ")})`);
  return found;
}

/**
 * A port list (`[443, 8443, "8000-9000"]`) as flat ranges, empty items skipped; undefined when an
 * item is invalid (reported). As mihomo, each item is one port or one `a-b` range (bounds in any
 * order; `[`, `]` and spaces trimmed); ours refuses numbers above 65535, which mihomo wraps.
 */
function portList(items: (number | string)[], path: string, c: SnifferBuildContext): PortRanges | undefined {
  const out: number[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const text = String(item);
    if (text === "") return;
    const parts = text.split("-").map((p) => p.replace(/^[[\] ]+|[[\] ]+$/g, ""));
    const nums = parts.map((p) => (/^\d{1,5}$/.test(p) ? Number(p) : -1));
    if (parts.length > 2 || nums.some((n) => n < 0 || n > 65535)) {
      c.error(`${path}[${i}]`, `invalid port or port range "${text}" (a port 0-65535 or "from-to")`);
      ok = false;
      return;
    }
    const a = nums[0]!;
    const b = nums[1] ?? a;
    out.push(Math.min(a, b), Math.max(a, b));
  });
  return ok ? Uint16Array.from(out) : undefined;
}

/** `force-domain` / `skip-domain`; undefined for an empty list, so the sniffer skips the test. */
function optionalList(entries: string[], path: string, c: SnifferBuildContext): HostMatcher | undefined {
  return entries.length === 0 ? undefined : nameList(entries, path, c);
}

/**
 * `skip-src-address` / `skip-dst-address`: CIDRs in one range table, then `geoip:` and `rule-set:`
 * entries; undefined for an empty list. A rule-set is asked about the address as a destination.
 */
function addressList(entries: string[], path: string, c: SnifferBuildContext): IpMatcher | undefined {
  if (entries.length === 0) return undefined;
  const prefixes: { prefix: ReturnType<typeof parsePrefix>; rule: number }[] = [];
  const others: IpMatcher[] = [];
  const words = new Uint32Array(4);
  const probe = createMetadata({ network: "tcp", type: "Inner" });
  entries.forEach((entry, i) => {
    const at = `${path}[${i}]`;
    const lower = entry.toLowerCase();
    try {
      if (lower.startsWith("geoip:")) {
        for (const code of namesAfter(lower, "geoip:")) {
          others.push(code === "lan" ? isLanAddress : warnOf(c.env.geo.geoip(code), at, c));
        }
      } else if (lower.startsWith("rule-set:")) {
        for (const name of namesAfter(entry, "rule-set:")) {
          const set = ruleSetFor(name, "domain", at, c);
          if (set) {
            others.push((ip) => {
              probe.destinationIP = ip;
              return set.match(probe);
            });
          }
        }
      } else prefixes.push({ prefix: parsePrefix(entry), rule: 0 });
    } catch (err) {
      c.error(at, (err as Error).message);
    }
  });
  const table = new IpRangeTable(prefixes);
  if (others.length === 0) return (ip) => inTable(table, ip, words);
  return (ip) => inTable(table, ip, words) || others.some((m) => m(ip));
}

function inTable(table: IpRangeTable, ip: string, words: Uint32Array): boolean {
  const family = parseIp(ip, words);
  return family !== 0 && table.lookup(family, words) >= 0;
}
