/**
 * The upstream resolver plugins against DNS servers of our own on loopback, for what a real server
 * does not show on demand: the `#…` parameters on the wire (ECS, disabled types), malformed and
 * stray replies, silence, pipelined answers out of order, a closed kept connection; and the schemes
 * that need no server (rcode, refused ones). Real servers: test/interop/dns-upstreams.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { nameserversIn, SystemResolver } from "../../plugins/dns/system/system.ts";
import { checkReply, emptyReply, questionType, rcodeReply } from "../../plugins/dns/wire.ts";
import { decodeMessage, setId } from "../../src/dns/message.ts";
import type { Outbound, PacketConn } from "../../src/sdk/index.ts";
import { answerWith, ask, type FakeUdpServer, fakeTcpServer, fakeUdpServer, query, resolverFor, testContext } from "./upstream-helpers.ts";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});
const track = <T extends { close?(): unknown }>(x: T): T => {
  cleanup.push(() => x.close?.());
  return x;
};

/** A server answering every A query with 192.0.2.1 and a CNAME, everything else with no records. */
async function simpleServer(): Promise<FakeUdpServer> {
  return track(
    await fakeUdpServer((q) => {
      const name = decodeMessage(q).questions![0]!.name;
      return answerWith(q, [
        { type: "CNAME", name, ttl: 30, data: "target.test" },
        { type: "A", name: "target.test", ttl: 30, data: "192.0.2.1" },
      ]);
    }),
  );
}

/** The ECS option of a query as the server saw it, as "ip/bits", or undefined. */
function ecsOf(bytes: Uint8Array): string | undefined {
  const opt = decodeMessage(bytes).additionals?.find((a) => a.type === "OPT") as { options?: { code: number; ip?: string; sourcePrefixLength?: number }[] } | undefined;
  const o = opt?.options?.find((x) => x.code === 8);
  return o ? `${o.ip}/${o.sourcePrefixLength}` : undefined;
}

describe("wire checks", () => {
  const q = query("example.test", "AAAA");

  test("the question type is read from the bytes", () => {
    expect(questionType(q)).toBe(28);
    expect(questionType(new Uint8Array(5))).toBe(-1);
  });

  test("a reply must carry the query's id and question; a broken one is named", () => {
    const ok = answerWith(q, [{ type: "AAAA", name: "EXAMPLE.test", ttl: 1, data: "::1" }]);
    expect(checkReply(q, ok)).toBeUndefined();
    const other = new Uint8Array(ok);
    setId(other, (ok[0]! << 8 | ok[1]!) ^ 1);
    expect(checkReply(q, other)).toBe("foreign");
    expect(checkReply(q, answerWith(query("other.test", "AAAA"), []))).toMatch(/question does not match/);
    expect(checkReply(q, ok.subarray(0, ok.length - 3))).toMatch(/records run past the end/);
    // With TC set a cut record is expected: the reply is usable (it only leads to the TCP retry).
    const cut = new Uint8Array(ok.subarray(0, ok.length - 3));
    cut[2]! |= 0x02;
    expect(checkReply(q, cut)).toBeUndefined();
  });

  test("empty and rcode replies keep the id and the question", () => {
    const empty = decodeMessage(emptyReply(q));
    expect(empty.type).toBe("response");
    expect(empty.rcode).toBe("NOERROR");
    expect(empty.flag_aa).toBe(true);
    expect(empty.questions).toEqual([{ name: "example.test", type: "AAAA", class: "IN" }]);
    expect(empty.answers).toEqual([]);
    expect(decodeMessage(rcodeReply(q, 5)).rcode).toBe("REFUSED");
  });
});

