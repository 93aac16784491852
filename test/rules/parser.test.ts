import { describe, expect, test } from "bun:test";
import { parseInnerRule, parseRuleLine } from "../../src/config/rules.ts";
import { API_VERSION, definePlugin, t, UserError } from "../../src/sdk/index.ts";
import { md, parse, quiet, registry, ruleRegistry } from "./helpers.ts";

describe("rule line fields", () => {
  test("fields are trimmed and TYPE is upper-cased", () => {
    const p = parse("  domain-suffix ,  Example.com , Proxy A ");
    expect(p.rule.type).toBe("DomainSuffix");
    expect(p.rule.payload).toBe("example.com");
    expect(p.target).toBe("Proxy A");
    expect(p.params).toEqual([]);
    expect(p.plugin).toBe("rule-domain");
    expect(p.line).toBe("  domain-suffix ,  Example.com , Proxy A ");
  });

  test("params from the 4th field", () => {
    const p = parse("IP-CIDR,10.0.0.0/8,DIRECT, no-resolve");
    expect(p.params).toEqual(["no-resolve"]);
    expect(p.rule.needsIp).toBe(false);
    expect(parse("IP-CIDR,10.0.0.0/8,DIRECT,src,no-resolve").params).toEqual(["src", "no-resolve"]);
  });

  test("unknown params warn and are ignored (a typo means: resolve)", () => {
    const warnings: string[] = [];
    const p = parse("IP-CIDR,10.0.0.0/8,DIRECT,no-resovle", warnings);
    expect(p.rule.needsIp).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('unknown rule param "no-resovle"');
    expect(warnings[0]).toContain("IP-CIDR,10.0.0.0/8,DIRECT,no-resovle");
  });

  test("params are case-sensitive as in mihomo", () => {
    const warnings: string[] = [];
    expect(parse("IP-CIDR,10.0.0.0/8,DIRECT,No-Resolve", warnings).rule.needsIp).toBe(true);
    expect(warnings).toHaveLength(1);
  });

  test("comma-payload types: the last field is the target, fields are trimmed and re-joined", () => {
    const p = parse("DOMAIN-REGEX, ^a{1, 3}$ ,Proxy");
    expect(p.target).toBe("Proxy");
    expect(p.rule.payload).toBe("^a{1,3}$");
    expect(p.params).toEqual([]);
    const logic = parse("AND,((DOMAIN,a.com),(NETWORK,udp)),Proxy");
    expect(logic.target).toBe("Proxy");
    expect(logic.rule.payload).toBe("((Domain,a.com) && (Network,udp))");
  });

  test("MATCH has no payload; extra fields warn", () => {
    const p = parse("match,Proxy");
    expect(p.target).toBe("Proxy");
    expect(p.rule.type).toBe("Match");
    const warnings: string[] = [];
    expect(parse("MATCH,Proxy,extra", warnings).target).toBe("Proxy");
    expect(warnings[0]).toContain("extra fields");
  });

  test("FINAL is accepted as MATCH with a warning", () => {
    const warnings: string[] = [];
    const p = parse("FINAL,Proxy", warnings);
    expect(p.rule.type).toBe("Match");
    expect(p.target).toBe("Proxy");
    expect(p.rule.match(md())).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("FINAL");
    expect(warnings[0]).toContain("MATCH");
  });

  test.each([
    ["DOMAIN", /format error/],
    ["", /format error/],
    ["DOMAIN,example.com", /missing target/],
    ["FOO,bar,X", /unsupported rule type "FOO"/],
    ["IPSET,china,X", /IPSET.*not supported by mihomo either/],
    ["SCRIPT,quic,X", /SCRIPT.*not supported by mihomo either/],
    ["USER-AGENT,curl*,X", /USER-AGENT.*not supported by mihomo either/],
    ["URL-REGEX,^http,X", /URL-REGEX.*not supported by mihomo either/],
  ])("%p is an error", (line, error) => {
    expect(() => parse(line)).toThrow(error);
    expect(() => parse(line)).toThrow(UserError);
  });

  test("errors name the line", () => {
    expect(() => parse("IP-CIDR,1.2.3.4,X")).toThrow('"IP-CIDR,1.2.3.4,X": "1.2.3.4" has no prefix length');
  });

  test("the target is not checked here", () => {
    expect(parse("DOMAIN,a.com,NoSuchProxy").target).toBe("NoSuchProxy");
  });
});

