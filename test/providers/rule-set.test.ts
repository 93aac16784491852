import { describe, expect, test } from "bun:test";
import { NO_RULE_ENV, parseRuleLine } from "../../src/config/rules.ts";
import { classicalParser, type RuleBehavior, type RuleFormat, RuleSet } from "../../src/providers/rule-set.ts";
import { type RuleEnv, UserError } from "../../src/sdk/index.ts";
import { md, registry } from "../rules/helpers.ts";
import { encodeMrsDomains, encodeMrsRanges } from "./mrs-encoder.ts";

/** Sets by name, for RULE-SET lines and classical sets that name other sets. */
function envWith(sets: Map<string, RuleSet>): RuleEnv {
  return { ...NO_RULE_ENV, ruleSet: (name) => sets.get(name) };
}

function makeSet(behavior: RuleBehavior, format: RuleFormat = "text", sets = new Map<string, RuleSet>(), name = "s"): RuleSet {
  const set = new RuleSet(name, behavior, format, classicalParser(registry, envWith(sets)));
  sets.set(name, set);
  return set;
}

const text = (s: string) => new TextEncoder().encode(s);

describe("domain sets", () => {
  test("Clash patterns; `/` and invalid entries are skipped with a warning naming them", () => {
    const set = makeSet("domain");
    const warnings = set.load(text("exact.com\n+.suffix.com\n.sub.org\n*.star.net\nhttps://x.com/\nbad..name\nUPPER.COM\n"), "h1");
    expect(set.count).toBe(5);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('"https://x.com/"');
    expect(warnings[1]).toContain('"bad..name"');
    expect(set.needsIp).toBe(false);
    const hit = (host: string) => set.match(md({ host }));
    expect([hit("exact.com"), hit("a.exact.com"), hit("suffix.com"), hit("x.y.suffix.com"), hit("sub.org"), hit("a.sub.org")]).toEqual([
      true,
      false,
      true,
      true,
      false,
      true,
    ]);
    expect([hit("a.star.net"), hit("star.net"), hit("upper.com"), hit("")]).toEqual([true, false, true, false]);
    expect(set.match(md({ host: "other.com", sniffHost: "exact.com" }))).toBe(true);
    expect(set.matchDomain("exact.com")).toBe(true);
  });

  test("an update replaces the content whole; a failing body leaves it as it was", () => {
    const set = makeSet("domain", "yaml");
    set.load(text("payload:\n  - old.com\n"), "h1");
    expect(set.match(md({ host: "old.com" }))).toBe(true);
    set.load(text("payload:\n  - new.com\n"), "h2");
    expect(set.match(md({ host: "old.com" }))).toBe(false);
    expect(set.match(md({ host: "new.com" }))).toBe(true);
    expect(() => set.load(text("payload: [x.com]"), "h3")).toThrow(UserError);
    expect(set.match(md({ host: "new.com" }))).toBe(true);
    expect(set.hash).toBe("h2");
  });

  test("mrs", () => {
    const set = makeSet("domain", "mrs");
    set.load(encodeMrsDomains(["+.google.com", "exact.org", ".sub.net"]), "h");
    expect(set.count).toBe(3);
    expect(set.matchDomain("google.com")).toBe(true);
    expect(set.matchDomain("www.google.com")).toBe(true);
    expect(set.matchDomain("exact.org")).toBe(true);
    expect(set.matchDomain("sub.net")).toBe(false);
    expect(set.matchDomain("a.sub.net")).toBe(true);
    expect(() => set.load(encodeMrsRanges([["1.0.0.0", "1.0.0.255"]]), "h2")).toThrow("behavior");
  });
});