describe("schemes answered without a server", () => {
  test("rcode:// answers with its RCODE and the question; an unknown name is refused at create, naming it", async () => {
    const names = { success: "NOERROR", format_error: "FORMERR", server_failure: "SERVFAIL", name_error: "NXDOMAIN", not_implemented: "NOTIMP", refused: "REFUSED" };
    for (const [name, rcode] of Object.entries(names)) {
      const r = await ask(resolverFor(`rcode://${name}`), "ads.test", "A");
      expect(r.rcode).toBe(rcode);
      expect(r.reply.questions?.[0]?.name).toBe("ads.test");
      expect(r.data).toEqual([]);
    }
    expect(() => resolverFor("rcode://blocked")).toThrow('rcode://blocked: unknown rcode "blocked"');
  });

  test("quic:// and dhcp:// are refused clearly at create; h3=true too", () => {
    expect(() => resolverFor("quic://127.0.0.1")).toThrow("quic://127.0.0.1: DNS over QUIC is not supported by this build");
    expect(() => resolverFor("dhcp://eth0")).toThrow("dhcp://eth0: nameservers from DHCP are not supported by this build");
    expect(() => resolverFor("https://127.0.0.1/dns-query#h3=true")).toThrow("https://127.0.0.1:443/dns-query: h3=true (DNS over HTTP/3) is not supported");
  });

  test("every scheme's schema takes unknown parameters and disable-qtype-N, as mihomo ignores what it does not know", () => {
    for (const entry of ["127.0.0.1", "tcp://127.0.0.1", "tls://127.0.0.1", "https://127.0.0.1/q", "http://127.0.0.1/q", "system", "rcode://success"]) {
      expect(() => resolverFor(`${entry}#PROXY&disable-qtype-65=true&future-param=1&skip-cert-verify=true`)).not.toThrow();
    }
  });

  test("system (and dhcp://system, its old spelling) answers A for localhost from the OS resolver", async () => {
    for (const entry of ["system", "dhcp://system"]) {
      const r = await ask(resolverFor(entry), "localhost", "A");
      expect(r.rcode).toBe("NOERROR");
      expect(r.data).toContain("A 127.0.0.1");
      expect((r.reply.answers?.[0] as { ttl?: number } | undefined)?.ttl).toBeGreaterThan(0);
    }
  });

  test("system: other types go to the resolv.conf servers over UDP (here a fake one); resolv.conf is parsed as mihomo does", async () => {
    const server = await fakeUdpServer((q) => answerWith(q, [{ type: "TXT", name: "t.test", ttl: 9, data: ["from resolv.conf"] }]));
    track(server);
    const sys = track(new SystemResolver("system", () => [{ host: "127.0.0.1", port: server.port }], testContext()));
    const r = decodeMessage(await sys.exchange(query("t.test", "TXT")));
    expect((r.answers?.[0] as { data?: Buffer[] } | undefined)?.data?.map(String)).toEqual(["from resolv.conf"]);
    expect(nameserversIn("# comment\nnameserver 10.0.0.1\nsearch lan\nnameserver ::1\nnameserver bogus\n")).toEqual([
      { host: "10.0.0.1", port: 53 },
      { host: "::1", port: 53 },
    ]);
    const none = new SystemResolver("system", () => [], testContext());
    await expect(none.exchange(query("t.test", "MX"))).rejects.toThrow("system: /etc/resolv.conf lists no nameserver");
  });
});

