import { describe, expect, test } from "bun:test";
import { type ParsedRule, parseRuleLine } from "../../src/config/rules.ts";
import { type RouteResult, Router } from "../../src/core/router.ts";
import { API_VERSION, definePlugin, type Metadata } from "../../src/sdk/index.ts";
import { md, parse, quiet, recordingLog, rng, ruleRegistry } from "./helpers.ts";

const acceptAll = (_target: string) => true;
const notPass = (t: string) => t !== "PASS";

/** A resolver that counts its calls and answers from a table (a real dependency of the router). */
function resolver(table: Record<string, string> = {}) {
  const calls: string[] = [];
  return {
    calls,
    resolve: async (host: string) => {
      calls.push(host);
      const ip = table[host];
      if (ip === undefined) throw new Error(`no address for ${host}`);
      return ip;
    },
  };
}

function router(lines: string[], resolve = resolver().resolve, log = quiet): Router {
  return new Router(
    lines.map((l) => parse(l)),
    { resolve, log },
  );
}

async function target(r: Router, init: Partial<Metadata>, accept: (t: string) => boolean = acceptAll): Promise<string> {
  return (await r.match(md(init), accept)).target;
}

describe("order semantics", () => {
  test("a non-indexed rule before an indexed hit wins, after it loses", async () => {
    const r = router(["DOMAIN-KEYWORD,goo,K", "DOMAIN-SUFFIX,google.com,S", "DOMAIN-KEYWORD,mail,K2", "MATCH,M"]);
    expect(await target(r, { host: "www.google.com" })).toBe("K");
    expect(await target(r, { host: "mail.google.com" })).toBe("K");
    const r2 = router(["DOMAIN-SUFFIX,google.com,S", "DOMAIN-KEYWORD,goo,K", "MATCH,M"]);
    expect(await target(r2, { host: "www.google.com" })).toBe("S");
    expect(await target(r2, { host: "goo.gl" })).toBe("K");
    expect(await target(r2, { host: "example.com" })).toBe("M");
  });

  test("between exact, suffix and CIDR indexes the earliest rule wins", async () => {
    const r = router([
      "DOMAIN-SUFFIX,a.com,S1",
      "DOMAIN,www.a.com,D1",
      "DOMAIN,www.b.com,D2",
      "DOMAIN-SUFFIX,b.com,S2",
      "DOMAIN-SUFFIX,www.b.com,S3",
      "IP-CIDR,10.0.0.0/8,C1",
      "DOMAIN-SUFFIX,c.com,S4",
    ]);
    expect(await target(r, { host: "www.a.com" })).toBe("S1");
    expect(await target(r, { host: "www.b.com" })).toBe("D2");
    expect(await target(r, { host: "x.www.b.com" })).toBe("S2");
    expect(await target(r, { host: "c.com", destinationIP: "10.0.0.1" })).toBe("C1");
    expect(await target(r, { host: "a.com", destinationIP: "10.0.0.1" })).toBe("S1");
  });

  test("the sniffed host is used for domain rules", async () => {
    const r = router(["DOMAIN,sniffed.com,A", "MATCH,M"]);
    expect(await target(r, { host: "requested.com", sniffHost: "sniffed.com" })).toBe("A");
  });

  test("nothing matched → DIRECT with no rule", async () => {
    const empty = router([]).match(md({ host: "a.com" }), acceptAll);
    expect(empty).toEqual({ rule: undefined, target: "DIRECT" });
    const r = router(["DOMAIN,a.com,A", "NETWORK,udp,U"]);
    const result = r.match(md({ host: "b.com" }), acceptAll) as RouteResult;
    expect(result.target).toBe("DIRECT");
    expect(result.rule).toBeUndefined();
  });

  test("the result names the rule", () => {
    const r = router(["DOMAIN,a.com,A", "DOMAIN-SUFFIX,b.com,B"]);
    const result = r.match(md({ host: "x.b.com" }), acceptAll) as RouteResult;
    expect(result.target).toBe("B");
    expect(result.rule?.line).toBe("DOMAIN-SUFFIX,b.com,B");
    expect(result.rule?.rule.type).toBe("DomainSuffix");
  });
});

