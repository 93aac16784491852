import { describe, expect, test } from "bun:test";
import type { RecordType } from "dns-packet";
import { DnsResolver } from "../../src/dns/manager.ts";
import { buildQuery, decodeMessage, type DnsMessage, encodeMessage, RCODE, replyTo } from "../../src/dns/message.ts";
import { parseNameserver } from "../../src/dns/nameserver.ts";
import { NameserverGroup } from "../../src/dns/upstream.ts";
import type { Resolver } from "../../src/sdk/types.ts";

/**
 * The resolver algorithm (config.md §5.3) over upstreams that answer from a table. The upstreams
 * stand in for servers (their wire transports are tested against dnsmasq and unbound in
 * test/interop); what is under test here is the choice between policy, main and fallback.
 */
type Table = Record<string, { rcode?: number; a?: string[]; ttl?: number; delayMs?: number } | "fail">;

function upstream(name: string, table: Table, asked: string[]): { spec: ReturnType<typeof parseNameserver>; resolver: Resolver } {
  return {
    spec: parseNameserver(name),
    resolver: {
      async exchange(wire) {
        const q = decodeMessage(wire);
        const qname = q.questions![0]!.name;
        asked.push(`${name} ${qname}`);
        const row = table[qname];
        if (row === "fail" || row === undefined) throw new Error("unreachable");
        if (row.delayMs) await Bun.sleep(row.delayMs);
        const answers = (row.a ?? []).map((ip) => ({ name: qname, type: "A" as const, ttl: row.ttl ?? 60, class: "IN" as const, data: ip }));
        return encodeMessage(replyTo(q, row.rcode ?? RCODE.NOERROR, answers));
      },
    },
  };
}

const ask = (r: DnsResolver, name: string, type: RecordType = "A") => r.exchange(buildQuery(name, type, { id: 7 }));
const ips = (m: DnsMessage) => (m.answers ?? []).map((a) => (a as { data?: unknown }).data);

describe("DnsResolver", () => {
  test("fallback is used only when the main answer fails the filter", async () => {
    const asked: string[] = [];
    const main = new NameserverGroup([upstream("1.1.1.1", { "cn.test": { a: ["1.2.3.4"] }, "bad.test": { a: ["10.9.9.9"] }, "gone.test": "fail" }, asked)]);
    const fallback = new NameserverGroup([upstream("8.8.8.8", { "bad.test": { a: ["5.6.7.8"] }, "gone.test": { a: ["9.9.9.9"] } }, asked)]);
    const r = new DnsResolver({ main, fallback, fallbackIpRejected: (ip) => ip.startsWith("10.") });
    expect(ips(await ask(r, "cn.test"))).toEqual(["1.2.3.4"]);
    expect(ips(await ask(r, "bad.test"))).toEqual(["5.6.7.8"]);
    expect(ips(await ask(r, "gone.test"))).toEqual(["9.9.9.9"]);
    expect(asked).toEqual(["1.1.1.1 cn.test", "1.1.1.1 bad.test", "8.8.8.8 bad.test", "1.1.1.1 gone.test", "8.8.8.8 gone.test"]);
  });

  test("nameserver-policy comes first; fallback-filter.domain sends names to fallback only", async () => {
    const asked: string[] = [];
    const table = { "p.test": { a: ["1.1.1.1"] }, "f.test": { a: ["2.2.2.2"] } };
    const main = new NameserverGroup([upstream("1.1.1.1", table, asked)]);
    const fallback = new NameserverGroup([upstream("8.8.8.8", table, asked)]);
    const special = new NameserverGroup([upstream("9.9.9.9", table, asked)]);
    const r = new DnsResolver({
      main,
      fallback,
      policy: [{ key: "p.test", lookup: (h) => (h === "p.test" ? special : undefined), groups: [special] }],
      fallbackDomain: (h) => h === "f.test",
      fallbackIpRejected: () => false,
    });
    await ask(r, "p.test");
    await ask(r, "f.test");
    expect(asked).toEqual(["9.9.9.9 p.test", "8.8.8.8 f.test"]);
  });

  test("the first usable answer wins; SERVFAIL loses; an empty answer only when nobody has addresses", async () => {
    const slowGood = upstream("1.1.1.1", { "x.test": { a: ["1.1.1.1"], delayMs: 30 }, "e.test": { a: [] } }, []);
    const fastBad = upstream("2.2.2.2", { "x.test": { rcode: RCODE.SERVFAIL }, "e.test": { rcode: RCODE.SERVFAIL } }, []);
    const fastEmpty = upstream("3.3.3.3", { "x.test": { a: [] }, "e.test": "fail" }, []);
    const r = new DnsResolver({ main: new NameserverGroup([slowGood, fastBad, fastEmpty]) });
    expect(ips(await ask(r, "x.test"))).toEqual(["1.1.1.1"]);
    const empty = await ask(r, "e.test");
    expect(empty.flags! & 0xf).toBe(RCODE.NOERROR);
    expect(ips(empty)).toEqual([]);
    const dead = new DnsResolver({ main: new NameserverGroup([fastBad]) });
    await expect(ask(dead, "x.test")).rejects.toThrow("2.2.2.2: SERVFAIL");
  });

  test("answers are cached per question with the remaining TTL; stale ones are served and refreshed", async () => {
    const asked: string[] = [];
    const table: Table = { "c.test": { a: ["1.1.1.1"], ttl: 300 } };
    const r = new DnsResolver({ main: new NameserverGroup([upstream("1.1.1.1", table, asked)]) });
    const first = await ask(r, "c.test");
    expect(first.id).toBe(7);
    const again = await ask(r, "c.test");
    expect(asked.length).toBe(1);
    expect((again.answers![0] as { ttl: number }).ttl).toBeLessThanOrEqual(300);
    expect(again.id).toBe(7);
    // Expire it by hand: the stale answer is served at once with TTL 1, and refreshed behind.
    table["c.test"] = { a: ["2.2.2.2"], ttl: 300 };
    r.cache.set("c.test|A|IN", r.cache.get("c.test|A|IN")!.message, 0);
    const stale = await ask(r, "c.test");
    expect(ips(stale)).toEqual(["1.1.1.1"]);
    expect((stale.answers![0] as { ttl: number }).ttl).toBe(1);
    // The refresh runs behind the stale answer: wait (bounded) until the cache holds its result.
    for (let i = 0; i < 1000 && ips(r.cache.get("c.test|A|IN")!.message)[0] !== "2.2.2.2"; i++) await new Promise(setImmediate);
    expect(asked.length).toBe(2);
    expect(ips(await ask(r, "c.test"))).toEqual(["2.2.2.2"]);
  });

  test("concurrent identical questions share one upstream exchange", async () => {
    const asked: string[] = [];
    const r = new DnsResolver({ main: new NameserverGroup([upstream("1.1.1.1", { "s.test": { a: ["1.1.1.1"], delayMs: 20 } }, asked)]) });
    const all = await Promise.all(Array.from({ length: 20 }, () => ask(r, "s.test")));
    expect(all.every((m) => ips(m)[0] === "1.1.1.1")).toBe(true);
    expect(asked.length).toBe(1);
  });

  test("lookup rejects NXDOMAIN with a clear message", async () => {
    const r = new DnsResolver({ main: new NameserverGroup([upstream("1.1.1.1", { "nx.test": { rcode: RCODE.NXDOMAIN } }, [])]) });
    await expect(r.lookup("nx.test", "A")).rejects.toThrow("no such host");
  });
});
