import { describe, expect, test } from "bun:test";
import type { Metadata } from "../../src/sdk/index.ts";
import { matches, parse } from "./helpers.ts";

type Case = [line: string, init: Partial<Metadata>, expected: boolean];

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    test.each(cases)("%s with %o → %p", (line, init, expected) => {
      expect(matches(line, init)).toBe(expected);
    });
  });
}

table("DOMAIN", [
  ["DOMAIN,example.com,X", { host: "example.com" }, true],
  ["DOMAIN,Example.COM,X", { host: "example.com" }, true],
  ["DOMAIN,example.com,X", { host: "www.example.com" }, false],
  ["DOMAIN,example.com,X", { destinationIP: "1.2.3.4" }, false],
  ["DOMAIN,bücher.de,X", { host: "xn--bcher-kva.de" }, true],
  // The sniffed host wins over the requested one.
  ["DOMAIN,example.com,X", { host: "1.2.3.4", sniffHost: "example.com" }, true],
  ["DOMAIN,example.com,X", { host: "example.com", sniffHost: "other.com" }, false],
]);

table("DOMAIN-SUFFIX", [
  ["DOMAIN-SUFFIX,google.com,X", { host: "google.com" }, true],
  ["DOMAIN-SUFFIX,google.com,X", { host: "a.google.com" }, true],
  ["DOMAIN-SUFFIX,google.com,X", { host: "a.b.google.com" }, true],
  ["DOMAIN-SUFFIX,google.com,X", { host: "notgoogle.com" }, false],
  ["DOMAIN-SUFFIX,google.com,X", { host: "google.com.cn" }, false],
  ["DOMAIN-SUFFIX,Google.Com,X", { host: "mail.google.com" }, true],
  // A leading dot is not stripped (mihomo): it never matches.
  ["DOMAIN-SUFFIX,.google.com,X", { host: "a.google.com" }, false],
  ["DOMAIN-SUFFIX,.google.com,X", { host: "google.com" }, false],
  ["DOMAIN-SUFFIX,*.google.com,X", { host: "a.google.com" }, false],
  ["DOMAIN-SUFFIX,+.google.com,X", { host: "google.com" }, false],
  ["DOMAIN-SUFFIX,com,X", { host: "example.com" }, true],
  ["DOMAIN-SUFFIX,com,X", { host: "" }, false],
]);

table("DOMAIN-KEYWORD", [
  ["DOMAIN-KEYWORD,goo,X", { host: "www.google.com" }, true],
  ["DOMAIN-KEYWORD,GOO,X", { host: "www.google.com" }, true],
  ["DOMAIN-KEYWORD,goo,X", { host: "www.example.com" }, false],
  ["DOMAIN-KEYWORD,1.2,X", { destinationIP: "1.2.3.4" }, false],
]);

table("DOMAIN-REGEX", [
  ["DOMAIN-REGEX,^ad[0-9]+\\.,X", { host: "ad12.example.com" }, true],
  ["DOMAIN-REGEX,^ad[0-9]+\\.,X", { host: "bad12.example.com" }, false],
  // Unanchored and case-insensitive.
  ["DOMAIN-REGEX,EXAMPLE,X", { host: "www.example.com" }, true],
  // A comma inside the regex: the last field is the target.
  ["DOMAIN-REGEX,^a{1,3}\\.com$,X", { host: "aa.com" }, true],
  ["DOMAIN-REGEX,^a{1,3}\\.com$,X", { host: "aaaa.com" }, false],
  // A regex that matches "" also matches connections without a host.
  ["DOMAIN-REGEX,.*,X", { destinationIP: "1.2.3.4" }, true],
  ["DOMAIN-REGEX,.+,X", { destinationIP: "1.2.3.4" }, false],
  ["DOMAIN-REGEX,(?i)Example,X", { host: "example.org" }, true],
]);

table("DOMAIN-WILDCARD", [
  ["DOMAIN-WILDCARD,*.google.com,X", { host: "www.google.com" }, true],
  ["DOMAIN-WILDCARD,*.google.com,X", { host: "a.b.google.com" }, true],
  // Unlike DOMAIN-SUFFIX, the apex is not included.
  ["DOMAIN-WILDCARD,*.google.com,X", { host: "google.com" }, false],
  ["DOMAIN-WILDCARD,?.google.com,X", { host: "a.google.com" }, true],
  ["DOMAIN-WILDCARD,?.google.com,X", { host: "ab.google.com" }, false],
  ["DOMAIN-WILDCARD,google.*,X", { host: "google.co.uk" }, true],
  ["DOMAIN-WILDCARD,g*e.com,X", { host: "google.com" }, true],
  ["DOMAIN-WILDCARD,g*e.com,X", { host: "google.org" }, false],
  ["DOMAIN-WILDCARD,example.com,X", { host: "example.com" }, true],
  ["DOMAIN-WILDCARD,*,X", { destinationIP: "1.2.3.4" }, false],
]);