describe("udp", () => {
  test("answers keep the caller's id while the wire carries a random one; concurrent queries with one id all settle", async () => {
    const server = await simpleServer();
    const r = track(resolverFor(`127.0.0.1:${server.port}`));
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => r.exchange(query(`n${i}.test`, "A", { id: 7 }))));
    for (const [i, bytes] of replies.entries()) {
      const m = decodeMessage(bytes);
      expect(m.id).toBe(7);
      expect(m.questions?.[0]?.name).toBe(`n${i}.test`);
    }
    const wireIds = new Set(server.received.map((b) => (b[0]! << 8) | b[1]!));
    expect(wireIds.size).toBeGreaterThan(15);
  });

  test("ecs sets an EDNS Client Subnet (host bits cleared); kept when the query has one unless ecs-override=true", async () => {
    const server = await simpleServer();
    await resolverFor(`127.0.0.1:${server.port}#ecs=1.2.3.99/24`).exchange(query("a.test", "A"));
    await resolverFor(`127.0.0.1:${server.port}#ecs=1.2.3.4`).exchange(query("b.test", "A"));
    await resolverFor(`127.0.0.1:${server.port}#ecs=2001:db8::1/56`).exchange(query("c.test", "A"));
    await resolverFor(`127.0.0.1:${server.port}#ecs=1.2.3.0/24`).exchange(query("d.test", "A", { ecs: "9.9.9.0/24" }));
    await resolverFor(`127.0.0.1:${server.port}#ecs=1.2.3.0/24&ecs-override=true`).exchange(query("e.test", "A", { ecs: "9.9.9.0/24" }));
    expect(server.received.map(ecsOf)).toEqual(["1.2.3.0/24", "1.2.3.4/32", "2001:db8::/56", "9.9.9.0/24", "1.2.3.0/24"]);
  });

  test("an invalid ecs is logged and ignored, as mihomo does", async () => {
    const server = await simpleServer();
    const ctx = testContext();
    await resolverFor(`127.0.0.1:${server.port}#ecs=not-an-ip`, ctx).exchange(query("a.test", "A", { ednsSize: 0 }));
    expect(ctx.warnings.join()).toContain('ignoring invalid ecs "not-an-ip"');
    expect(ecsOf(server.received[0]!)).toBeUndefined();
  });

  test("disable-ipv6 / disable-qtype-N answer those queries here with an empty NOERROR and strip such records from replies", async () => {
    const server = await simpleServer();
    const r = resolverFor(`127.0.0.1:${server.port}#disable-ipv6=true&disable-qtype-5=true&disable-qtype-65=false`);
    const aaaa = await ask(r, "x.test", "AAAA", { id: 99 });
    expect(aaaa.rcode).toBe("NOERROR");
    expect(aaaa.reply.id).toBe(99);
    expect(aaaa.data).toEqual([]);
    expect(server.received.length).toBe(0);
    expect((await ask(r, "x.test", "CNAME")).data).toEqual([]);
    expect((await ask(r, "x.test", "A")).data).toEqual(["A 192.0.2.1"]);
    expect((await ask(r, "x.test", "HTTPS")).data).toEqual(["A 192.0.2.1"]);
    expect(server.received.length).toBe(2);
    expect((await ask(resolverFor(`127.0.0.1:${server.port}#disable-ipv4=true`), "x.test", "A")).data).toEqual([]);
  });

  test("a malformed reply fails that query at once; a stray datagram is ignored; the resolver goes on", async () => {
    let mode: "garbage-same-id" | "stray" | "good" = "garbage-same-id";
    const server = track(
      await fakeUdpServer((q) => {
        if (mode === "garbage-same-id") return new Uint8Array([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 7, 120, 120]);
        if (mode === "stray") return new Uint8Array([1, 2, 3]);
        return answerWith(q, [{ type: "A", name: "ok.test", ttl: 1, data: "192.0.2.7" }]);
      }),
    );
    const r = track(resolverFor(`127.0.0.1:${server.port}`));
    const t0 = performance.now();
    await expect(r.exchange(query("bad.test", "A"))).rejects.toThrow(`udp://127.0.0.1:${server.port}: malformed reply`);
    expect(performance.now() - t0).toBeLessThan(1000);
    mode = "stray";
    // The stray datagram is not taken for an answer: the query runs until the caller gives up.
    await expect(r.exchange(query("stray.test", "A"), { signal: AbortSignal.timeout(300) })).rejects.toThrow(/timed out/i);
    expect(server.received.length).toBe(2);
    mode = "good";
    expect((await ask(r, "ok.test", "A")).data).toEqual(["A 192.0.2.7"]);
  });

  test("a dead upstream times out after 5 s by itself, and does not delay a query to a live one meanwhile", async () => {
    const silent = track(await fakeUdpServer(() => undefined));
    const live = await simpleServer();
    const dead = resolverFor(`127.0.0.1:${silent.port}`);
    const alive = resolverFor(`127.0.0.1:${live.port}`);
    const t0 = performance.now();
    const deadQuery = dead.exchange(query("slow.test", "A")).then(
      () => "answered",
      (err: Error) => err.message,
    );
    const answer = await ask(alive, "fast.test", "A");
    expect(answer.data).toEqual(["CNAME target.test", "A 192.0.2.1"]);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await deadQuery).toBe(`udp://127.0.0.1:${silent.port}: no answer within 5 s`);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4900);
  }, 10_000);

  test("a closed port fails at once (ICMP port unreachable), not after the timeout", async () => {
    const gone = await fakeUdpServer(() => undefined);
    gone.close();
    const t0 = performance.now();
    await expect(resolverFor(`127.0.0.1:${gone.port}`).exchange(query("x.test", "A"))).rejects.toThrow(`udp://127.0.0.1:${gone.port}`);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  test("close() ends the queries in flight", async () => {
    const arrived = Promise.withResolvers<void>();
    const silent = track(
      await fakeUdpServer(() => {
        arrived.resolve();
        return undefined;
      }),
    );
    const r = resolverFor(`127.0.0.1:${silent.port}`);
    const pending = r.exchange(query("x.test", "A"));
    await arrived.promise;
    r.close?.();
    await expect(pending).rejects.toThrow("resolver closed");
  });

  test("a truncated answer is asked again over TCP of the same server", async () => {
    const tcp = track(fakeTcpServer((q, send) => send(answerWith(q, [{ type: "A", name: "big.test", ttl: 1, data: "192.0.2.9" }]))));
    const udp = await truncatingUdp(tcp.port);
    const ctx = testContext();
    const r = track(resolverFor(`udp://127.0.0.1:${tcp.port}`, ctx));
    expect((await ask(r, "big.test", "A")).data).toEqual(["A 192.0.2.9"]);
    expect(udp.received.length).toBe(1);
    expect(ctx.dials).toEqual([{ host: "127.0.0.1", port: tcp.port, dialerProxy: undefined }]);
  });

  test("#RULES sends the query over TCP through the core's rule routing; #NAME uses that proxy's UDP", async () => {
    const tcp = track(fakeTcpServer((q, send) => send(answerWith(q, [{ type: "A", name: "r.test", ttl: 1, data: "192.0.2.3" }]))));
    const ctx = testContext();
    expect((await ask(track(resolverFor(`127.0.0.1:${tcp.port}#RULES`, ctx)), "r.test", "A")).data).toEqual(["A 192.0.2.3"]);
    expect(ctx.dials[0]?.dialerProxy).toBe("RULES");

    const server = await simpleServer();
    const seen: string[] = [];
    const proxy = udpRelay("relay", seen);
    const viaProxy = resolverFor(`127.0.0.1:${server.port}#relay`, testContext({ relay: proxy, tcpOnly: { ...proxy, supportsUdp: false } }));
    expect((await ask(viaProxy, "p.test", "A")).data).toEqual(["CNAME target.test", "A 192.0.2.1"]);
    expect(seen).toEqual([`udp 127.0.0.1:${server.port}`]);
    const tcpOnly = resolverFor(`127.0.0.1:${server.port}#tcpOnly`, testContext({ tcpOnly: { ...proxy, supportsUdp: false } }));
    await expect(tcpOnly.exchange(query("p.test", "A"))).rejects.toThrow('proxy "tcpOnly" does not support UDP');
    await expect(resolverFor(`127.0.0.1:${server.port}#nosuch`).exchange(query("p.test", "A"))).rejects.toThrow('no proxy or group named "nosuch"');
  });
});

