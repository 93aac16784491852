import { describe, expect, test } from "bun:test";
import { DomainTrie } from "../../src/dns/domain-trie.ts";
import { DomainSetBuilder } from "../../src/match/domain-set.ts";
import { UserError } from "../../src/sdk/index.ts";
import { rng } from "./helpers.ts";

function set(fill: (b: DomainSetBuilder) => void) {
  const b = new DomainSetBuilder();
  fill(b);
  return b.build();
}

describe("DomainSet", () => {
  test("full names match exactly", () => {
    const s = set((b) => b.addFull("Example.COM"));
    expect(s.has("example.com")).toBe(true);
    expect(s.has("a.example.com")).toBe(false);
    expect(s.has("com")).toBe(false);
    expect(s.has("xexample.com")).toBe(false);
    expect(s.size).toBe(1);
  });

  test("suffixes match the name and every subdomain at a label boundary", () => {
    const s = set((b) => b.addSuffix("example.com"));
    expect(s.has("example.com")).toBe(true);
    expect(s.has("a.example.com")).toBe(true);
    expect(s.has("a.b.c.example.com")).toBe(true);
    expect(s.has("notexample.com")).toBe(false);
    expect(s.has("example.com.cn")).toBe(false);
    expect(s.has("com")).toBe(false);
    expect(s.has("")).toBe(false);
  });

  test("subdomains-only entries skip the apex", () => {
    const s = set((b) => b.addSubdomains("example.com"));
    expect(s.has("example.com")).toBe(false);
    expect(s.has("a.example.com")).toBe(true);
  });

  test("adding a name twice merges its kinds and counts it once", () => {
    const s = set((b) => {
      b.addFull("example.com");
      b.addSubdomains("example.com");
      b.addFull("example.com");
    });
    expect(s.size).toBe(1);
    expect(s.has("example.com")).toBe(true);
    expect(s.has("a.example.com")).toBe(true);
  });

  test("an empty set matches nothing", () => {
    const s = set(() => {});
    expect(s.size).toBe(0);
    expect(s.has("example.com")).toBe(false);
  });

  test("names outside Latin-1 still match", () => {
    const s = set((b) => {
      b.addSuffix("例子.测试");
      b.addFull("bücher.de");
      b.addSuffix("plain.com");
    });
    expect(s.has("例子.测试")).toBe(true);
    expect(s.has("a.例子.测试")).toBe(true);
    expect(s.has("bücher.de")).toBe(true);
    expect(s.has("x.bücher.de")).toBe(false);
    expect(s.has("例子.plain.com")).toBe(true);
    expect(s.has("其他.测试")).toBe(false);
  });
});

describe("Clash domain patterns", () => {
  const s = set((b) => {
    for (const p of ["exact.com", "+.suffix.com", ".sub.com", "*.star.com", "xbox.*.microsoft.com", "*"]) b.addPattern(p);
  });

  test.each([
    ["exact.com", true],
    ["a.exact.com", false],
    ["suffix.com", true],
    ["a.b.suffix.com", true],
    ["sub.com", false],
    ["a.sub.com", true],
    ["a.b.sub.com", true],
    ["a.star.com", true],
    ["star.com", false],
    ["a.b.star.com", false],
    ["xbox.live.microsoft.com", true],
    ["xbox.microsoft.com", false],
    ["localhost", true],
    ["other.com", false],
  ])("%s → %p", (host, expected) => {
    expect(s.has(host)).toBe(expected);
  });

  test.each(["", " a.com", "a.com ", "a.com.", "a..com", "+.", ".", "+..a.com"])("invalid pattern %p throws a UserError", (p) => {
    expect(() => new DomainSetBuilder().addPattern(p)).toThrow(UserError);
  });
});

describe("against a reference trie", () => {
  test("random patterns and 20,000 random hosts agree", () => {
    const next = rng(4711);
    const int = (n: number) => Math.floor(next() * n);
    // A small alphabet so that hosts hit; many more names from digits to grow the table.
    const label = () => String.fromCharCode(97 + int(4), 97 + int(4));
    const name = () => Array.from({ length: 2 + int(2) }, label).join(".");
    const noise = () => `${int(1e6)}.${int(1e3)}`;
    const b = new DomainSetBuilder();
    const ref = new DomainTrie<true>();
    for (let i = 0; i < 10_000; i++) {
      const n = i % 50 === 0 ? name() : noise();
      const kind = int(3);
      const pattern = kind === 0 ? n : kind === 1 ? `+.${n}` : `.${n}`;
      b.addPattern(pattern);
      ref.insert(pattern, true);
    }
    const s = b.build();
    let hits = 0;
    for (let i = 0; i < 20_000; i++) {
      const host = i % 10 === 0 ? noise() : Array.from({ length: 2 + int(3) }, label).join(".");
      const expected = ref.search(host) !== undefined;
      if (s.has(host) !== expected) throw new Error(`${host}: expected ${expected}`);
      if (expected) hits++;
    }
    // Both outcomes must be exercised for the comparison to mean anything.
    expect(hits).toBeGreaterThan(2000);
    expect(hits).toBeLessThan(18_000);
  });
});