table("IP-CIDR / IP-CIDR6", [
  ["IP-CIDR,10.0.0.0/8,X", { destinationIP: "10.1.2.3" }, true],
  ["IP-CIDR,10.0.0.0/8,X", { destinationIP: "11.0.0.1" }, false],
  ["IP-CIDR,1.2.3.4/24,X", { destinationIP: "1.2.3.200" }, true],
  ["IP-CIDR,1.2.3.4/32,X", { destinationIP: "1.2.3.4" }, true],
  ["IP-CIDR,1.2.3.4/32,X", { destinationIP: "1.2.3.5" }, false],
  ["IP-CIDR,0.0.0.0/0,X", { destinationIP: "8.8.8.8" }, true],
  ["IP-CIDR,0.0.0.0/0,X", { destinationIP: "2001:db8::1" }, false],
  ["IP-CIDR,10.0.0.0/8,X", { sourceIP: "10.1.2.3" }, false],
  ["IP-CIDR,10.0.0.0/8,X", { host: "example.com" }, false],
  ["IP-CIDR,2001:db8::/32,X", { destinationIP: "2001:db8:ffff::1" }, true],
  ["IP-CIDR,2001:db8::/32,X", { destinationIP: "2001:db9::1" }, false],
  ["IP-CIDR6,2001:DB8::/32,X", { destinationIP: "2001:db8::1" }, true],
  // IP-CIDR6 is an alias: IPv4 payloads work.
  ["IP-CIDR6,192.168.0.0/16,X", { destinationIP: "192.168.7.7" }, true],
  ["IP-CIDR6,::/0,X", { destinationIP: "192.168.7.7" }, false],
  ["IP-CIDR,fe80::/10,X", { destinationIP: "febf::1" }, true],
  ["IP-CIDR,fe80::/10,X", { destinationIP: "fec0::1" }, false],
  ["IP-CIDR,::ffff:0:0/96,X", { destinationIP: "1.2.3.4" }, false],
  ["IP-CIDR,10.0.0.0/8,X,src", { sourceIP: "10.1.2.3" }, true],
  ["IP-CIDR,10.0.0.0/8,X,src", { destinationIP: "10.1.2.3" }, false],
  ["SRC-IP-CIDR,192.168.0.0/16,X", { sourceIP: "192.168.1.1", destinationIP: "8.8.8.8" }, true],
  ["SRC-IP-CIDR,192.168.0.0/16,X", { sourceIP: "8.8.8.8", destinationIP: "192.168.1.1" }, false],
]);

table("IP-SUFFIX", [
  // The last 8 bits equal .1
  ["IP-SUFFIX,0.0.0.1/8,X", { destinationIP: "10.20.30.1" }, true],
  ["IP-SUFFIX,0.0.0.1/8,X", { destinationIP: "10.20.30.2" }, false],
  ["IP-SUFFIX,0.0.3.4/16,X", { destinationIP: "9.9.3.4" }, true],
  ["IP-SUFFIX,0.0.3.4/16,X", { destinationIP: "9.9.4.4" }, false],
  ["IP-SUFFIX,0.0.0.5/3,X", { destinationIP: "1.1.1.13" }, true],
  ["IP-SUFFIX,0.0.0.5/3,X", { destinationIP: "1.1.1.14" }, false],
  // Full length is an exact match (mihomo crashes).
  ["IP-SUFFIX,1.2.3.4/32,X", { destinationIP: "1.2.3.4" }, true],
  ["IP-SUFFIX,1.2.3.4/32,X", { destinationIP: "5.2.3.4" }, false],
  ["IP-SUFFIX,::1/128,X", { destinationIP: "::1" }, true],
  ["IP-SUFFIX,::1/128,X", { destinationIP: "1::1" }, false],
  ["IP-SUFFIX,::1:2/32,X", { destinationIP: "2001:db8::1:2" }, true],
  ["IP-SUFFIX,::1:2/40,X", { destinationIP: "2001:db8::1:2" }, true],
  ["IP-SUFFIX,::1:1:2/48,X", { destinationIP: "2001:db8::1:2" }, false],
  ["IP-SUFFIX,0.0.0.0/0,X", { destinationIP: "7.7.7.7" }, true],
  ["IP-SUFFIX,0.0.0.1/8,X", { destinationIP: "::1" }, false],
  ["SRC-IP-SUFFIX,0.0.0.1/8,X", { sourceIP: "192.168.0.1" }, true],
  ["SRC-IP-SUFFIX,0.0.0.1/8,X", { destinationIP: "192.168.0.1" }, false],
]);