describe("plugin-defined rules", () => {
  test("payloadTakesRest and payload schemas of registered types are honoured; a throwing parser becomes a UserError naming the plugin", async () => {
    const reg = await ruleRegistry();
    await reg.load(
      definePlugin({
        name: "rule-test",
        apiVersion: API_VERSION,
        setup(host) {
          host.registerRule("LIST", {
            payloadTakesRest: true,
            parse: (payload) => ({ type: "List", payload, needsIp: false, match: () => true }),
          });
          host.registerRule("DIGITS", {
            payload: t.String({ pattern: "^[0-9]+$" }),
            parse: (payload) => ({ type: "Digits", payload, needsIp: false, match: () => true }),
          });
          host.registerRule("BROKEN", {
            parse: () => {
              throw new TypeError("oops");
            },
          });
        },
      }),
      "test",
      quiet,
    );
    const p = parseRuleLine("LIST,a,b,c,Target", reg, () => {});
    expect(p.rule.payload).toBe("a,b,c");
    expect(p.target).toBe("Target");
    expect(p.plugin).toBe("rule-test");
    expect(() => parseRuleLine("BROKEN,a,X", reg, () => {})).toThrow('rule plugin "rule-test" failed: oops');
    expect(parseRuleLine("DIGITS,123,X", reg, () => {}).rule.payload).toBe("123");
    expect(() => parseRuleLine("DIGITS,12a,X", reg, () => {})).toThrow('"DIGITS,12a,X": invalid payload "12a"');
  });
});

