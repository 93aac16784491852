import { describe, expect, test } from "bun:test";
import ipaddr from "ipaddr.js";
import { IpRangeTable, type PrefixEntry } from "../../src/core/ip-ranges.ts";
import { parseIp, parseIPv4, parsePrefix, prefixContains } from "../../src/sdk/index.ts";
import { rng } from "./helpers.ts";

function words(text: string): number[] | undefined {
  const out = new Uint32Array(4);
  const family = parseIp(text, out);
  if (family === 0) return undefined;
  return family === 4 ? [out[0]!] : [...out];
}

describe("parseIp", () => {
  test.each([
    ["0.0.0.0", [0]],
    ["1.2.3.4", [0x01020304]],
    ["255.255.255.255", [0xffffffff]],
    ["::", [0, 0, 0, 0]],
    ["::1", [0, 0, 0, 1]],
    ["1::", [0x00010000, 0, 0, 0]],
    ["2001:db8::ff00:42:8329", [0x20010db8, 0, 0x0000ff00, 0x00428329]],
    ["2001:DB8:0:0:0:FF00:42:8329", [0x20010db8, 0, 0x0000ff00, 0x00428329]],
    ["::ffff:1.2.3.4", [0, 0, 0x0000ffff, 0x01020304]],
    ["64:ff9b::192.0.2.33", [0x0064ff9b, 0, 0, 0xc0000221]],
    ["1:2:3:4:5:6:7::", [0x00010002, 0x00030004, 0x00050006, 0x00070000]],
    ["::2:3:4:5:6:7:8", [0x00000002, 0x00030004, 0x00050006, 0x00070008]],
  ])("%s", (text, expected) => {
    expect(words(text)).toEqual(expected);
  });

  test.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1..2.3",
    "1.2.3.4 ",
    "a.b.c.d",
    ":",
    ":1",
    "1:",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "12345::",
    "1:2:3:4:5:6:7",
    "::1.2.3",
    "1:2:3:4:5:6:7:1.2.3.4",
    "fe80::1%eth0",
    "g::1",
  ])("rejects %p", (text) => {
    expect(words(text)).toBeUndefined();
  });

  test("agrees with ipaddr.js on random addresses in several spellings", () => {
    const next = rng(7);
    const u16 = () => (next() < 0.4 ? 0 : Math.floor(next() * 65536));
    const buf = new Uint32Array(4);
    for (let n = 0; n < 2000; n++) {
      const parts = Array.from({ length: 8 }, u16);
      const addr = new ipaddr.IPv6(parts);
      const expected = [0, 1, 2, 3].map((k) => ((parts[2 * k]! << 16) | parts[2 * k + 1]!) >>> 0);
      const fixed = parts.map((p) => p.toString(16).padStart(4, "0").toUpperCase()).join(":");
      for (const text of [addr.toString(), addr.toNormalizedString(), fixed]) {
        expect(parseIp(text, buf)).toBe(6);
        expect([...buf]).toEqual(expected);
      }
      const v4 = Math.floor(next() * 2 ** 32);
      const text4 = ipaddr.fromByteArray([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]).toString();
      expect(parseIPv4(text4)).toBe(v4);
    }
  });
});

describe("IpRangeTable", () => {
  function table(prefixes: string[]): IpRangeTable {
    return new IpRangeTable(prefixes.map((p, rule) => ({ prefix: parsePrefix(p), rule })));
  }
  function lookup(t: IpRangeTable, ip: string): number {
    const buf = new Uint32Array(4);
    return t.lookup(parseIp(ip, buf), buf);
  }

  test("nested prefixes keep the smallest rule index per address", () => {
    const t = table(["10.1.0.0/16", "10.0.0.0/8", "10.1.2.0/24", "10.1.2.3/32", "10.0.0.0/8"]);
    expect(lookup(t, "10.1.2.3")).toBe(0);
    expect(lookup(t, "10.1.9.9")).toBe(0);
    expect(lookup(t, "10.2.0.0")).toBe(1);
    expect(lookup(t, "10.255.255.255")).toBe(1);
    expect(lookup(t, "11.0.0.0")).toBe(-1);
    expect(lookup(t, "9.255.255.255")).toBe(-1);
  });

  test("a later, narrower prefix inside an earlier one wins only outside it", () => {
    const t = table(["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24"]);
    expect(lookup(t, "10.9.9.9")).toBe(0);
    expect(lookup(t, "192.168.1.1")).toBe(1);
    expect(lookup(t, "0.0.0.0")).toBe(1);
    expect(lookup(t, "255.255.255.255")).toBe(1);
  });

  test("IPv6 and IPv4 are separate", () => {
    const t = table(["2001:db8::/32", "::/0", "2001:db8:1::/48", "0.0.0.0/0"]);
    expect(lookup(t, "2001:db8:1::1")).toBe(0);
    expect(lookup(t, "2001:db9::1")).toBe(1);
    expect(lookup(t, "::")).toBe(1);
    expect(lookup(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(1);
    expect(lookup(t, "1.2.3.4")).toBe(3);
  });

  test("matches a linear scan on random nested prefixes", () => {
    const next = rng(11);
    const entries: PrefixEntry[] = [];
    const prefixes: string[] = [];
    for (let i = 0; i < 3000; i++) {
      if (next() < 0.7) {
        // Few distinct top octets so that prefixes nest often.
        const a = Math.floor(next() * 4);
        const bits = 8 + Math.floor(next() * 25);
        prefixes.push(`10.${a}.${Math.floor(next() * 4)}.${Math.floor(next() * 256)}/${bits}`);
      } else {
        const bits = 16 + Math.floor(next() * 113);
        prefixes.push(`2001:db8:${Math.floor(next() * 3).toString(16)}::${Math.floor(next() * 65536).toString(16)}/${bits}`);
      }
    }
    prefixes.forEach((p, rule) => {
      entries.push({ prefix: parsePrefix(p), rule });
    });
    const t = new IpRangeTable(entries);
    const buf = new Uint32Array(4);
    for (let n = 0; n < 5000; n++) {
      const ip =
        next() < 0.6
          ? `10.${Math.floor(next() * 5)}.${Math.floor(next() * 5)}.${Math.floor(next() * 256)}`
          : `2001:db8:${Math.floor(next() * 4).toString(16)}::${Math.floor(next() * 65536).toString(16)}`;
      const family = parseIp(ip, buf);
      const expected = entries.findIndex((e) => prefixContains(e.prefix, family, buf));
      expect(t.lookup(family, buf)).toBe(expected);
    }
  });
});