/** A UDP server on `port` (the number of a TCP listener) answering with TC set and no records. */
async function truncatingUdp(port: number): Promise<{ received: Uint8Array[] }> {
  const received: Uint8Array[] = [];
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port,
    binaryType: "uint8array",
    socket: {
      data(s, data, p, a) {
        received.push(data);
        s.send(answerWith(data, [], 0x8380), p, a);
      },
    },
  });
  track(socket);
  return { received };
}

/** An outbound whose UDP is a plain socket to the destination: stands in for a proxy with UDP. */
function udpRelay(name: string, seen: string[]): Outbound {
  return {
    name,
    type: "Test",
    supportsUdp: true,
    addr: "",
    dialTcp: () => Promise.reject(new Error("tcp not used")),
    async dialUdp(m) {
      seen.push(`${m.network} ${m.destinationIP}:${m.destinationPort}`);
      const conn: PacketConn = {
        closed: false,
        onPacket: undefined,
        onClose: undefined,
        send(p) {
          socket.send(p.data, p.port, p.host);
        },
        close() {
          conn.closed = true;
          socket.close();
        },
      };
      const socket = await Bun.udpSocket({
        binaryType: "uint8array",
        socket: {
          data(_s, data, port, host) {
            conn.onPacket?.({ data, host, port });
          },
        },
      });
      return conn;
    },
  };
}

