import { describe, expect, test } from "bun:test";
import { buildConfig, type RawConfig } from "../../src/config/build.ts";
import { decode } from "../../src/config/decode.ts";
import type { ConfigIssue } from "../../src/config/issues.ts";
import { NO_RULE_ENV } from "../../src/config/rules.ts";
import { buildSniffer } from "../../src/config/sniffer.ts";
import { parseYaml } from "../../src/config/yaml.ts";
import { createRegistry } from "../../src/core/runtime.ts";
import type { RuleEnv, RuleSetRef } from "../../src/sdk/types.ts";
import { tempDir } from "../helpers.ts";

/** A rule-provider reference as the builder would hand one out (its contents are not what is tested). */
function ruleSet(name: string, behavior: RuleSetRef["behavior"], hosts: string[], ips: string[]): RuleSetRef {
  return {
    name,
    behavior,
    needsIp: behavior !== "domain",
    match: (m) => ips.includes(m.destinationIP),
    matchDomain: (h) => hosts.includes(h),
  };
}

const ENV: RuleEnv = {
  ...NO_RULE_ENV,
  ruleSet: (name) =>
    ({
      names: ruleSet("names", "domain", ["listed.test"], []),
      nets: ruleSet("nets", "ipcidr", [], ["192.0.2.7"]),
      mixed: ruleSet("mixed", "classical", ["mixed.test"], ["192.0.2.9"]),
    })[name],
};

/** The section from YAML, decoded as the Builder decodes it, then built. */
function build(yaml: string) {
  const issues: ConfigIssue[] = [];
  const positions = new Map();
  const section = parseYaml(yaml).value as Record<string, unknown>;
  const options = buildSniffer({ sniffer: section.sniffer } as RawConfig, {
    env: ENV,
    decode: (schema, value, path) => decode(schema, value, { mode: "strict", path, positions, issues }),
    error: (path, message) => issues.push({ severity: "error", code: "sniffer.invalid", path, message }),
    warn: (path, message) => issues.push({ severity: "warning", code: "sniffer.warning", path, message }),
  });
  const list = (severity: string) => issues.filter((i) => i.severity === severity).map((i) => `${i.path}: ${i.message}`);
  return { options, errors: list("error"), warnings: list("warning") };
}

const ports = (r: Uint16Array | undefined) => (r ? [...r] : undefined);

