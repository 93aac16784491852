import { afterAll, describe, expect, test } from "bun:test";
import { Router } from "../../src/core/router.ts";
import { tempDir } from "../helpers.ts";
import { quiet } from "../rules/helpers.ts";
import { asnMmdb, countryMmdb, full, geoipDat, geoRules, geositeDat, keyword, md, put, regex, root } from "./fixtures.ts";

const homes: { remove(): void }[] = [];
function home(): string {
  const h = tempDir("ferry-geo-");
  homes.push(h);
  return h.path;
}
afterAll(() => {
  for (const h of homes) h.remove();
});

/** The country data every layout below carries, IPv4 and IPv6. */
const COUNTRIES: [string, string | string[]][] = [
  ["1.0.0.0/8", "cn"],
  ["1.2.3.0/24", "jp"],
  ["2001:db8::/32", "cn"],
  ["127.0.0.0/8", "xx"],
];

describe("GEOIP with a country MMDB", () => {
  for (const layout of ["maxmind", "sing", "meta"] as const) {
    test(`${layout} layout: codes case-insensitive, the most specific network wins, IPv6 too`, () => {
      const h = home();
      put(h, "Country.mmdb", countryMmdb(COUNTRIES, layout));
      const g = geoRules(h);
      const cn = g.parse("GEOIP,CN,DIRECT").rule;
      expect(cn.type).toBe("GeoIP");
      expect(cn.payload).toBe("cn");
      expect(cn.needsIp).toBe(true);
      expect(cn.match(md({ destinationIP: "1.9.9.9" }))).toBe(true);
      expect(cn.match(md({ destinationIP: "1.2.3.4" }))).toBe(false);
      expect(cn.match(md({ destinationIP: "2001:db8::1" }))).toBe(true);
      expect(cn.match(md({ destinationIP: "2001:db9::1" }))).toBe(false);
      expect(cn.match(md({ destinationIP: "8.8.8.8" }))).toBe(false);
      expect(cn.match(md({ host: "example.com" }))).toBe(false);
      expect(g.parse("geoip,jp,DIRECT").rule.match(md({ destinationIP: "1.2.3.4" }))).toBe(true);
      expect(g.geo.countries("1.2.3.4")).toEqual(["JP"]);
      expect(g.geo.countries("9.9.9.9")).toEqual([]);
      expect(g.warnings).toEqual([]);
    });
  }

  test("Meta-geoip0 lists several codes for one network", () => {
    const h = home();
    put(h, "geoip.metadb", countryMmdb([["10.0.0.0/8", ["cn", "private"]]], "meta"));
    const g = geoRules(h);
    expect(g.geo.countries("10.1.2.3")).toEqual(["CN", "PRIVATE"]);
    expect(g.parse("GEOIP,private,DIRECT").rule.match(md({ destinationIP: "10.1.2.3" }))).toBe(true);
    expect(g.parse("GEOIP,cn,DIRECT").rule.match(md({ destinationIP: "10.1.2.3" }))).toBe(true);
  });

  test("SRC-GEOIP and the src param test the source address and never resolve", () => {
    const h = home();
    put(h, "geoip.metadb", countryMmdb(COUNTRIES));
    const g = geoRules(h);
    for (const line of ["SRC-GEOIP,cn,DIRECT", "GEOIP,cn,DIRECT,src"]) {
      const r = g.parse(line).rule;
      expect(r.type).toBe("SrcGeoIP");
      expect(r.needsIp).toBe(false);
      expect(r.match(md({ sourceIP: "1.1.1.1", destinationIP: "8.8.8.8" }))).toBe(true);
      expect(r.match(md({ sourceIP: "8.8.8.8", destinationIP: "1.1.1.1" }))).toBe(false);
    }
  });

  test("lan needs no database: private, loopback, link-local, multicast, unspecified; not 100.64/10", () => {
    const g = geoRules(home());
    const lan = g.parse("GEOIP,LAN,DIRECT").rule;
    for (const ip of ["10.1.1.1", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "224.0.0.251", "0.0.0.0", "::1", "::", "fd00::1", "fe80::1", "ff02::1"]) {
      expect([ip, lan.match(md({ destinationIP: ip }))]).toEqual([ip, true]);
    }
    for (const ip of ["100.64.0.1", "8.8.8.8", "172.32.0.1", "2001:db8::1"]) expect([ip, lan.match(md({ destinationIP: ip }))]).toEqual([ip, false]);
    expect((lan as unknown as { size: number }).size).toBe(0);
  });

  test("no-resolve: a host-only connection is not resolved for the rule", async () => {
    const h = home();
    put(h, "geoip.metadb", countryMmdb(COUNTRIES));
    const g = geoRules(h);
    const lookups: string[] = [];
    const resolve = async (host: string) => {
      lookups.push(host);
      return "1.1.1.1";
    };
    const quietRouter = (lines: string[]) => new Router(lines.map(g.parse), { resolve, log: quiet });
    const noResolve = quietRouter(["GEOIP,cn,REJECT,no-resolve", "MATCH,DIRECT"]);
    expect((await noResolve.match(md({ host: "example.com" }), () => true)).target).toBe("DIRECT");
    expect(lookups).toEqual([]);
    const resolving = quietRouter(["GEOIP,cn,REJECT", "MATCH,DIRECT"]);
    expect((await resolving.match(md({ host: "example.com" }), () => true)).target).toBe("REJECT");
    expect(lookups).toEqual(["example.com"]);
  });

  test("warnings: a leading ! (mmdb mode) and non-ISO codes with a MaxMind DB never match", () => {
    const h = home();
    put(h, "Country.mmdb", countryMmdb(COUNTRIES, "maxmind"));
    const g = geoRules(h);
    expect(g.parse("GEOIP,!cn,DIRECT").rule.match(md({ destinationIP: "8.8.8.8" }))).toBe(false);
    g.parse("GEOIP,private,DIRECT");
    expect(g.warnings.length).toBe(2);
    expect(g.warnings[0]).toContain("geodata-mode");
    expect(g.warnings[1]).toContain("ISO country codes only");
  });

  test("the file is found whatever its case; a missing one names the path and geox-url", () => {
    const h = home();
    put(h, "COUNTRY.MMDB", countryMmdb(COUNTRIES));
    expect(geoRules(h).parse("GEOIP,cn,DIRECT").rule.match(md({ destinationIP: "1.1.1.1" }))).toBe(true);
    const empty = home();
    expect(() => geoRules(empty, { "geox-url": { mmdb: "http://127.0.0.1:9/c.mmdb" } }).parse("GEOIP,cn,DIRECT")).toThrow(
      `"GEOIP,cn,DIRECT": ${empty}/geoip.metadb not found (nor Country.mmdb or geoip.db): \`ferry run\` downloads it from geox-url.mmdb (http://127.0.0.1:9/c.mmdb)`,
    );
    const broken = home();
    put(broken, "geoip.metadb", new TextEncoder().encode("not a database"));
    expect(() => geoRules(broken).parse("GEOIP,cn,DIRECT")).toThrow(`${broken}/geoip.metadb is not a valid MMDB database`);
  });
});