table("ports", [
  ["DST-PORT,443,X", { destinationPort: 443 }, true],
  ["DST-PORT,443,X", { destinationPort: 80 }, false],
  ["DST-PORT,80-90,X", { destinationPort: 85 }, true],
  // Reversed bounds are swapped.
  ["DST-PORT,90-80,X", { destinationPort: 85 }, true],
  ["DST-PORT,80/443/8000-8080,X", { destinationPort: 8080 }, true],
  ["DST-PORT,80/443/8000-8080,X", { destinationPort: 8081 }, false],
  ["SRC-PORT,1000-2000,X", { sourcePort: 1500, destinationPort: 80 }, true],
  ["SRC-PORT,1000-2000,X", { sourcePort: 80, destinationPort: 1500 }, false],
  ["IN-PORT,7890,X", { inboundPort: 7890 }, true],
  ["IN-PORT,7890,X", { inboundPort: 7891 }, false],
]);

table("inbound", [
  ["IN-TYPE,SOCKS,X", { type: "Socks4" }, true],
  ["IN-TYPE,SOCKS,X", { type: "Socks5" }, true],
  ["IN-TYPE,SOCKS,X", { type: "HTTP" }, false],
  ["IN-TYPE,socks5,X", { type: "Socks5" }, true],
  ["IN-TYPE,SOCKS4,X", { type: "Socks5" }, false],
  // HTTPS is CONNECT; HTTP is plain forward requests.
  ["IN-TYPE,HTTPS,X", { type: "HTTPS" }, true],
  ["IN-TYPE,HTTP,X", { type: "HTTPS" }, false],
  ["IN-TYPE,HTTP/HTTPS,X", { type: "HTTP" }, true],
  ["IN-TYPE,shadowsocks/tproxy,X", { type: "TProxy" }, true],
  ["IN-TYPE,INNER,X", { type: "Inner" }, true],
  ["IN-USER,alice/bob,X", { inboundUser: "bob" }, true],
  ["IN-USER,alice/bob,X", { inboundUser: "Bob" }, false],
  ["IN-USER,alice,X", { inboundUser: "" }, false],
  ["IN-NAME,DEFAULT-MIXED/lan,X", { inboundName: "lan" }, true],
  ["IN-NAME,DEFAULT-MIXED,X", { inboundName: "DEFAULT-HTTP" }, false],
]);

table("NETWORK", [
  ["NETWORK,tcp,X", { network: "tcp" }, true],
  ["NETWORK,UDP,X", { network: "udp" }, true],
  ["NETWORK,udp,X", { network: "tcp" }, false],
]);

table("MATCH", [
  ["MATCH,X", {}, true],
  ["MATCH,X", { host: "example.com" }, true],
]);

describe("payload errors", () => {
  test.each([
    ["IP-CIDR,1.2.3.4,X", /no prefix length/],
    ["IP-CIDR6,2001:db8::1,X", /no prefix length/],
    ["IP-CIDR,1.2.3.0/33,X", /invalid prefix length/],
    ["IP-CIDR,2001:db8::/129,X", /invalid prefix length/],
    ["IP-CIDR,1.2.3/24,X", /not an IP address/],
    ["IP-CIDR,01.2.3.4/24,X", /not an IP address/],
    ["SRC-IP-CIDR,example.com/24,X", /not an IP address/],
    ["IP-SUFFIX,0.0.0.1,X", /no prefix length/],
    ["DST-PORT,65536,X", /out of range/],
    ["DST-PORT,80-70000,X", /out of range/],
    ["DST-PORT,http,X", /invalid port/],
    ["DST-PORT,80//443,X", /empty item/],
    [`DST-PORT,${Array.from({ length: 29 }, (_, i) => i + 1).join("/")},X`, /too many/],
    ["NETWORK,icmp,X", /only tcp or udp/],
    ["IN-TYPE,SOCKS6,X", /unknown inbound type "SOCKS6"/],
    ["IN-TYPE,HTTP//SOCKS,X", /empty inbound type/],
    ["IN-USER,alice/,X", /empty user/],
    ["DOMAIN-REGEX,[a-,X", /invalid regex/],
    ["DOMAIN,,X", /empty domain/],
    ["DOMAIN-KEYWORD,,X", /empty keyword/],
  ])("%s", (line, error) => {
    expect(() => parse(line)).toThrow(error);
  });
});

