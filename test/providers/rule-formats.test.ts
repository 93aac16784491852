import { describe, expect, test } from "bun:test";
import { readMrs } from "../../src/providers/rule-formats/mrs.ts";
import { textEntries } from "../../src/providers/rule-formats/text.ts";
import { yamlEntries } from "../../src/providers/rule-formats/yaml.ts";
import { UserError } from "../../src/sdk/index.ts";
import { encodeMrsDomains, encodeMrsRanges } from "./mrs-encoder.ts";

describe("yaml format (mihomo's line-by-line reading)", () => {
  test("items after the payload header; comments, blank lines and quotes", () => {
    const text = [
      "# a rule-set",
      "name: ignored",
      "payload:",
      "  # comment",
      "  - '+.google.com'",
      '  - "a.com" # trailing comment',
      "  - plain.net   # comment",
      "",
      "  - 'it''s.org'",
      "- at-column-zero.com",
      "",
    ].join("\n");
    expect(yamlEntries(text)).toEqual(["+.google.com", "a.com", "plain.net", "it's.org", "at-column-zero.com"]);
  });

  test("`rules:` opens the list too, and CRLF line ends are fine", () => {
    expect(yamlEntries("rules:\r\n  - DOMAIN,a.com\r\n  - IP-CIDR,1.0.0.0/8,no-resolve\r\n")).toEqual(["DOMAIN,a.com", "IP-CIDR,1.0.0.0/8,no-resolve"]);
  });

  test("lines that are not one string are skipped", () => {
    const text = "payload:\n  - {a: 1}\n  - [x, y]\n  - key: value\n  - ''\n  -\n  -nospace\n  - ok.com\nother: 1\n";
    expect(yamlEntries(text)).toEqual(["ok.com"]);
  });

  test("items before the header are not taken", () => {
    expect(yamlEntries("- early.com\npayload:\n  - late.com\n")).toEqual(["late.com"]);
  });

  test("a one-line file or a flow sequence without a final newline has no payload; with one, it is empty", () => {
    expect(() => yamlEntries("payload: [a.com, b.com]")).toThrow(UserError);
    expect(() => yamlEntries("payload:")).toThrow("payload");
    expect(yamlEntries("payload: [a.com, b.com]\n")).toEqual([]);
    expect(yamlEntries("")).toEqual([]);
  });
});

describe("text format", () => {
  test("one entry per line, trimmed; # and // comments", () => {
    expect(textEntries("# c\n  a.com  \n\n// premium comment\r\n+.b.com\nlast.com")).toEqual(["a.com", "+.b.com", "last.com"]);
  });
});

function decode(body: Uint8Array, behavior: "domain" | "ipcidr") {
  const domains: string[] = [];
  const ranges: string[] = [];
  const count = readMrs(body, behavior, {
    domain: (p) => domains.push(p),
    range: (family, first, last) => ranges.push(`${family}:${[...first].join(".")}-${[...last].join(".")}`),
  });
  return { count, domains: domains.sort(), ranges };
}

describe("mrs format", () => {
  test("domain keys come back as Clash patterns (+.x as apex and subdomains, .x, *, non-ASCII)", () => {
    const got = decode(encodeMrsDomains(["exact.com", "+.suffix.com", ".sub.org", "*.star.net", "a.*.b.io", "例子.测试"]), "domain");
    expect(got.count).toBe(6);
    expect(got.domains).toEqual([".sub.org", ".suffix.com", "*.star.net", "a.*.b.io", "exact.com", "suffix.com", "例子.测试"].sort());
  });

  test("many names sharing prefixes and suffixes survive the trie", () => {
    const names = Array.from({ length: 3000 }, (_, i) => `n${i % 97}.x${i}.example${i % 7}.com`);
    expect(decode(encodeMrsDomains(names), "domain").domains).toEqual([...names].sort());
  });

  test("ipcidr ranges, IPv4 unmapped from ::ffff:", () => {
    const got = decode(
      encodeMrsRanges([
        ["1.0.0.0", "1.0.0.255"],
        ["2001:db8::", "2001:db8::ffff"],
      ]),
      "ipcidr",
    );
    expect(got.ranges).toEqual([`4:${0x01000000}-${0x010000ff}`, `6:${0x20010db8}.0.0.0-${0x20010db8}.0.0.${0xffff}`]);
  });

  test("extra header bytes are skipped", () => {
    expect(decode(encodeMrsDomains(["a.com"], [1, 2, 3]), "domain").domains).toEqual(["a.com"]);
  });

  test("malformed files are UserErrors: not zstd, magic, behaviour mismatch, truncation", () => {
    const sink = { domain() {}, range() {} };
    expect(() => readMrs(new TextEncoder().encode("payload:\n"), "domain", sink)).toThrow(UserError);
    expect(() => readMrs(Bun.zstdCompressSync(new TextEncoder().encode("NOPE")), "domain", sink)).toThrow("magic");
    expect(() => readMrs(encodeMrsDomains(["a.com"]), "ipcidr", sink)).toThrow("behavior");
    const whole = Bun.zstdDecompressSync(encodeMrsDomains(["a.com", "b.com"]));
    expect(() => readMrs(Bun.zstdCompressSync(whole.subarray(0, whole.length - 3)), "domain", sink)).toThrow("truncated");
  });
});