describe("accept fall-through (PASS, UDP-incapable, missing target)", () => {
  test("inside an indexed run the next matching rule is used, indexed or not", async () => {
    const r = router([
      "DOMAIN-SUFFIX,a.com,PASS",
      "DOMAIN,zzz.com,Z",
      "DOMAIN-SUFFIX,b.a.com,P2",
      "DOMAIN,x.b.a.com,P3",
      "DOMAIN-KEYWORD,x.b,P4",
      "MATCH,F",
    ]);
    expect(await target(r, { host: "x.b.a.com" }, notPass)).toBe("P2");
    expect(await target(r, { host: "x.b.a.com" }, (t) => t !== "PASS" && t !== "P2")).toBe("P3");
    expect(await target(r, { host: "x.b.a.com" }, (t) => !["PASS", "P2", "P3"].includes(t))).toBe("P4");
    expect(await target(r, { host: "x.b.a.com" }, (t) => t === "F")).toBe("F");
    expect(await target(r, { host: "x.b.a.com" }, () => false)).toBe("DIRECT");
  });

  test("a refused non-indexed match continues with the next rule", async () => {
    const r = router(["NETWORK,udp,NoUdp", "DOMAIN-SUFFIX,a.com,A", "MATCH,F"]);
    expect(await target(r, { host: "a.com", network: "udp" }, (t) => t !== "NoUdp")).toBe("A");
  });

  test("CIDR fall-through to a nested prefix", async () => {
    const r = router(["IP-CIDR,10.0.0.0/8,PASS", "IP-CIDR,10.1.0.0/16,Y", "MATCH,F"]);
    expect(await target(r, { destinationIP: "10.1.2.3" }, notPass)).toBe("Y");
    expect(await target(r, { destinationIP: "10.2.2.3" }, notPass)).toBe("F");
  });
});