describe("sniffer section", () => {
  test("per-protocol ports and override; a bare protocol gets its default port; global defaults", () => {
    const { options, errors } = build(`
sniffer:
  enable: true
  override-destination: false
  sniff:
    tls:
    HTTP: { ports: [80, "8080-8090", " [9000] "], override-destination: true }
    QUIC: { ports: ["8443-443"] }
`);
    expect(errors).toEqual([]);
    expect(ports(options!.protocols.TLS!.ports)).toEqual([443, 443]);
    expect(options!.protocols.TLS!.override).toBe(false);
    expect(ports(options!.protocols.HTTP!.ports)).toEqual([80, 80, 8080, 8090, 9000, 9000]);
    expect(options!.protocols.HTTP!.override).toBe(true);
    expect(ports(options!.protocols.QUIC!.ports)).toEqual([443, 8443]);
    expect(options!.forceDnsMapping).toBe(true);
    expect(options!.parsePureIp).toBe(true);
    expect(options!.forceDomain).toBeUndefined();
  });

  test("disabled: checked all the same, nothing built", () => {
    const { options, errors } = build(`
sniffer:
  enable: false
  sniff: { SSH: {} , TLS: { ports: [70000, "1-2-3", "x"] } }
`);
    expect(options).toBeUndefined();
    expect(errors).toEqual([
      `sniffer.sniff.SSH: unknown sniffer protocol "SSH" (known: HTTP, TLS, QUIC)`,
      `sniffer.sniff.TLS.ports[0]: invalid port or port range "70000" (a port 0-65535 or "from-to")`,
      `sniffer.sniff.TLS.ports[1]: invalid port or port range "1-2-3" (a port 0-65535 or "from-to")`,
      `sniffer.sniff.TLS.ports[2]: invalid port or port range "x" (a port 0-65535 or "from-to")`,
    ]);
  });

  test("legacy sniffing + port-whitelist when sniff is empty (deprecated); ignored beside sniff", () => {
    const legacy = build(`
sniffer:
  enable: true
  sniffing: [tls, http]
  port-whitelist: [443, "8000-8001"]
`);
    expect(legacy.errors).toEqual([]);
    expect(legacy.warnings).toEqual(["sniffer.sniffing: deprecated: use sniff (protocol: {ports, override-destination}) instead"]);
    expect(ports(legacy.options!.protocols.TLS!.ports)).toEqual([443, 443, 8000, 8001]);
    expect(ports(legacy.options!.protocols.HTTP!.ports)).toEqual([443, 443, 8000, 8001]);
    expect(legacy.options!.protocols.HTTP!.override).toBe(true);
    const both = build(`
sniffer:
  enable: true
  sniffing: [quic]
  sniff: { TLS: {} }
`);
    expect(both.warnings).toEqual(["sniffer.sniffing: ignored: sniffing and port-whitelist apply only when sniff is empty"]);
    expect(Object.keys(both.options!.protocols)).toEqual(["TLS"]);
    expect(build(`sniffer: { enable: true, sniffing: [ftp] }`).errors).toEqual([`sniffer.sniffing[0]: unknown sniffer protocol "ftp" (known: HTTP, TLS, QUIC)`]);
    expect(build(`sniffer: { enable: true }`).warnings).toEqual(["sniffer: the sniffer is enabled without protocols (sniff): nothing is sniffed"]);
  });

  test("domain lists: Clash patterns and rule-sets; bad patterns and unusable sets are errors", () => {
    const { options, errors, warnings } = build(`
sniffer:
  enable: true
  sniff: { TLS: {} }
  force-domain: ["+.google.com", "*.one.test", "rule-set:names,mixed"]
  skip-domain: ["bad..name", "rule-set:nets", "rule-set:nowhere", "geosite:cn"]
`);
    const force = options!.forceDomain!;
    expect([force("google.com"), force("www.google.com"), force("a.one.test"), force("a.b.one.test"), force("one.test")]).toEqual([true, true, true, false, false]);
    expect([force("listed.test"), force("mixed.test"), force("other.test")]).toEqual([true, true, false]);
    expect(warnings).toEqual([`sniffer.force-domain[2]: rule-set "mixed" is classical: only its domain rules can match here`]);
    expect(errors).toEqual([
      `sniffer.skip-domain[0]: invalid domain pattern "bad..name"`,
      `sniffer.skip-domain[1]: rule-set "nets" has behavior ipcidr, which cannot match here`,
      `sniffer.skip-domain[2]: rule-set "nowhere" is not defined in rule-providers`,
      `sniffer.skip-domain[3]: geosite "cn": no geodata is loaded here`,
    ]);
  });

  test("address lists: CIDRs, geoip:lan, rule-sets; a bare address is an error", () => {
    const { options, errors } = build(`
sniffer:
  enable: true
  sniff: { TLS: {} }
  skip-dst-address: ["203.0.113.0/24", "2001:db8::/32", "geoip:LAN", "rule-set:nets"]
  skip-src-address: ["198.51.100.1", "rule-set:names"]
`);
    const dst = options!.skipDstAddress!;
    expect(["203.0.113.9", "2001:db8::1", "192.168.1.1", "::1", "192.0.2.7", "8.8.8.8", "2001:4860::8888"].map(dst)).toEqual([true, true, true, true, true, false, false]);
    expect(errors).toEqual([
      `sniffer.skip-src-address[0]: "198.51.100.1" has no prefix length (write 198.51.100.1/bits)`,
      `sniffer.skip-src-address[1]: rule-set "names" has behavior domain, which cannot match here`,
    ]);
  });
});

describe("sniffer section in a whole config", () => {
  test("built onto the config with line numbers; not reported as inactive", async () => {
    const home = tempDir();
    const registry = await createRegistry(home.path);
    home.remove();
    const r = buildConfig(`sniffer:\n  enable: true\n  sniff:\n    TLS: {ports: [443]}\n    WEB: {}\n`, registry);
    const sniffIssues = r.issues.filter((i) => i.path.startsWith("sniffer") || i.code === "config.inactive");
    expect(sniffIssues.map((i) => [i.path, i.line, i.message])).toEqual([["sniffer.sniff.WEB", 5, `unknown sniffer protocol "WEB" (known: HTTP, TLS, QUIC)`]]);
    const ok = buildConfig(`sniffer:\n  enable: true\n  sniff:\n    TLS: {ports: [443]}\n`, registry);
    expect(ok.config?.sniffer?.protocols.TLS?.override).toBe(true);
  });
});