describe("IP-ASN", () => {
  for (const layout of ["geolite2", "ipinfo"] as const) {
    test(`${layout}: the number as decimal text, destination or source, IPv6`, () => {
      const h = home();
      put(h, "ASN.mmdb", asnMmdb([["1.1.1.0/24", 13335, "Cloudflare"], ["2606:4700::/32", 13335, "Cloudflare"], ["8.8.8.0/24", 15169, "Google"]], layout));
      const g = geoRules(h);
      const cf = g.parse("IP-ASN,13335,DIRECT").rule;
      expect(cf.type).toBe("IPASN");
      expect(cf.needsIp).toBe(true);
      expect(cf.match(md({ destinationIP: "1.1.1.1" }))).toBe(true);
      expect(cf.match(md({ destinationIP: "2606:4700::1111" }))).toBe(true);
      expect(cf.match(md({ destinationIP: "8.8.8.8" }))).toBe(false);
      expect(cf.match(md({ destinationIP: "9.9.9.9" }))).toBe(false);
      expect(g.geo.asn("8.8.8.8")).toEqual({ number: 15169, organization: "Google" });
      const src = g.parse("SRC-IP-ASN,15169,DIRECT").rule;
      expect([src.type, src.needsIp]).toEqual(["SrcIPASN", false]);
      expect(src.match(md({ sourceIP: "8.8.8.8", destinationIP: "1.1.1.1" }))).toBe(true);
      expect(g.parse("IP-ASN,13335,DIRECT,no-resolve").rule.needsIp).toBe(false);
    });
  }

  test("AS13335 never matches (mihomo compares the decimal text) and says so; no ASN.mmdb is an error", () => {
    const h = home();
    put(h, "asn.MMDB", asnMmdb([["1.1.1.0/24", 13335, "Cloudflare"]]));
    const g = geoRules(h);
    expect(g.parse("IP-ASN,AS13335,DIRECT").rule.match(md({ destinationIP: "1.1.1.1" }))).toBe(false);
    expect(g.warnings[0]).toContain("not an AS number in decimal");
    const empty = home();
    expect(() => geoRules(empty).parse("IP-ASN,13335,DIRECT")).toThrow(`${empty}/ASN.mmdb not found`);
  });
});

