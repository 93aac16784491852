import { describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../plugins/index.ts";
import { buildConfig } from "../../src/config/build.ts";
import { Registry } from "../../src/core/registry.ts";

const registry = new Registry();
const quiet = { error() {}, warn() {}, info() {}, debug() {} };
for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);

function issues(dns: string, extra = ""): string[] {
  return buildConfig(`${extra}dns:\n${dns}`, registry).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
}

describe("dns section validation (config.md §23 rows 33–34)", () => {
  test("a valid section has no issues and its defaults are mihomo's", () => {
    const built = buildConfig("dns:\n  enable: true\n  nameserver: [8.8.8.8]\n", registry);
    expect(built.issues).toEqual([]);
    const d = built.config!.dns;
    expect(d.enhancedMode).toBe("redir-host");
    expect(d.fakeIpRange).toBe("198.18.0.1/16");
    expect(d.defaultNameserver.map((s) => s.text)).toEqual(["114.114.114.114", "223.5.5.5", "8.8.8.8", "1.0.0.1"]);
    expect(d.fakeIpSkip("www.msftconnecttest.com")).toBe(true);
    expect(d.fakeIpSkip("example.com")).toBe(false);
    expect(d.ipv6).toBe(false);
    expect(d.useHosts).toBe(true);
  });

  test("errors name the key: empty nameserver, respect-rules alone, non-IP default-nameserver, bad scheme, bad rcode", () => {
    expect(issues("  enable: true\n  nameserver: []\n")).toContain("error dns.nameserver: nameserver must not be empty while dns.enable is true");
    expect(issues("  enable: true\n  respect-rules: true\n  nameserver: [1.1.1.1]\n").join("\n")).toContain("error dns.respect-rules: respect-rules needs proxy-server-nameserver");
    expect(issues("  default-nameserver: [tls://dns.google]\n").join("\n")).toContain("error dns.default-nameserver[0]");
    expect(issues("  default-nameserver: []\n").join("\n")).toContain("default-nameserver must not be empty");
    expect(issues("  nameserver: [gopher://1.1.1.1]\n").join("\n")).toContain('unsupported nameserver scheme "gopher"');
    expect(issues("  nameserver: [rcode://maybe]\n").join("\n")).toContain('unknown rcode "maybe"');
    expect(issues("  nameserver: ['https://1.1.1.1/dns-query#h3=true']\n").join("\n")).toContain("error dns.nameserver[0]: \"https://1.1.1.1/dns-query#h3=true\": h3=true (DNS over HTTP/3) is not supported");
    expect(issues("  fallback: ['quic://1.1.1.1']\n").join("\n")).toContain("error dns.fallback[0]: \"quic://1.1.1.1\": DNS over QUIC is not supported");
    expect(issues("  nameserver: ['dhcp://system']\n").filter((l) => l.startsWith("error"))).toEqual([]);
    expect(issues("  enhanced-mode: fake-ip\n  fake-ip-range: 198.18.0.0/30\n").join("\n")).toContain("error dns.fake-ip-range");
    expect(issues("  fake-ip-filter: ['bad..name']\n").join("\n")).toContain("error dns.fake-ip-filter[0]");
    expect(issues("  fallback-filter:\n    ipcidr: [10.0.0.0]\n").join("\n")).toContain("error dns.fallback-filter.ipcidr[0]");
    expect(issues("  nameserver-policy:\n    'rule-set:nope': 1.1.1.1\n").join("\n")).toContain('rule-set "nope" is not defined');
    expect(issues("  listen: 53\n").join("\n")).toContain("error dns.listen");
  });

  test("warnings: #name that is no proxy, fallback without a filter, fake-ip with dns off", () => {
    const w = issues("  nameserver: ['https://1.1.1.1/dns-query#eth9']\n  fallback: [8.8.8.8]\n  enhanced-mode: fake-ip\n").join("\n");
    expect(w).toContain('warning dns.nameserver[0]: "https://1.1.1.1/dns-query#eth9": "#eth9" names no proxy or group');
    expect(w).toContain("warning dns.fallback: fallback without fallback-filter");
    expect(w).toContain("warning dns.enhanced-mode: fake-ip mode has no effect while dns.enable is false");
    // The warned-about name is dropped, so the resolver dials directly instead of failing each query.
    const built = buildConfig("dns:\n  nameserver: ['tcp://1.1.1.1#eth9', 'tcp://1.1.1.1#DIRECT']\n", registry).config!;
    expect(built.dns.nameserver.map((s) => s.proxy)).toEqual(["", "DIRECT"]);
  });

  test("nameserver-policy: consecutive domain keys share one trie (exact beats wildcard), set keys keep file order", () => {
    const built = buildConfig(
      `dns:
  nameserver-policy:
    "+.example.com": 1.1.1.1
    "www.example.com,a.test": [8.8.8.8, tcp://9.9.9.9]
    "rule-set:ads": rcode://refused
    "+.test": 2.2.2.2
rule-providers:
  ads: {type: inline, behavior: domain, payload: ["+.ads.test"]}
`,
      registry,
    );
    expect(built.issues.filter((i) => i.severity === "error")).toEqual([]);
    const policy = built.config!.dns.policy;
    const pick = (h: string) => {
      for (const p of policy) {
        const l = p.lookup(h);
        if (l) return l.map((s) => s.text).join(" ");
      }
      return "";
    };
    expect(pick("www.example.com")).toBe("8.8.8.8 tcp://9.9.9.9");
    expect(pick("img.example.com")).toBe("1.1.1.1");
    expect(pick("x.ads.test")).toBe("rcode://refused");
    expect(pick("a.test")).toBe("8.8.8.8 tcp://9.9.9.9");
    expect(pick("b.test")).toBe("2.2.2.2");
    expect(pick("other.org")).toBe("");
  });

  test("fake-ip-filter-mode rule: lines with fake-ip / real-ip targets, first match wins, no match = fake IP", () => {
    const built = buildConfig(
      `dns:
  enable: true
  nameserver: [8.8.8.8]
  enhanced-mode: fake-ip
  fake-ip-filter-mode: rule
  fake-ip-filter:
    - DOMAIN,keep.lan.test,fake-ip
    - DOMAIN-SUFFIX,lan.test,real-ip
    - DOMAIN-KEYWORD,stun,real-ip
`,
      registry,
    );
    expect(built.issues).toEqual([]);
    const skip = built.config!.dns.fakeIpSkip;
    expect([skip("nas.lan.test"), skip("keep.lan.test"), skip("stun.example.com"), skip("example.com")]).toEqual([true, false, true, false]);
    expect(issues("  fake-ip-filter-mode: rule\n  fake-ip-filter: ['MATCH,DIRECT']\n").join("\n")).toContain("target must be fake-ip or real-ip");
  });
});

