import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { rulePlugins } from "../../plugins/rule/index.ts";
import { type ParsedRule, parseRuleLine } from "../../src/config/rules.ts";
import { RuntimeHost, startController } from "../../src/controller/index.ts";
import { controllerSettings } from "../../src/controller/settings.ts";
import { Registry } from "../../src/core/registry.ts";
import { Runtime } from "../../src/core/runtime.ts";
import { DomainType, encodeGeoIPList, encodeGeoSiteList, type SiteDomain } from "../../src/geo/dat.ts";
import { type GeoFiles, type GeoKeys, openGeoData } from "../../src/geo/geodata.ts";
import { type MmdbValue, MmdbWriter } from "../../src/geo/mmdb-writer.ts";
import { setLogLevel } from "../../src/log.ts";
import { createMetadata, type Metadata } from "../../src/sdk/index.ts";
import { quiet } from "../rules/helpers.ts";

/** Country databases in the three layouts mihomo reads. */
export type CountryLayout = "maxmind" | "sing" | "meta";

const TYPES: Record<CountryLayout, string> = { maxmind: "GeoLite2-Country", sing: "sing-geoip", meta: "Meta-geoip0" };

/** A country MMDB: `codes` is one code, or several for the Meta layout. */
export function countryMmdb(entries: [cidr: string, codes: string | string[]][], layout: CountryLayout = "meta"): Uint8Array {
  const w = new MmdbWriter({ databaseType: TYPES[layout] });
  for (const [cidr, codes] of entries) {
    const value: MmdbValue =
      layout === "maxmind" ? { country: { iso_code: String(codes), names: { en: String(codes) } }, continent: { code: "AS" } } : codes;
    w.insert(cidr, value);
  }
  return w.toBuffer();
}

/** An ASN MMDB as GeoLite2-ASN or ipinfo lay it out. */
export function asnMmdb(entries: [cidr: string, asn: number, org: string][], layout: "geolite2" | "ipinfo" = "geolite2"): Uint8Array {
  const w = new MmdbWriter({ databaseType: layout === "geolite2" ? "GeoLite2-ASN" : "ipinfo generic_asn_free.mmdb" });
  for (const [cidr, asn, org] of entries) {
    w.insert(cidr, layout === "geolite2" ? { autonomous_system_number: asn, autonomous_system_organization: org } : { asn: `AS${asn}`, name: org, domain: "x" });
  }
  return w.toBuffer();
}

export const full = (value: string, ...attributes: string[]): SiteDomain => ({ type: DomainType.Full, value, attributes });
export const root = (value: string, ...attributes: string[]): SiteDomain => ({ type: DomainType.RootDomain, value, attributes });
export const keyword = (value: string, ...attributes: string[]): SiteDomain => ({ type: DomainType.Plain, value, attributes });
export const regex = (value: string, ...attributes: string[]): SiteDomain => ({ type: DomainType.Regex, value, attributes });

export function geositeDat(entries: Record<string, SiteDomain[]>): Uint8Array {
  return encodeGeoSiteList(Object.entries(entries).map(([code, domains]) => ({ code, domains })));
}

export function geoipDat(entries: Record<string, string[]>): Uint8Array {
  return encodeGeoIPList(Object.entries(entries).map(([code, cidrs]) => ({ code, cidrs })));
}

export function put(home: string, name: string, bytes: Uint8Array): string {
  const path = join(home, name);
  writeFileSync(path, bytes);
  return path;
}

const registry = new Registry();
for (const plugin of rulePlugins) await registry.load(plugin, "builtin", quiet);

/** Parse rule lines against a HOME's geodata; warnings are collected. */
export function geoRules(home: string, keys: GeoKeys = {}) {
  const geo: GeoFiles = openGeoData(home, keys);
  const warnings: string[] = [];
  const env = { ruleSet: () => undefined, geo };
  return {
    geo,
    warnings,
    parse: (line: string): ParsedRule => parseRuleLine(line, registry, (m) => warnings.push(m), env),
  };
}

export function md(init: Partial<Metadata>): Metadata {
  return createMetadata({ network: "tcp", type: "HTTPS", ...init });
}

/**
 * A local download server: `files[path]` is served as is, anything else is 404; requests are
 * recorded (`path user-agent`). `hold()` keeps the next request waiting until released.
 */
export function geoServer() {
  const files = new Map<string, Uint8Array>();
  const requests: string[] = [];
  let held: { arrived: () => void; released: Promise<void> } | undefined;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(`${path} ${req.headers.get("user-agent")}`);
      if (held) {
        const h = held;
        held = undefined;
        h.arrived();
        await h.released;
      }
      const body = files.get(path);
      return body ? new Response(body) : new Response("not found", { status: 404 });
    },
  });
  return {
    files,
    requests,
    url: (path: string) => `http://127.0.0.1:${server.port}${path}`,
    hold() {
      const arrived = Promise.withResolvers<void>();
      const released = Promise.withResolvers<void>();
      held = { arrived: arrived.resolve, released: released.promise };
      return { arrived: arrived.promise, release: released.resolve };
    },
    stop: () => server.stop(true),
  };
}

/** A Runtime over a prepared HOME (the files are written before it starts), with its controller. */
export async function startGeoFerry(homeDir: string, configText: string) {
  setLogLevel("silent");
  const runtime = await Runtime.create({ homeDir, configText });
  await runtime.start();
  setLogLevel("silent");
  const settings = controllerSettings(runtime.engine!.config.raw, homeDir, { externalController: "127.0.0.1:0" });
  const controller = await startController(new RuntimeHost(runtime), settings, "v0.0.0-test");
  const base = `http://${controller.addresses[0]}`;
  return {
    runtime,
    /** The rule at `index` of the config in force. */
    rule: (index: number) => runtime.engine!.config.rules[index]!.rule,
    get: (path: string) => fetch(base + path),
    post: (path: string) => fetch(base + path, { method: "POST", body: '{"path":"","payload":""}' }),
    async stop() {
      await controller.stop();
      await runtime.shutdown(0);
    },
  };
}
