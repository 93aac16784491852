/**
 * The DNS upstream plugins against real servers (scripts/peers/dns.ts): udp:// and tcp:// against
 * dnsmasq, tls:// (DoT) and https:// (DoH over HTTP/2) against unbound, both serving LAB_RECORDS.
 * Our own servers for malformed replies, silence and the parameters on the wire are in
 * test/dns/upstream*.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { BIG_A, BIG_TXT } from "../../scripts/peers/dns.ts";
import type { Resolver } from "../../src/sdk/index.ts";
import { ask, query, resolverFor, testContext } from "../dns/upstream-helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";

const ready = await peersReady("dnsmasq", "unbound");

const opened: Resolver[] = [];
const open = (entry: string, ctx = testContext()): Resolver => {
  const r = resolverFor(entry, ctx);
  opened.push(r);
  return r;
};
afterAll(() => {
  for (const r of opened) r.close?.();
});

/** What every scheme must get right about the lab zone; `stream`: queries share one kept connection. */
function zoneTests(entry: () => string, chainFollowed: boolean, stream: boolean) {
  test("A, AAAA, several A, MX, TXT; NXDOMAIN for a name outside the zone", async () => {
    const r = open(entry());
    expect((await ask(r, "example.test", "A")).data).toEqual(["A 127.0.0.1"]);
    expect((await ask(r, "example.test", "AAAA")).data).toEqual(["AAAA ::1"]);
    expect((await ask(r, "multi.lab.test", "A")).data.sort()).toEqual(["A 127.0.0.3", "A 127.0.0.4"]);
    expect((await ask(r, "lab.test", "MX")).data).toEqual(["MX 10 mail.lab.test"]);
    expect((await ask(r, "txt.lab.test", "TXT")).data).toEqual(["TXT peerlab"]);
    const nx = await ask(r, "nope.test", "A");
    expect(nx.rcode).toBe("NXDOMAIN");
    expect(nx.data).toEqual([]);
  });

  test("a CNAME chain", async () => {
    const { data } = await ask(open(entry()), "alias.lab.test", "A");
    // unbound answers a CNAME in local data without following it; dnsmasq follows the chain.
    expect(data).toEqual(chainFollowed ? ["CNAME alias2.lab.test", "CNAME example.test", "A 127.0.0.1"] : ["CNAME alias2.lab.test"]);
  });

  test(`100 queries at once, each answered for its own name, caller ids kept${stream ? ", over one connection" : ""}`, async () => {
    const ctx = testContext();
    const r = open(entry(), ctx);
    const names = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? "example.test" : "a.lab.test"));
    const answers = await Promise.all(names.map((n, i) => ask(r, n, "A", { id: i })));
    for (const [i, a] of answers.entries()) {
      expect(a.reply.id).toBe(i);
      expect(a.data).toEqual([i % 2 === 0 ? "A 127.0.0.1" : "A 127.0.0.2"]);
    }
    expect(ctx.dials).toHaveLength(stream ? 1 : 0);
  });
}

describe.skipIf(!ready)("udp:// and tcp:// against dnsmasq", async () => {
  const dnsmasq = ready ? await requirePeer("dnsmasq") : undefined;
  const addr = dnsmasq?.info.addr ?? "";

  describe("udp", () => zoneTests(() => addr, true, false));
  describe("tcp", () => zoneTests(() => `tcp://${addr}`, true, true));

  test("udp: a 670-byte answer truncated over 512-byte UDP is fetched whole over TCP", async () => {
    const r = open(addr);
    for (const type of ["A", "TXT"] as const) {
      // Without EDNS dnsmasq truncates to 512 bytes and sets TC: 30 of the 40 A records fit.
      const { data, reply } = await ask(r, "big.lab.test", type, { ednsSize: 0 });
      expect(reply.flag_tc).toBe(false);
      if (type === "A") expect(data.sort()).toEqual(BIG_A.map((ip) => `A ${ip}`).sort());
      else expect(data.sort()).toEqual(BIG_TXT.map((t) => `TXT ${t}`).sort());
    }
  });

  test("udp: with EDNS 4096 the whole answer fits one datagram", async () => {
    const { data } = await ask(open(addr), "big.lab.test", "A", { ednsSize: 4096 });
    expect(data).toHaveLength(BIG_A.length);
  });

  test("the entry's parameters apply against a real server: disable-ipv6, disable-qtype-5", async () => {
    const r = open(`${addr}#disable-ipv6=true&disable-qtype-5=true`);
    expect((await ask(r, "example.test", "AAAA")).data).toEqual([]);
    expect((await ask(r, "alias.lab.test", "A")).data).toEqual(["A 127.0.0.1"]);
  });

  test("a dead upstream next to a live one: the live answer is not held up", async () => {
    const silent = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data() {} } });
    try {
      const dead = open(`127.0.0.1:${silent.port}`);
      const live = open(addr);
      const t0 = performance.now();
      const gaveUp = dead.exchange(query("example.test", "A"), { signal: AbortSignal.timeout(2000) }).catch((e: Error) => e);
      expect((await ask(live, "example.test", "A")).data).toEqual(["A 127.0.0.1"]);
      expect(performance.now() - t0).toBeLessThan(500);
      expect(String(await gaveUp)).toMatch(/timed out/i);
    } finally {
      silent.close();
    }
  });
});

describe.skipIf(!ready)("tls:// and https:// against unbound", async () => {
  const unbound = ready ? await requirePeer("unbound") : undefined;
  const info = unbound?.info;
  const dot = () => `tls://127.0.0.1:${info!.tlsPort}#skip-cert-verify=true`;
  const doh = () => `https://127.0.0.1:${info!.httpsPort}${info!.dohPath}#skip-cert-verify=true`;

  describe("tls (DoT)", () => zoneTests(dot, false, true));
  // unbound speaks DoH over HTTP/2 only: answers at all mean the h2 path works.
  describe("https (DoH, HTTP/2)", () => zoneTests(doh, false, true));

  test("without skip-cert-verify the throwaway CA is not trusted: a certificate error naming the entry", async () => {
    const tls = open(`tls://127.0.0.1:${info!.tlsPort}`);
    await expect(tls.exchange(query("example.test", "A"))).rejects.toThrow(new RegExp(`tls://127\\.0\\.0\\.1:${info!.tlsPort}: TLS 127\\.0\\.0\\.1: .*cert`, "i"));
    const https = open(`https://127.0.0.1:${info!.httpsPort}/dns-query`);
    await expect(https.exchange(query("example.test", "A"))).rejects.toThrow(/TLS 127\.0\.0\.1: .*cert/i);
  });

  test("DoH on a path unbound does not serve: the HTTP status names the problem", async () => {
    const r = open(`https://127.0.0.1:${info!.httpsPort}/wrong#skip-cert-verify=true`);
    await expect(r.exchange(query("example.test", "A"))).rejects.toThrow(/\/wrong: the server answered HTTP 4\d\d/);
  });

  test("sequential queries reuse the kept DoT connection and DoH session", async () => {
    for (const entry of [dot(), doh()]) {
      const ctx = testContext();
      const r = open(entry, ctx);
      for (let i = 0; i < 5; i++) expect((await ask(r, "a.lab.test", "A")).data).toEqual(["A 127.0.0.2"]);
      expect(ctx.dials).toHaveLength(1);
    }
  });
});