describe("logic rules", () => {
  test.each([
    ["AND,((DOMAIN,baidu.com),(NETWORK,UDP)),X", { host: "baidu.com", network: "udp" as const }, true],
    ["AND,((DOMAIN,baidu.com),(NETWORK,UDP)),X", { host: "baidu.com", network: "tcp" as const }, false],
    ["OR,((DOMAIN,a.com),(DST-PORT,443)),X", { host: "b.com", destinationPort: 443 }, true],
    ["OR,((DOMAIN,a.com),(DST-PORT,443)),X", { host: "b.com", destinationPort: 80 }, false],
    ["NOT,((DOMAIN-SUFFIX,cn)),X", { host: "example.com" }, true],
    ["NOT,((DOMAIN-SUFFIX,cn)),X", { host: "baidu.cn" }, false],
    // Nesting, and a comma-payload sub-rule.
    ["AND,((OR,((DOMAIN,a.com),(DOMAIN,b.com))),(NOT,((NETWORK,udp)))),X", { host: "b.com", network: "tcp" as const }, true],
    ["AND,((OR,((DOMAIN,a.com),(DOMAIN,b.com))),(NOT,((NETWORK,udp)))),X", { host: "b.com", network: "udp" as const }, false],
    ["AND,((OR,((DOMAIN,a.com),(DOMAIN,b.com))),(NOT,((NETWORK,udp)))),X", { host: "c.com", network: "tcp" as const }, false],
    ["AND,((DOMAIN-REGEX,^a{1,2}\\.com$),(NETWORK,tcp)),X", { host: "aa.com" }, true],
    // Without a pair spanning the payload, the outermost groups are the sub-rules (as mihomo).
    ["AND,(DOMAIN,a.com),(NETWORK,tcp),X", { host: "a.com" }, true],
    // Params inside sub-rules.
    ["AND,((IP-CIDR,10.0.0.0/8,no-resolve),(NETWORK,tcp)),X", { destinationIP: "10.0.0.1" }, true],
  ])("%s with %o → %p", (line, init, expected) => {
    expect(parse(line).rule.match(md(init))).toBe(expected);
  });

  test("a logic rule needs the IP if any part does", () => {
    expect(parse("AND,((IP-CIDR,10.0.0.0/8),(NETWORK,tcp)),X").rule.needsIp).toBe(true);
    expect(parse("AND,((IP-CIDR,10.0.0.0/8,no-resolve),(NETWORK,tcp)),X").rule.needsIp).toBe(false);
    expect(parse("NOT,((OR,((DOMAIN,a.com),(IP-SUFFIX,0.0.0.1/8)))),X").rule.needsIp).toBe(true);
  });

  test("evaluation short-circuits", () => {
    const p = parse("OR,((NETWORK,tcp),(DOMAIN,a.com)),X");
    const m = md({ network: "tcp" });
    let reads = 0;
    Object.defineProperty(m, "host", {
      get: () => {
        reads++;
        return "";
      },
    });
    expect(p.rule.match(m)).toBe(true);
    expect(reads).toBe(0);
  });

  test("NOT display payload", () => {
    expect(parse("NOT,((NETWORK,tcp)),X").rule.payload).toBe("(!(Network,tcp))");
    expect(parse("OR,((NETWORK,tcp),(DST-PORT,80)),X").rule.payload).toBe("((Network,tcp) || (DstPort,80))");
  });

  test.each([
    ["AND,DOMAIN,a.com,X", /payload format error/],
    ["AND,((DOMAIN,a.com),(NETWORK,tcp),X", /missing "\)"/],
    ["AND,((DOMAIN,a.com)),(NETWORK,tcp)),X", /missing "\("/],
    ["AND,(),X", /AND needs at least one sub-rule/],
    ["OR,(),X", /OR needs at least one sub-rule/],
    ["NOT,((DOMAIN,a.com),(NETWORK,tcp)),X", /NOT must contain exactly one sub-rule \(found 2\)/],
    ["NOT,(),X", /NOT must contain exactly one sub-rule \(found 0\)/],
    ["AND,((MATCH,x)),X", /MATCH is not allowed inside a logic rule/],
    ["AND,((FINAL,x)),X", /FINAL is not allowed inside a logic rule/],
    ["AND,((SUB-RULE,(NETWORK,tcp))),X", /SUB-RULE is not allowed inside a logic rule/],
    // The inner TYPE is neither upper-cased nor trimmed.
    ["AND,((domain,a.com)),X", /must be written exactly "DOMAIN"/],
    ["AND,(( DOMAIN,a.com)),X", /must be written exactly "DOMAIN"/],
    ["AND,((NOPE,a)),X", /unsupported rule type "NOPE"/],
    ["AND,((DOMAIN)),X", /format error/],
    ["AND,((NETWORK,icmp)),X", /sub-rule "NETWORK,icmp": unsupported network/],
    ["OR,((AND,((NETWORK,tcp),(IP-CIDR,1.2.3.4))),(DOMAIN,a.com)),X", /sub-rule "IP-CIDR,1.2.3.4": .*no prefix length/],
  ])("%s is an error", (line, error) => {
    expect(() => parse(line)).toThrow(error);
  });

  test("whitespace next to a comma is trimmed with the line's fields", () => {
    expect(parse("AND,((DOMAIN, a.com)),X").rule.match(md({ host: "a.com" }))).toBe(true);
  });

  test("whitespace before a parenthesis stays in the sub-rule payload (never matches) and is warned about", () => {
    const warnings: string[] = [];
    const p = parse("AND,((DOMAIN,a.com )),X", warnings);
    expect(p.rule.match(md({ host: "a.com" }))).toBe(false);
    expect(warnings.some((w) => w.includes("whitespace"))).toBe(true);
  });

  test("unknown params inside a sub-rule warn", () => {
    const warnings: string[] = [];
    parse("AND,((IP-CIDR,1.0.0.0/8,no-resolv)),X", warnings);
    expect(warnings.some((w) => w.includes('unknown rule param "no-resolv"'))).toBe(true);
  });

  test("parseInnerRule parses one sub-rule", () => {
    const rule = parseInnerRule("DST-PORT,80/443", registry, () => {});
    expect(rule.type).toBe("DstPort");
    expect(rule.match(md({ destinationPort: 443 }))).toBe(true);
  });
});