describe("runtime types and resolution flags", () => {
  test.each([
    ["DOMAIN,a.com,X", "Domain", false],
    ["DOMAIN-SUFFIX,a.com,X", "DomainSuffix", false],
    ["DOMAIN-KEYWORD,a,X", "DomainKeyword", false],
    ["DOMAIN-REGEX,a,X", "DomainRegex", false],
    ["DOMAIN-WILDCARD,*.a.com,X", "DomainWildcard", false],
    ["IP-CIDR,1.0.0.0/8,X", "IPCIDR", true],
    ["IP-CIDR6,::/0,X", "IPCIDR", true],
    ["IP-CIDR,1.0.0.0/8,X,no-resolve", "IPCIDR", false],
    ["IP-CIDR,1.0.0.0/8,X,src", "SrcIPCIDR", false],
    ["SRC-IP-CIDR,1.0.0.0/8,X", "SrcIPCIDR", false],
    ["IP-SUFFIX,0.0.0.1/8,X", "IPSuffix", true],
    ["IP-SUFFIX,0.0.0.1/8,X,no-resolve", "IPSuffix", false],
    ["SRC-IP-SUFFIX,0.0.0.1/8,X", "SrcIPSuffix", false],
    ["DST-PORT,80,X", "DstPort", false],
    ["SRC-PORT,80,X", "SrcPort", false],
    ["IN-PORT,80,X", "InPort", false],
    ["IN-TYPE,HTTP,X", "InType", false],
    ["IN-USER,a,X", "InUser", false],
    ["IN-NAME,a,X", "InName", false],
    ["NETWORK,tcp,X", "Network", false],
    ["AND,((DOMAIN,a.com),(NETWORK,tcp)),X", "AND", false],
    ["OR,((DOMAIN,a.com),(IP-CIDR,1.0.0.0/8)),X", "OR", true],
    ["NOT,((IP-CIDR,1.0.0.0/8,no-resolve)),X", "NOT", false],
    ["MATCH,X", "Match", false],
  ])("%s is %s, needsIp %p", (line, type, needsIp) => {
    const { rule } = parse(line);
    expect(rule.type).toBe(type);
    expect(rule.needsIp).toBe(needsIp);
  });

  test("index hints for DOMAIN, DOMAIN-SUFFIX and destination IP-CIDR only", () => {
    expect(parse("DOMAIN,A.com,X").rule.index).toEqual({ kind: "domain", value: "a.com" });
    expect(parse("DOMAIN-SUFFIX,bücher.de,X").rule.index).toEqual({ kind: "domain-suffix", value: "xn--bcher-kva.de" });
    expect(parse("IP-CIDR,1.2.0.0/16,X,no-resolve").rule.index).toEqual({ kind: "ip-cidr", value: "1.2.0.0/16" });
    expect(parse("IP-CIDR6,2001:db8::/32,X").rule.index).toEqual({ kind: "ip-cidr", value: "2001:db8::/32" });
    expect(parse("IP-CIDR,1.2.0.0/16,X,src").rule.index).toBeUndefined();
    expect(parse("SRC-IP-CIDR,1.2.0.0/16,X").rule.index).toBeUndefined();
    expect(parse("DOMAIN-KEYWORD,a,X").rule.index).toBeUndefined();
  });

  test("payloads as shown by /rules", () => {
    expect(parse("DOMAIN-SUFFIX,Google.COM,X").rule.payload).toBe("google.com");
    expect(parse("IN-TYPE,socks/http,X").rule.payload).toBe("SOCKS/HTTP");
    expect(parse("NETWORK,UDP,X").rule.payload).toBe("udp");
    expect(parse("MATCH,X").rule.payload).toBe("");
  });

  test("suffix warnings: leading dot/plus/star and trailing dot", () => {
    for (const [line, hint] of [
      ["DOMAIN-SUFFIX,.google.com,X", '"google.com"'],
      ["DOMAIN-SUFFIX,+.google.com,X", '"google.com"'],
      ["DOMAIN-SUFFIX,*.google.com,X", '"google.com"'],
      ["DOMAIN-SUFFIX,google.com.,X", "ends with"],
    ] as const) {
      const warnings: string[] = [];
      parse(line, warnings);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(hint);
    }
  });
});