describe("GEOSITE", () => {
  const SITES = {
    CN: [full("full.cn"), root("root.cn"), keyword("kwcn"), regex("^re\\d+\\.example$"), root("tagged.cn", "ads")],
    google: [root("google.com"), root("google.cn", "cn"), full("g.cn", "cn", "ads"), keyword("googleapis")],
  };

  test("all four domain types, code case-insensitive, size is the entry count", () => {
    const h = home();
    put(h, "geosite.DAT", geositeDat(SITES));
    const g = geoRules(h);
    const cn = g.parse("GEOSITE,cn,DIRECT").rule;
    expect([cn.type, cn.payload, cn.needsIp, (cn as unknown as { size: number }).size]).toEqual(["GeoSite", "cn", false, 5]);
    const hit = (host: string) => cn.match(md({ host }));
    expect(["full.cn", "root.cn", "a.b.root.cn", "xkwcnx", "re12.example", "tagged.cn"].map(hit)).toEqual([true, true, true, true, true, true]);
    expect(["a.full.cn", "notroot.cn", "re.example", "x.re1.example", "example.com", ""].map(hit)).toEqual([false, false, false, false, false, false]);
    expect(cn.match(md({ host: "", sniffHost: "root.cn" }))).toBe(true);
    expect(g.parse("GEOSITE,Google,DIRECT").rule.match(md({ host: "www.google.com" }))).toBe(true);
  });

  test("@attr keeps entries with every listed attribute; @!attr is an attribute named !attr (mihomo) and warns", () => {
    const h = home();
    put(h, "GeoSite.dat", geositeDat(SITES));
    const g = geoRules(h);
    const gcn = g.parse("GEOSITE,google@cn,DIRECT").rule;
    expect((gcn as unknown as { size: number }).size).toBe(2);
    expect(["google.cn", "www.google.cn", "g.cn", "google.com", "googleapis.com"].map((host) => gcn.match(md({ host })))).toEqual([true, true, true, false, false]);
    const both = g.parse("GEOSITE,google@cn@ads,DIRECT").rule;
    expect(["g.cn", "google.cn"].map((host) => both.match(md({ host })))).toEqual([true, false]);
    expect(g.warnings).toEqual([]);
    const negated = g.parse("GEOSITE,google@!cn,DIRECT").rule;
    expect(["google.com", "google.cn"].map((host) => negated.match(md({ host })))).toEqual([false, false]);
    expect(g.warnings[0]).toContain('no entry of "google" has @!cn');
    expect(g.warnings[0]).toContain("mihomo has no negated attributes");
  });

  test("several keywords and regexes (folded into alternations) keep their own meaning", () => {
    const h = home();
    const list = [keyword("a.b"), keyword("c+d"), regex("^x\\d$"), regex("(?i)^UPPER\\.com$"), regex("^(ab)\\1\\.com$"), regex("^y|z$")];
    put(h, "GeoSite.dat", geositeDat({ mixed: list }));
    const r = geoRules(h).parse("GEOSITE,mixed,DIRECT").rule;
    const hit = (host: string) => r.match(md({ host }));
    expect(["1a.b2", "xc+dx", "x7", "upper.com", "abab.com", "yes", "buzz"].map(hit)).toEqual([true, true, true, true, true, true, true]);
    expect(["axb", "ccd", "x77", "upper.comx", "ab.com", "ayes", "zb"].map(hit)).toEqual([false, false, false, false, false, false, false]);
  });

  test("a leading ! negates the list, still never matching a connection without a host", () => {
    const h = home();
    put(h, "GeoSite.dat", geositeDat(SITES));
    const not = geoRules(h).parse("GEOSITE,!cn,DIRECT").rule;
    expect(["example.com", "root.cn", ""].map((host) => not.match(md({ host })))).toEqual([true, false, false]);
  });

  test("unknown list, missing file and a bad regex are errors naming the file", () => {
    const h = home();
    put(h, "GeoSite.dat", geositeDat({ ...SITES, bad: [regex("(")] }));
    const g = geoRules(h);
    expect(() => g.parse("GEOSITE,nope,DIRECT")).toThrow(`list "nope" not found in ${h}/GeoSite.dat`);
    expect(() => g.parse("GEOSITE,bad,DIRECT")).toThrow(`${h}/GeoSite.dat: list "bad": invalid regex "("`);
    const empty = home();
    expect(() => geoRules(empty).parse("GEOSITE,cn,DIRECT")).toThrow(`${empty}/GeoSite.dat not found: \`ferry run\` downloads it from geox-url.geosite`);
  });
});