describe("ipcidr sets", () => {
  test("IPv4 and IPv6 prefixes; a bare IP is skipped; src tests the source address", () => {
    const set = makeSet("ipcidr");
    expect(set.needsIp).toBe(false);
    const warnings = set.load(text("10.0.0.0/8\n2001:db8::/32\n1.2.3.4\n192.168.1.7/24\n"), "h");
    expect(set.count).toBe(3);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"1.2.3.4"');
    expect(set.needsIp).toBe(true);
    expect(set.match(md({ destinationIP: "10.1.2.3" }))).toBe(true);
    expect(set.match(md({ destinationIP: "2001:db8::1" }))).toBe(true);
    expect(set.match(md({ destinationIP: "192.168.1.200" }))).toBe(true);
    expect(set.match(md({ destinationIP: "11.0.0.1" }))).toBe(false);
    expect(set.match(md({ host: "a.com" }))).toBe(false);
    expect(set.match(md({ sourceIP: "10.0.0.1", destinationIP: "8.8.8.8" }), true)).toBe(true);
    expect(set.match(md({ sourceIP: "8.8.8.8", destinationIP: "10.0.0.1" }), true)).toBe(false);
    expect(set.matchDomain("10.0.0.1")).toBe(false);
  });

  test("mrs ranges that are not single prefixes", () => {
    const set = makeSet("ipcidr", "mrs");
    set.load(
      encodeMrsRanges(
        [
          ["1.0.0.3", "1.0.1.4"],
          ["2001:db8::", "2001:db8::1:0"],
        ],
        7,
      ),
      "h",
    );
    expect(set.count).toBe(7);
    const hit = (ip: string) => set.match(md({ destinationIP: ip }));
    expect([hit("1.0.0.2"), hit("1.0.0.3"), hit("1.0.0.200"), hit("1.0.1.4"), hit("1.0.1.5")]).toEqual([false, true, true, true, false]);
    expect([hit("2001:db8::ffff"), hit("2001:db8::1:0"), hit("2001:db8::1:1")]).toEqual([true, true, false]);
  });
});

describe("classical sets", () => {
  test("rule lines of any registered type, logic rules included; what they need comes from their rules", () => {
    const set = makeSet("classical", "yaml");
    const warnings = set.load(
      text(
        [
          "payload:",
          "  - DOMAIN-SUFFIX,google.com",
          "  - DOMAIN,exact.org",
          "  - DOMAIN-KEYWORD,tracker",
          "  - IP-CIDR,10.0.0.0/8,no-resolve",
          "  - AND,((NETWORK,udp),(DST-PORT,443))",
          "  - DST-PORT,8080",
          "",
        ].join("\n"),
      ),
      "h",
    );
    expect(warnings).toEqual([]);
    expect(set.count).toBe(6);
    expect(set.needsIp).toBe(false);
    expect(set.match(md({ host: "www.google.com" }))).toBe(true);
    expect(set.match(md({ host: "exact.org" }))).toBe(true);
    expect(set.match(md({ host: "my-tracker.net" }))).toBe(true);
    expect(set.match(md({ destinationIP: "10.9.9.9" }))).toBe(true);
    expect(set.match(md({ network: "udp", host: "x.com", destinationPort: 443 }))).toBe(true);
    expect(set.match(md({ network: "tcp", host: "x.com", destinationPort: 443 }))).toBe(false);
    expect(set.matchDomain("maps.google.com")).toBe(true);
    expect(set.matchDomain("x.com")).toBe(false);

    set.load(text("payload:\n  - IP-CIDR,10.0.0.0/8\n  - PROCESS-NAME,curl\n"), "h2");
    expect(set.needsIp).toBe(true);
    expect(set.needsProcess).toBe(true);
  });

  test("src swaps source and destination (address and port) for the whole set", () => {
    const set = makeSet("classical");
    set.load(text("IP-CIDR,192.168.0.0/16\nDST-PORT,5353\n"), "h");
    const m = md({ sourceIP: "192.168.1.5", sourcePort: 1000, destinationIP: "1.1.1.1", destinationPort: 80 });
    expect(set.match(m)).toBe(false);
    expect(set.match(m, true)).toBe(true);
    expect(m.sourceIP).toBe("192.168.1.5");
    expect(m.destinationIP).toBe("1.1.1.1");
    expect(set.match(md({ sourcePort: 5353, destinationPort: 80 }), true)).toBe(true);
  });

  test("bad lines are skipped with warnings; spaces around fields are trimmed with a warning; MATCH is refused", () => {
    const set = makeSet("classical");
    const warnings = set.load(text("DOMAIN, spaced.com\nMATCH,DIRECT\ndomain-suffix,lower.com\nIP-CIDR,1.2.3.4\nNOPE,x\nDOMAIN-SUFFIX,ok.com\n"), "h");
    expect(set.count).toBe(2);
    expect(set.match(md({ host: "spaced.com" }))).toBe(true);
    expect(set.match(md({ host: "a.ok.com" }))).toBe(true);
    expect(set.match(md({ host: "lower.com" }))).toBe(false);
    const joined = warnings.join("\n");
    expect(joined).toContain('entry "DOMAIN, spaced.com": spaces around its fields were trimmed');
    expect(joined).toContain('entry "MATCH,DIRECT": MATCH cannot be used inside a rule-set; skipped');
    expect(joined).toContain('entry "domain-suffix,lower.com"');
    expect(joined).toContain('entry "IP-CIDR,1.2.3.4"');
    expect(joined).toContain('entry "NOPE,x"');
    expect(joined).not.toContain("sub-rule");
  });

  test("RULE-SET inside a classical set names another set; a loop through itself does not match", () => {
    const sets = new Map<string, RuleSet>();
    const inner = makeSet("domain", "text", sets, "inner");
    inner.load(text("+.inner.com\n"), "i");
    const outer = makeSet("classical", "text", sets, "outer");
    outer.load(text("RULE-SET,inner\nRULE-SET,outer\nDOMAIN,own.com\n"), "o");
    expect(outer.count).toBe(3);
    expect(outer.match(md({ host: "a.inner.com" }))).toBe(true);
    expect(outer.match(md({ host: "own.com" }))).toBe(true);
    expect(outer.match(md({ host: "none.com" }))).toBe(false);
  });

  test("inline payloads are taken as written", () => {
    const set = makeSet("classical");
    set.loadEntries(["DOMAIN-SUFFIX,local", "", "IP-CIDR,192.168.0.0/16"]);
    expect(set.count).toBe(2);
    expect(set.match(md({ host: "nas.local" }))).toBe(true);
    expect(set.hash).toBe("");
  });
});

