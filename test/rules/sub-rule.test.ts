import { describe, expect, test } from "bun:test";
import { buildConfig } from "../../src/config/build.ts";
import { NO_RULE_ENV, type ParsedRule, parseRuleLine } from "../../src/config/rules.ts";
import { type RouteResult, Router, type RouterOptions } from "../../src/core/router.ts";
import type { Metadata } from "../../src/sdk/index.ts";
import { md, quiet, registry, rng } from "./helpers.ts";

const acceptAll = (_target: string) => true;

/** `sub-rules` lists parsed as the config builder does: every list exists before any line is parsed. */
function lists(defs: Record<string, string[]>): Map<string, ParsedRule[]> {
  const subRules = new Map(Object.keys(defs).map((name): [string, ParsedRule[]] => [name, []]));
  for (const [name, lines] of Object.entries(defs)) {
    for (const line of lines) subRules.get(name)!.push(parseRuleLine(line, registry, () => {}, NO_RULE_ENV, subRules));
  }
  return subRules;
}

function router(rules: string[], defs: Record<string, string[]>, options: Partial<RouterOptions> = {}): Router {
  const subRules = lists(defs);
  const parsed = rules.map((line) => parseRuleLine(line, registry, () => {}, NO_RULE_ENV, subRules));
  return new Router(parsed, { resolve: async (host) => Promise.reject(new Error(`no address for ${host}`)), log: quiet, ...options });
}

async function route(r: Router, init: Partial<Metadata>, accept = acceptAll): Promise<RouteResult> {
  return r.match(md(init), accept);
}