describe("tcp pipelining", () => {
  test("queries share one connection and answers may come back in any order", async () => {
    const held: { q: Uint8Array; send: (r: Uint8Array) => void }[] = [];
    const server = track(
      fakeTcpServer((q, send) => {
        held.push({ q, send });
        // Answer in reverse once all five arrived.
        if (held.length === 5) for (const h of held.reverse()) h.send(answerWith(h.q, [{ type: "A", name: decodeMessage(h.q).questions![0]!.name, ttl: 1, data: "192.0.2.5" }]));
      }),
    );
    const r = track(resolverFor(`tcp://127.0.0.1:${server.port}`));
    const names = ["a", "b", "c", "d", "e"].map((n) => `${n}.test`);
    const replies = await Promise.all(names.map((n) => ask(r, n, "A", { id: 1 })));
    expect(replies.map((x) => x.reply.questions?.[0]?.name)).toEqual(names);
    expect(replies.every((x) => x.reply.id === 1)).toBe(true);
    expect(server.connections).toBe(1);
  });

  test("a query that finds its kept connection closed under it is sent again on a new one", async () => {
    const served = new WeakSet<object>();
    let n = 0;
    const server = track(
      fakeTcpServer((q, send, socket) => {
        // The second query on a connection: closed without an answer, as an idle-timing-out server does.
        if (served.has(socket)) {
          socket.end();
          return;
        }
        served.add(socket);
        send(answerWith(q, [{ type: "A", name: "k.test", ttl: 1, data: `192.0.2.${++n}` }]));
      }),
    );
    const r = track(resolverFor(`tcp://127.0.0.1:${server.port}`));
    expect((await ask(r, "k.test", "A")).data).toEqual(["A 192.0.2.1"]);
    expect((await ask(r, "k.test", "A")).data).toEqual(["A 192.0.2.2"]);
    expect(server.connections).toBe(2);
  });

  test("a malformed answer fails only its own query", async () => {
    const server = track(
      fakeTcpServer((q, send) => {
        const name = decodeMessage(q).questions![0]!.name;
        if (name === "bad.test") send(new Uint8Array([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3]));
        else send(answerWith(q, [{ type: "A", name, ttl: 1, data: "192.0.2.4" }]));
      }),
    );
    const r = track(resolverFor(`tcp://127.0.0.1:${server.port}`));
    const [bad, good] = await Promise.allSettled([ask(r, "bad.test", "A"), ask(r, "good.test", "A")]);
    expect(bad.status === "rejected" && String(bad.reason)).toContain("malformed reply");
    expect(good.status === "fulfilled" && good.value.data).toEqual(["A 192.0.2.4"]);
  });
});