describe("lazy DNS resolution", () => {
  test("no resolution, and a synchronous answer, when no rule needs the IP", () => {
    const dns = resolver({ "a.com": "1.1.1.1" });
    const r = router(["DOMAIN,b.com,B", "IP-CIDR,1.0.0.0/8,C,no-resolve", "MATCH,M"], dns.resolve);
    const result = r.match(md({ host: "a.com" }), acceptAll);
    expect(result).not.toBeInstanceOf(Promise);
    expect((result as RouteResult).target).toBe("M");
    expect(dns.calls).toEqual([]);
  });

  test("no resolution when a rule before the first IP rule matches", () => {
    const dns = resolver({ "a.com": "1.1.1.1" });
    const r = router(["DOMAIN,a.com,A", "IP-CIDR,1.0.0.0/8,C", "MATCH,M"], dns.resolve);
    const result = r.match(md({ host: "a.com" }), acceptAll);
    expect((result as RouteResult).target).toBe("A");
    expect(dns.calls).toEqual([]);
  });

  test("no resolution for IP-only connections or when the IP is known", async () => {
    const dns = resolver();
    const r = router(["IP-CIDR,1.0.0.0/8,C", "MATCH,M"], dns.resolve);
    expect(r.match(md({ destinationIP: "1.2.3.4" }), acceptAll)).toEqual(expect.objectContaining({ target: "C" }));
    expect(r.match(md({ host: "a.com", destinationIP: "9.9.9.9" }), acceptAll)).toEqual(expect.objectContaining({ target: "M" }));
    expect(dns.calls).toEqual([]);
  });

  test("resolves exactly once, just before the first rule that needs the IP, and stores the address", async () => {
    const dns = resolver({ "a.com": "2.2.2.2" });
    const r = router(
      ["DOMAIN,b.com,B", "IP-CIDR,1.0.0.0/8,C1", "IP-SUFFIX,0.0.0.9/8,C2", "AND,((IP-CIDR,3.0.0.0/8),(NETWORK,tcp)),C3", "IP-CIDR,2.0.0.0/8,C4"],
      dns.resolve,
    );
    const m = md({ host: "a.com" });
    const result = r.match(m, acceptAll);
    expect(result).toBeInstanceOf(Promise);
    expect((await result).target).toBe("C4");
    expect(dns.calls).toEqual(["a.com"]);
    expect(m.destinationIP).toBe("2.2.2.2");
  });

  test("a non-indexed rule can be the resolution point", async () => {
    const dns = resolver({ "a.com": "2.2.2.2" });
    const r = router(["DOMAIN,b.com,B", "IP-SUFFIX,0.0.0.2/8,S", "DOMAIN,a.com,A"], dns.resolve);
    expect(await target(r, { host: "a.com" })).toBe("S");
    expect(dns.calls).toEqual(["a.com"]);
  });

  test("a later domain hit still resolves when an IP rule comes first", async () => {
    const dns = resolver({ "a.com": "9.9.9.9" });
    const r = router(["IP-CIDR,1.0.0.0/8,C", "DOMAIN,a.com,A"], dns.resolve);
    expect(await target(r, { host: "a.com" })).toBe("A");
    expect(dns.calls).toEqual(["a.com"]);
  });

  test("a failed lookup is not fatal: IP rules do not match, later rules still do, no retry", async () => {
    const dns = resolver();
    const log = recordingLog();
    const r = router(["IP-CIDR,0.0.0.0/0,ALL", "IP-SUFFIX,0.0.0.0/0,ALL2", "DOMAIN,a.com,A", "MATCH,M"], dns.resolve, log);
    const m = md({ host: "a.com" });
    expect((await r.match(m, acceptAll)).target).toBe("A");
    expect(dns.calls).toEqual(["a.com"]);
    expect(m.destinationIP).toBe("");
    expect(log.lines.some((l) => l.level === "debug" && l.message.includes("a.com"))).toBe(true);
  });

  test("no-resolve rules before the resolution point do not see the resolved IP; later ones do", async () => {
    const dns = resolver({ "a.com": "1.2.3.4" });
    const lines = [
      "IP-CIDR,1.0.0.0/8,Early,no-resolve",
      "IP-SUFFIX,0.0.0.4/8,EarlySuffix,no-resolve",
      "IP-CIDR,2.0.0.0/8,Resolving",
      "IP-CIDR,1.0.0.0/8,Late,no-resolve",
      "MATCH,M",
    ];
    const r = router(lines, dns.resolve);
    expect(await target(r, { host: "a.com" })).toBe("Late");
    expect(dns.calls).toEqual(["a.com"]);
    // With the IP known from the start (IP request or hosts entry), the early rule matches.
    expect(await target(r, { host: "a.com", destinationIP: "1.2.3.4" })).toBe("Early");
    expect(await target(r, { destinationIP: "1.2.3.4" })).toBe("Early");
    expect(dns.calls).toEqual(["a.com"]);
  });

  test("PASS after resolution continues within the resolved part", async () => {
    const dns = resolver({ "a.com": "10.1.1.1" });
    const r = router(["IP-CIDR,10.0.0.0/8,PASS", "IP-CIDR,10.1.0.0/16,Y,no-resolve", "MATCH,F"], dns.resolve);
    expect(await target(r, { host: "a.com" }, notPass)).toBe("Y");
    expect(dns.calls).toEqual(["a.com"]);
  });
});