describe("RULE-SET rules", () => {
  const sets = new Map<string, RuleSet>();
  const domains = makeSet("domain", "text", sets, "domains");
  domains.load(text("+.blocked.com\n"), "d");
  const cidrs = makeSet("ipcidr", "text", sets, "cidrs");
  cidrs.load(text("10.0.0.0/8\n"), "c");
  const parse = (line: string, warnings: string[] = []) => parseRuleLine(line, registry, (m) => warnings.push(m), envWith(sets));

  test("type RuleSet, payload the set's name, target", () => {
    const p = parse("RULE-SET,domains,REJECT");
    expect([p.rule.type, p.rule.payload, p.target]).toEqual(["RuleSet", "domains", "REJECT"]);
    expect(p.rule.match(md({ host: "ads.blocked.com" }))).toBe(true);
    expect(p.rule.match(md({ host: "ok.com" }))).toBe(false);
  });

  test("an unknown set is a UserError naming it, also inside a logic rule", () => {
    expect(() => parse("RULE-SET,missing,REJECT")).toThrow('rule-set "missing" not found');
    expect(() => parse("AND,((RULE-SET,missing),(NETWORK,tcp)),REJECT")).toThrow('rule-set "missing" not found');
  });

  test("needsIp follows the set; no-resolve turns it off; no-resolve on a domain set warns", () => {
    expect(parse("RULE-SET,domains,REJECT").rule.needsIp).toBe(false);
    expect(parse("RULE-SET,cidrs,REJECT").rule.needsIp).toBe(true);
    expect(parse("RULE-SET,cidrs,REJECT,no-resolve").rule.needsIp).toBe(false);
    const warnings: string[] = [];
    parse("RULE-SET,domains,REJECT,no-resolve", warnings);
    expect(warnings.join()).toContain("no-resolve has no effect");
    const later = makeSet("ipcidr", "text", sets, "later");
    const rule = parse("RULE-SET,later,REJECT").rule;
    expect(rule.needsIp).toBe(false);
    later.load(text("1.0.0.0/8\n"), "l");
    expect(rule.needsIp).toBe(true);
  });

  test("src matches the set against the source address", () => {
    const rule = parse("RULE-SET,cidrs,DIRECT,src").rule;
    expect(rule.match(md({ sourceIP: "10.0.0.2", destinationIP: "1.1.1.1" }))).toBe(true);
    expect(rule.match(md({ sourceIP: "1.1.1.1", destinationIP: "10.0.0.2" }))).toBe(false);
  });
});