describe("SUB-RULE matching", () => {
  const web = { web: ["DOMAIN-SUFFIX,a.com,A", "DST-PORT,443,TLS"] };

  test("the condition matches: the list's first match gives the target; the line shows as mihomo's SubRules", async () => {
    const r = router(["SUB-RULE,(NETWORK,tcp),web", "MATCH,M"], web);
    const hit = await route(r, { host: "x.a.com", destinationPort: 443 });
    expect(hit.target).toBe("A");
    expect(hit.rule?.rule.type).toBe("SubRules");
    expect(hit.rule?.rule.payload).toBe("(NETWORK,tcp)");
    expect(hit.rule?.target).toBe("web");
    expect((await route(r, { host: "b.com", destinationPort: 443 })).target).toBe("TLS");
  });

  test("the condition does not match: on with the next top-level rule", async () => {
    const r = router(["SUB-RULE,(NETWORK,udp),web", "MATCH,M"], web);
    const miss = await route(r, { host: "x.a.com" });
    expect(miss.target).toBe("M");
    expect(miss.rule?.rule.type).toBe("Match");
  });

  test("nothing in the list matches: the SUB-RULE does not match and the outer list goes on", async () => {
    const r = router(["SUB-RULE,(NETWORK,tcp),web", "DOMAIN-SUFFIX,b.com,B", "MATCH,M"], web);
    expect((await route(r, { host: "x.b.com", destinationPort: 80 })).target).toBe("B");
    expect((await route(r, { host: "c.com", destinationPort: 80 })).target).toBe("M");
  });

  test("nested lists; a nested list without a match goes on in the list that names it", async () => {
    const r = router(["SUB-RULE,(NETWORK,tcp),outer", "MATCH,M"], {
      outer: ["SUB-RULE,(DST-PORT,443),inner", "DOMAIN,x.com,O"],
      inner: ["DOMAIN,y.com,I"],
    });
    const nested = await route(r, { host: "y.com", destinationPort: 443 });
    expect(nested.target).toBe("I");
    // Shown as the top-level line, as mihomo's tunnel reports the rule it matched.
    expect(nested.rule?.target).toBe("outer");
    expect((await route(r, { host: "x.com", destinationPort: 443 })).target).toBe("O");
    expect((await route(r, { host: "y.com", destinationPort: 80 })).target).toBe("M");
  });

  test("a refused target (PASS, UDP-incapable) moves on to the next outer rule, not the list's next rule", async () => {
    const r = router(["SUB-RULE,(NETWORK,tcp),s", "DOMAIN,a.com,AFTER", "MATCH,OUTER"], { s: ["DOMAIN,a.com,PASS", "MATCH,INNER"] });
    const notPass = (t: string) => t !== "PASS";
    expect((await route(r, { host: "a.com" }, notPass)).target).toBe("AFTER");
    expect((await route(r, { host: "b.com" }, notPass)).target).toBe("INNER");
  });

  test("first-match order against indexed rules before and after the line", async () => {
    const lists = { s: ["DOMAIN-SUFFIX,a.com,S"] };
    const first = router(["SUB-RULE,(NETWORK,tcp),s", "DOMAIN-SUFFIX,a.com,D"], lists);
    expect((await route(first, { host: "x.a.com" })).target).toBe("S");
    expect((await route(first, { host: "x.a.com", network: "udp" })).target).toBe("D");
    const second = router(["DOMAIN-SUFFIX,a.com,D", "SUB-RULE,(NETWORK,tcp),s"], lists);
    expect((await route(second, { host: "x.a.com" })).target).toBe("D");
    // An indexed hit found after the SUB-RULE is still taken when the list has nothing.
    const third = router(["SUB-RULE,(NETWORK,tcp),s", "DOMAIN-SUFFIX,b.com,B"], lists);
    expect((await route(third, { host: "x.b.com" })).target).toBe("B");
  });

  test("one result object per line and target: no allocation per match after the first", async () => {
    const r = router(["SUB-RULE,(NETWORK,tcp),web"], web);
    const a = await route(r, { host: "x.a.com" });
    const b = await route(r, { host: "y.a.com" });
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  test("a condition written as AND, with its own parentheses", async () => {
    const r = router(["SUB-RULE,(AND,((NETWORK,udp),(DST-PORT,443))),quic", "MATCH,M"], { quic: ["MATCH,Q"] });
    expect((await route(r, { network: "udp", destinationPort: 443, destinationIP: "1.1.1.1" })).target).toBe("Q");
    expect((await route(r, { network: "tcp", destinationPort: 443, destinationIP: "1.1.1.1" })).target).toBe("M");
    expect((await route(r, { network: "udp", destinationPort: 443, destinationIP: "1.1.1.1" })).rule?.rule.payload).toBe(
      "(AND,((NETWORK,udp),(DST-PORT,443)))",
    );
  });
});

describe("lookups for a SUB-RULE line", () => {
  test("DNS happens once, before the line, when its list needs the IP; not for earlier matches", async () => {
    const calls: string[] = [];
    const resolve = async (host: string) => {
      calls.push(host);
      return "10.1.2.3";
    };
    const r = router(["DOMAIN,early.com,E", "SUB-RULE,(NETWORK,tcp),ips", "MATCH,M"], { ips: ["IP-CIDR,10.0.0.0/8,TEN"] }, { resolve });
    expect((await route(r, { host: "early.com" })).target).toBe("E");
    expect(calls).toEqual([]);
    const m = md({ host: "x.com" });
    expect((await r.match(m, acceptAll)).target).toBe("TEN");
    expect(m.destinationIP).toBe("10.1.2.3");
    expect(calls).toEqual(["x.com"]);
  });

  test("the process is looked up before the line when its list needs it (strict mode)", async () => {
    const looked: number[] = [];
    const lookupProcess = async (m: Metadata) => {
      looked.push(m.sourcePort);
      m.process = "curl";
      return true;
    };
    const r = router(["DOMAIN,early.com,E", "SUB-RULE,(NETWORK,tcp),apps", "MATCH,M"], { apps: ["PROCESS-NAME,curl,C"] }, { lookupProcess });
    expect((await route(r, { host: "early.com", sourcePort: 1 })).target).toBe("E");
    expect(looked).toEqual([]);
    expect((await route(r, { host: "x.com", sourcePort: 2 })).target).toBe("C");
    expect(looked).toEqual([2]);
  });

  test("a list used by a listener (rule:) resolves lazily itself", async () => {
    const subRules = lists({ l: ["DOMAIN,early.com,E", "IP-CIDR,10.0.0.0/8,TEN"] });
    const calls: string[] = [];
    const r = new Router(subRules.get("l")!, {
      resolve: async (host) => {
        calls.push(host);
        return "10.0.0.1";
      },
      log: quiet,
    });
    expect((await route(r, { host: "early.com" })).target).toBe("E");
    expect((await route(r, { host: "x.com" })).target).toBe("TEN");
    expect(calls).toEqual(["x.com"]);
  });
});

describe("SUB-RULE in the config", () => {
  function errors(text: string) {
    return buildConfig(text, registry).issues.filter((i) => i.severity === "error" && i.path.match(/^(rules|sub-rules)/));
  }

  test("a valid nesting loads and links each line to its list", () => {
    const { config, issues } = buildConfig(
      ["sub-rules:", "  a:", "    - SUB-RULE,(NETWORK,tcp),b", "  b:", "    - MATCH,DIRECT", "rules:", "  - SUB-RULE,(NETWORK,tcp),a", "  - MATCH,DIRECT"].join("\n"),
      registry,
    );
    expect(issues.filter((i) => i.path.startsWith("rules") || i.path.startsWith("sub-rules"))).toEqual([]);
    if (!config) return;
    expect(config.rules[0]!.sub).toBe(config.subRules.get("a")!);
    expect(config.subRules.get("a")![0]!.sub).toBe(config.subRules.get("b")!);
  });

  test("circular references are a load error naming the chain", () => {
    const found = errors(
      [
        "sub-rules:",
        "  a:",
        "    - SUB-RULE,(NETWORK,tcp),b",
        "  b:",
        "    - SUB-RULE,(NETWORK,udp),a",
        "  self:",
        "    - SUB-RULE,(DST-PORT,80),self",
        "rules:",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    expect(found.map((i) => [i.code, i.path, i.line])).toEqual([
      ["rule.sub-rule-cycle", "sub-rules.b", 5],
      ["rule.sub-rule-cycle", "sub-rules.self", 7],
    ]);
    expect(found[0]!.message).toContain("a -> b -> a");
    expect(found[1]!.message).toContain("self -> self");
  });

  test.each([
    ["SUB-RULE,(NETWORK,tcp),nope", /sub-rule "nope" not found/],
    // mihomo accepts a proxy name here and the line never matches; ours says what is wrong.
    ["SUB-RULE,(NETWORK,tcp),DIRECT", /sub-rule "DIRECT" not found/],
    ["SUB-RULE,NETWORK,tcp,s", /exactly one condition.*found 0/],
    ["SUB-RULE,(NETWORK,tcp),(DST-PORT,80),s", /exactly one condition.*found 2/],
    ["SUB-RULE,(MATCH,x),s", /MATCH is not allowed inside a logic rule/],
    ["SUB-RULE,(SUB-RULE,(NETWORK,tcp)),s", /SUB-RULE is not allowed inside a logic rule/],
    ["SUB-RULE,(NETWORK,tcp,s", /missing "\)"/],
    ["AND,((SUB-RULE,(NETWORK,tcp))),DIRECT", /SUB-RULE is not allowed inside a logic rule/],
  ])("%s is refused", (line, message) => {
    const found = errors(["sub-rules:", "  s:", "    - MATCH,DIRECT", "rules:", `  - ${line}`, "  - MATCH,DIRECT"].join("\n"));
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toBe("rules[0]");
    expect(found[0]!.message).toMatch(message);
  });

  test("targets inside a list are checked like top-level ones", () => {
    const found = errors(["sub-rules:", "  s:", "    - DOMAIN,a.com,Nowhere", "rules:", "  - MATCH,DIRECT"].join("\n"));
    expect(found.map((i) => [i.code, i.path])).toEqual([["rule.target-not-found", "sub-rules.s[0]"]]);
  });
});

/** mihomo's evaluation, written plainly: the reference for the randomized test. */
function reference(rules: readonly ParsedRule[], m: Metadata, accept: (t: string) => boolean): string {
  const inList = (list: readonly ParsedRule[]): ParsedRule | undefined => {
    for (const p of list) {
      if (!p.rule.match(m)) continue;
      if (!p.sub) return p;
      const inner = inList(p.sub);
      if (inner) return inner;
    }
    return undefined;
  };
  for (const p of rules) {
    if (!p.rule.match(m)) continue;
    const chosen = p.sub ? inList(p.sub) : p;
    if (chosen && accept(chosen.target)) return `${p.line} -> ${chosen.target}`;
  }
  return "DIRECT";
}

describe("randomized against a plain reference", () => {
  test("lists with nested SUB-RULEs, indexed and scanned rules, refused targets", async () => {
    const next = rng(77);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const labels = ["a", "b", "c"];
    const name = () => Array.from({ length: 1 + Math.floor(next() * 2) }, () => pick(labels)).join(".");
    const line = (i: number, names: string[]) => {
      const t = next() < 0.15 ? "PASS" : `T${i}`;
      if (names.length > 0 && next() < 0.25) return `SUB-RULE,(${pick(["NETWORK,tcp", "NETWORK,udp", "DST-PORT,443"])}),${pick(names)}`;
      return pick([
        () => `DOMAIN,${name()},${t}`,
        () => `DOMAIN-SUFFIX,${name()},${t}`,
        () => `DOMAIN-KEYWORD,${pick(labels)},${t}`,
        () => `NETWORK,${pick(["tcp", "udp"])},${t}`,
        () => `DST-PORT,${pick(["80", "443"])},${t}`,
      ])();
    };
    for (let round = 0; round < 150; round++) {
      // s2 may name nothing, s1 may name s2, the top level may name both: acyclic by construction.
      const defs = {
        s2: Array.from({ length: 1 + Math.floor(next() * 5) }, (_, i) => line(100 + i, [])),
        s1: Array.from({ length: 1 + Math.floor(next() * 5) }, (_, i) => line(200 + i, ["s2"])),
      };
      const subRules = lists(defs);
      const top = Array.from({ length: 3 + Math.floor(next() * 15) }, (_, i) => line(i, ["s1", "s2"]));
      const parsed = top.map((l) => parseRuleLine(l, registry, () => {}, NO_RULE_ENV, subRules));
      const r = new Router(parsed, { resolve: async () => "10.0.0.1", log: quiet });
      for (let q = 0; q < 30; q++) {
        const init: Partial<Metadata> = {
          host: name(),
          network: pick(["tcp", "udp"] as const),
          destinationPort: pick([80, 443]),
        };
        const accept = (t: string) => t !== "PASS";
        const got = await r.match(md(init), accept);
        const shown = got.rule ? `${got.rule.line} -> ${got.target}` : "DIRECT";
        expect(shown).toBe(reference(parsed, md(init), accept));
      }
    }
  });
});