describe("geodata-mode: GEOIP from GeoIP.dat", () => {
  test("CIDR lists per code, IPv6, ! negates, unknown code is an error, size is the CIDR count", () => {
    const h = home();
    put(h, "GeoIP.dat", geoipDat({ CN: ["1.0.0.0/8", "2001:db8::/32"], private: ["10.0.0.0/8"] }));
    const g = geoRules(h, { "geodata-mode": true });
    const cn = g.parse("GEOIP,cn,DIRECT").rule;
    expect((cn as unknown as { size: number }).size).toBe(2);
    expect(["1.2.3.4", "2001:db8::5", "8.8.8.8"].map((ip) => cn.match(md({ destinationIP: ip })))).toEqual([true, true, false]);
    const notCn = g.parse("GEOIP,!cn,DIRECT").rule;
    expect(["1.2.3.4", "8.8.8.8"].map((ip) => notCn.match(md({ destinationIP: ip })))).toEqual([false, true]);
    expect(g.parse("GEOIP,PRIVATE,DIRECT").rule.match(md({ destinationIP: "10.9.9.9" }))).toBe(true);
    expect(() => g.parse("GEOIP,jp,DIRECT")).toThrow(`country code "jp" not found in ${h}/GeoIP.dat`);
    expect(g.warnings).toEqual([]);
  });

  test("GeoIP.dat is needed even with a country MMDB present", () => {
    const h = home();
    put(h, "geoip.metadb", countryMmdb(COUNTRIES));
    expect(() => geoRules(h, { "geodata-mode": true }).parse("GEOIP,cn,DIRECT")).toThrow(`${h}/GeoIP.dat not found`);
  });
});

describe("sharing and reloads", () => {
  test("a config built after the file was replaced reads the new one; rules built before keep working", () => {
    const h = home();
    put(h, "GeoSite.dat", geositeDat({ cn: [full("a.cn")] }));
    const first = geoRules(h).parse("GEOSITE,cn,DIRECT").rule;
    const second = geoRules(h).parse("GEOSITE,cn,DIRECT").rule;
    expect(second.match(md({ host: "a.cn" }))).toBe(true);
    put(h, "GeoSite.dat", geositeDat({ cn: [full("b.cn"), full("c.cn")] }));
    const third = geoRules(h).parse("GEOSITE,cn,DIRECT").rule;
    expect(["a.cn", "b.cn"].map((host) => third.match(md({ host })))).toEqual([false, true]);
    expect(first.match(md({ host: "a.cn" }))).toBe(true);
  });
});