describe("failing plugins", () => {
  test("a rule whose match() throws counts as not matched and is logged once", async () => {
    const registry = await ruleRegistry();
    await registry.load(
      definePlugin({
        name: "rule-flaky",
        apiVersion: API_VERSION,
        setup(host) {
          host.registerRule("FLAKY", {
            parse: (payload) => ({
              type: "Flaky",
              payload,
              needsIp: false,
              match: () => {
                throw new Error("boom");
              },
            }),
          });
        },
      }),
      "test",
      quiet,
    );
    const log = recordingLog();
    const rules = ["FLAKY,x,F", "DOMAIN-SUFFIX,a.com,A", "MATCH,M"].map((l) => parseRuleLine(l, registry, () => {}));
    const r = new Router(rules, { resolve: resolver().resolve, log });
    expect(await target(r, { host: "a.com" })).toBe("A");
    expect(await target(r, { host: "b.com" })).toBe("M");
    const errors = log.lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain("Flaky");
    expect(errors[0]?.message).toContain("rule-flaky");
    expect(errors[0]?.message).toContain("boom");
  });

  test("an unusable index hint falls back to the rule's own match()", async () => {
    const registry = await ruleRegistry();
    await registry.load(
      definePlugin({
        name: "rule-badhint",
        apiVersion: API_VERSION,
        setup(host) {
          host.registerRule("BADHINT", {
            parse: (payload) => ({
              type: "BadHint",
              payload,
              needsIp: false,
              index: { kind: "ip-cidr", value: "not a cidr" },
              match: (m) => m.host === payload,
            }),
          });
        },
      }),
      "test",
      quiet,
    );
    const log = recordingLog();
    const rules = ["BADHINT,a.com,B", "MATCH,M"].map((l) => parseRuleLine(l, registry, () => {}));
    const r = new Router(rules, { resolve: resolver().resolve, log });
    expect(await target(r, { host: "a.com" })).toBe("B");
    expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(1);
  });
});

/** §11.2 taken literally: walk the list, resolve once before the first rule needing the IP. */
async function reference(
  rules: ParsedRule[],
  m: Metadata,
  resolve: (host: string) => Promise<string>,
  accept: (t: string) => boolean,
): Promise<string> {
  let resolved = false;
  for (const p of rules) {
    if (p.rule.needsIp && !resolved && m.host !== "" && m.destinationIP === "") {
      resolved = true;
      try {
        m.destinationIP = await resolve(m.host);
      } catch {}
    }
    if (p.rule.match(m) && accept(p.target)) return p.line;
  }
  return "DIRECT";
}

describe("randomized against a linear reference", () => {
  test("small mixed lists with lazy resolution, no-resolve and PASS", async () => {
    const next = rng(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const labels = ["a", "b", "c", "d"];
    const name = () => Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(labels)).join(".");
    const ip = () => `10.${Math.floor(next() * 3)}.${Math.floor(next() * 3)}.${Math.floor(next() * 4)}`;
    for (let round = 0; round < 200; round++) {
      const lines: string[] = [];
      const count = 5 + Math.floor(next() * 30);
      for (let i = 0; i < count; i++) {
        const t = next() < 0.15 ? "PASS" : `T${i}`;
        const nr = next() < 0.5 ? ",no-resolve" : "";
        lines.push(
          pick([
            () => `DOMAIN,${name()},${t}`,
            () => `DOMAIN-SUFFIX,${name()},${t}`,
            () => `DOMAIN-KEYWORD,${pick(labels)},${t}`,
            () => `IP-CIDR,${ip()}/${pick([8, 16, 24, 30, 32])},${t}${nr}`,
            () => `IP-SUFFIX,0.0.0.${Math.floor(next() * 4)}/${pick([2, 8])},${t}${nr}`,
            () => `NETWORK,${pick(["tcp", "udp"])},${t}`,
            () => `DST-PORT,${pick(["80", "443", "80/443"])},${t}`,
          ])(),
        );
      }
      // Distinct lines, so a line identifies its rule.
      const unique = lines.map((l, i) => `${l.replace(/,T\d+|,PASS/, (m) => `${m}_${i}`)}`);
      const parsed = unique.map((l) => parse(l));
      const table: Record<string, string> = {};
      for (const l of labels) table[l] = ip();
      const dnsA = resolver(table);
      const r = new Router(parsed, { resolve: dnsA.resolve, log: quiet });
      for (let q = 0; q < 40; q++) {
        const host = next() < 0.8 ? name() : "";
        const init: Partial<Metadata> = {
          host,
          destinationIP: host === "" || next() < 0.3 ? ip() : "",
          network: pick(["tcp", "udp"] as const),
          destinationPort: pick([80, 443, 8080]),
        };
        if (init.host !== "" && !init.host!.includes(".")) table[init.host!] = ip();
        const accept = (t: string) => !t.startsWith("PASS");
        const dnsB = resolver(table);
        const expected = await reference(parsed, md(init), dnsB.resolve, accept);
        const before = dnsA.calls.length;
        const got = await r.match(md(init), accept);
        expect(got.rule?.line ?? "DIRECT").toBe(expected);
        expect(dnsA.calls.length - before).toBe(dnsB.calls.length);
      }
    }
  });

  test("100,000 DOMAIN-SUFFIX + 100,000 IP-CIDR rules agree with a linear scan", () => {
    const next = rng(42);
    const tlds = ["com", "net", "org", "cn", "co.uk", "io"];
    const word = () => Math.floor(next() * 36 ** 4).toString(36);
    const suffixes: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      // Some rules are parents of earlier ones so the first-index bookkeeping matters.
      const parent = suffixes.length > 0 && next() < 0.1 ? suffixes[Math.floor(next() * suffixes.length)]! : "";
      suffixes.push(parent ? parent.split(".").slice(1).join(".") || `${word()}.${parent}` : `${word()}.${tlds[i % tlds.length]}`);
    }
    const cidrs: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      if (next() < 0.8) {
        const bits = 16 + Math.floor(next() * 17);
        cidrs.push(`${1 + Math.floor(next() * 200)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.0/${bits}`);
      } else {
        cidrs.push(`2001:${Math.floor(next() * 65536).toString(16)}::/${16 + Math.floor(next() * 49)}`);
      }
    }
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      lines.push(`DOMAIN-SUFFIX,${suffixes[i]},S${i}`);
      lines.push(`IP-CIDR,${cidrs[i]},C${i}${i % 2 ? ",no-resolve" : ""}`);
      if (i % 20_000 === 0) lines.push(`DOMAIN-KEYWORD,${word()},K${i}`, `DST-PORT,${1000 + i / 20_000},P${i}`);
    }
    lines.push("MATCH,M");
    const rules = lines.map((l) => parse(l));
    const r = new Router(rules, { resolve: resolver().resolve, log: quiet });

    const linear = (m: Metadata): string => {
      for (const p of rules) if (p.rule.match(m)) return p.target;
      return "DIRECT";
    };
    for (let q = 0; q < 400; q++) {
      const hit = next() < 0.5;
      const host = hit ? `${word()}.${suffixes[Math.floor(next() * suffixes.length)]}` : `${word()}.${word()}.${tlds[q % tlds.length]}`;
      // Half the addresses are taken from a rule's prefix (usually inside it), half are random.
      const base = cidrs[Math.floor(next() * cidrs.length)]!;
      const destinationIP =
        next() < 0.5
          ? base.includes(":")
            ? base.replace(/::\/\d+$/, `::${Math.floor(next() * 65536).toString(16)}`)
            : base.replace(/\.0\/\d+$/, `.${Math.floor(next() * 256)}`)
          : next() < 0.7
            ? `${1 + Math.floor(next() * 200)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}`
            : `2001:${Math.floor(next() * 65536).toString(16)}::${Math.floor(next() * 65536).toString(16)}`;
      const m = md({ host: q % 3 === 0 ? "" : host, destinationIP, destinationPort: 1000 + (q % 40) });
      const got = r.match(m, acceptAll) as RouteResult;
      expect(got.target).toBe(linear(m));
    }
  }, 60_000);
});
