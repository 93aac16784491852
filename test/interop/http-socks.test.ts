/**
 * The http and socks5 outbounds against real servers from the peer harness: microsocks (SOCKS5,
 * RFC 1929 auth), dante (SOCKS5 with UDP ASSOCIATE), tinyproxy (HTTP CONNECT, Basic auth); the
 * nginx origin and socat echo peers as destinations. Outbounds are built by the engine from a
 * config (so schemas, `dialer-proxy` and the engine's dialer are the real ones), then driven
 * directly for byte-exact transfers, and once end to end with curl through ferry's mixed port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MiB, PAYLOAD_SHA256, payloadBytes } from "../../scripts/peers.ts";
import { createMetadata, type Duplex, type Outbound, type Packet, type PacketConn } from "../../src/sdk/index.ts";
import { curl, freePort, startRuntime } from "../helpers.ts";
import { httpRequest, sha256 } from "../transport/helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";

const ready = await peersReady("origin", "echo", "echo-udp", "microsocks", "dante", "tinyproxy", "tls-front", "curl");

const BIG = 64 * MiB;

describe.skipIf(!ready)("http and socks5 outbounds against real peers", async () => {
  if (!ready) return;
  const [origin, echo, echoUdp, socks, socksAuth, dante, tiny, tinyAuth] = await Promise.all([
    requirePeer("origin", { big: "64M" }),
    requirePeer("echo"),
    requirePeer("echo-udp"),
    requirePeer("microsocks"),
    requirePeer("microsocks", { user: "alice", pass: "s3cret" }),
    requirePeer("dante"),
    requirePeer("tinyproxy"),
    requirePeer("tinyproxy", { user: "bob", pass: "hunter2" }),
  ]);
  // TLS fronts (socat + a throwaway CA): an HTTPS proxy and SOCKS5 over TLS.
  const [httpsFront, socksTlsFront] = await Promise.all([
    requirePeer("tls-front", { upstream: tiny.port }),
    requirePeer("tls-front", { upstream: socks.port }),
  ]);
  const mixedPort = freePort();
  const proxy = (name: string, type: string, port: number, extra = "") => `  - {name: ${name}, type: ${type}, server: 127.0.0.1, port: ${port}${extra}}`;
  const ferry = await startRuntime(
    [
      `mixed-port: ${mixedPort}`,
      "proxies:",
      proxy("up", "socks5", socks.port),
      proxy("socks-auth", "socks5", socksAuth.port, ", username: alice, password: s3cret"),
      proxy("socks-wrong", "socks5", socksAuth.port, ", username: alice, password: nope"),
      proxy("socks-nocreds", "socks5", socksAuth.port),
      proxy("dante", "socks5", dante.port, ", udp: true"),
      proxy("http", "http", tiny.port),
      proxy("http-auth", "http", tinyAuth.port, ", username: bob, password: hunter2, headers: {X-Ferry: test}"),
      proxy("http-wrong", "http", tinyAuth.port, ", username: bob, password: wrong"),
      proxy("http-nocreds", "http", tinyAuth.port),
      proxy("http-via-socks", "http", tinyAuth.port, ", username: bob, password: hunter2, dialer-proxy: socks-auth"),
      proxy("http-via-bad-socks", "http", tiny.port, ", dialer-proxy: socks-wrong"),
      proxy("https", "http", httpsFront.port, `, tls: true, sni: example.test, fingerprint: "${httpsFront.info.certSha256}"`),
      proxy("https-unverified", "http", httpsFront.port, ", tls: true, sni: example.test"),
      proxy("socks-tls", "socks5", socksTlsFront.port, ", tls: true, skip-cert-verify: true"),
      proxy("socks-tls-badpin", "socks5", socksTlsFront.port, `, tls: true, fingerprint: "${"00".repeat(32)}"`),
      "rules:",
      "  - MATCH,up",
    ].join("\n"),
  );
  afterAll(() => ferry.stop());

  const out = (name: string): Outbound => {
    const o = ferry.engine.outbounds.get(name);
    if (!o) throw new Error(`no outbound ${name}`);
    return o;
  };
  const dial = (name: string, host: string, port: number): Promise<Duplex> => {
    const ip = host === "localhost" ? "" : host;
    return out(name).dialTcp(createMetadata({ network: "tcp", type: "Inner", host: ip ? "" : host, destinationIP: ip, destinationPort: port }));
  };
  const expected = sha256(payloadBytes(BIG));

  /** Write a line to the echo peer and read it back. */
  async function pingPong(s: Duplex): Promise<string> {
    const got = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("echo timed out")), 5_000);
      let text = "";
      s.onData = (c) => {
        text += Buffer.from(c).toString();
        if (text.endsWith("\n")) {
          clearTimeout(timer);
          resolve(text);
        }
      };
    });
    s.write(Buffer.from("ping through ferry\n"));
    const text = await got;
    s.close();
    return text;
  }

  for (const name of ["up", "socks-auth", "dante", "http", "http-auth", "http-via-socks", "https", "socks-tls"]) {
    describe(name, () => {
      test("TCP ping-pong with the echo peer", async () => {
        expect(await pingPong(await dial(name, "127.0.0.1", echo.port))).toBe("ping through ferry\n");
      });

      test("64 MiB download and 64 MiB upload through it, byte-exact", async () => {
        const down = await httpRequest(await dial(name, "127.0.0.1", origin.port), { path: "/big.bin", host: "127.0.0.1" });
        expect(down.status).toBe(200);
        expect(down.bodyLength).toBe(BIG);
        expect(down.sha256).toBe(expected);
        const up = await httpRequest(await dial(name, "127.0.0.1", origin.port), { method: "POST", path: "/sink", host: "127.0.0.1", upload: payloadBytes(BIG) });
        expect(up.status).toBe(200);
        expect(up.text).toBe("ok\n");
      }, 60_000);
    });
  }

  test("socks5 CONNECT with a domain name (the server resolves it)", async () => {
    const r = await httpRequest(await dial("up", "localhost", origin.port), { path: "/hello.txt", host: "localhost" });
    expect(r.text).toBe("hello from the ferry peer origin\n");
  });

  test("socks5 with a wrong password fails cleanly", async () => {
    await expect(dial("socks-wrong", "127.0.0.1", echo.port)).rejects.toThrow(`socks5 127.0.0.1:${socksAuth.port}: username/password rejected`);
  });

  test("socks5 without credentials against a server that requires them fails cleanly", async () => {
    await expect(dial("socks-nocreds", "127.0.0.1", echo.port)).rejects.toThrow(`socks5 127.0.0.1:${socksAuth.port}: no acceptable authentication method`);
  });

  test("socks5 to a refused destination fails naming the proxy", async () => {
    const closed = freePort();
    // dante sends its failure reply and resets the connection; the reset may win the race.
    await expect(dial("dante", "127.0.0.1", closed)).rejects.toThrow(/socks5 127\.0\.0\.1:\d+: (connection refused|general SOCKS server failure|host unreachable|ECONNRESET)/);
  });

  test("http without credentials fails with the proxy's 407 status line", async () => {
    await expect(dial("http-nocreds", "127.0.0.1", echo.port)).rejects.toThrow(`http proxy 127.0.0.1:${tinyAuth.port}: 407 Proxy Authentication Required`);
  });

  test("http with a wrong password fails with the proxy's status line (tinyproxy answers 401)", async () => {
    await expect(dial("http-wrong", "127.0.0.1", echo.port)).rejects.toThrow(`http proxy 127.0.0.1:${tinyAuth.port}: 401 Unauthorized`);
  });

  test("dialer-proxy: a failing dialer proxy is named in the error", async () => {
    await expect(dial("http-via-bad-socks", "127.0.0.1", echo.port)).rejects.toThrow(/via dialer-proxy "socks-wrong": .*username\/password rejected/);
  });

  test("http over TLS without a trusted CA or pin is refused by certificate verification", async () => {
    await expect(dial("https-unverified", "127.0.0.1", echo.port)).rejects.toThrow(/TLS example\.test: .*cert/i);
  });

  test("socks5 over TLS with a wrong pin fails naming both fingerprints", async () => {
    await expect(dial("socks-tls-badpin", "127.0.0.1", echo.port)).rejects.toThrow(`expected ${"00".repeat(32)}, got ${socksTlsFront.info.certSha256}`);
  });

  test("the /proxies type names are mihomo's", () => {
    expect(out("up").type).toBe("Socks5");
    expect(out("http").type).toBe("Http");
    expect(out("http").supportsUdp).toBe(false);
    expect(out("dante").supportsUdp).toBe(true);
    expect(out("up").supportsUdp).toBe(false);
  });

  describe("socks5 UDP ASSOCIATE through dante to the UDP echo peer", () => {
    async function associate(): Promise<PacketConn> {
      const o = out("dante");
      return o.dialUdp!(createMetadata({ network: "udp", type: "Inner", destinationIP: "127.0.0.1", destinationPort: echoUdp.port }));
    }

    test("ping-pong", async () => {
      const pc = await associate();
      try {
        const reply = new Promise<Packet>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no UDP reply within 5 s")), 5_000);
          pc.onPacket = (p) => {
            clearTimeout(timer);
            resolve(p);
          };
        });
        pc.send({ data: Buffer.from("udp ping"), host: "127.0.0.1", port: echoUdp.port });
        const p = await reply;
        expect(Buffer.from(p.data).toString()).toBe("udp ping");
        expect(p.host).toBe("127.0.0.1");
        expect(p.port).toBe(echoUdp.port);
      } finally {
        pc.close();
      }
    });

    test("1,000 datagrams in bursts of 100: count what comes back", async () => {
      // socat's UDP echo answers through a pipe, so datagrams that queue up come back merged:
      // count 512-byte units, each tagged with its sequence number. Each burst waits (bounded)
      // for its echoes before the next goes out, so the count measures the relay, not buffers.
      const pc = await associate();
      try {
        const N = 1000;
        const BURST = 100;
        const UNIT = 512;
        const seen = new Set<number>();
        let malformed = 0;
        let wake: (() => void) | undefined;
        pc.onPacket = (p) => {
          if (p.data.length % UNIT !== 0) malformed++;
          const b = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length);
          for (let at = 0; at + UNIT <= b.length; at += UNIT) seen.add(b.readUInt32BE(at));
          wake?.();
        };
        for (let sent = 0; sent < N; sent += BURST) {
          const target = sent + BURST;
          const settled = new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1_000);
            wake = () => {
              if (seen.size < target) return;
              clearTimeout(timer);
              resolve();
            };
          });
          for (let i = sent; i < target; i++) {
            const b = Buffer.alloc(UNIT);
            b.writeUInt32BE(i, 0);
            pc.send({ data: b, host: "127.0.0.1", port: echoUdp.port });
          }
          await settled;
        }
        console.log(`socks5 UDP via dante: ${seen.size} of ${N} datagrams came back`);
        expect(malformed).toBe(0);
        expect([...seen].every((i) => i >= 0 && i < N)).toBe(true);
        expect(seen.size).toBeGreaterThanOrEqual(N * 0.9);
      } finally {
        pc.close();
      }
    }, 20_000);

    test("closing the association closes the TCP control connection and the socket", async () => {
      const pc = await associate();
      let closedWith: string | undefined;
      pc.onClose = (err) => {
        closedWith = err?.message ?? "clean";
      };
      pc.close();
      expect(pc.closed).toBe(true);
      expect(closedWith).toBe("clean");
    });
  });

  describe("end to end with curl through ferry's mixed port", () => {
    test("rules: [MATCH,up] sends curl's request through microsocks", async () => {
      const r = await curl(["-x", `http://127.0.0.1:${mixedPort}`, `http://127.0.0.1:${origin.port}/hello.txt`]);
      expect(r.stdout).toBe("hello from the ferry peer origin\n");
      const viaSocks = await curl(["--socks5-hostname", `127.0.0.1:${mixedPort}`, `http://localhost:${origin.port}/hello.txt`]);
      expect(viaSocks.stdout).toBe("hello from the ferry peer origin\n");
    });

    test("through an HTTPS proxy and SOCKS5 over TLS: 16 MiB byte-exact", async () => {
      for (const target of ["https", "socks-tls"]) {
        const port = freePort();
        const config = [`mixed-port: ${port}`, "proxies:"];
        if (target === "https") config.push(proxy("https", "http", httpsFront.port, `, tls: true, sni: example.test, fingerprint: "${httpsFront.info.certSha256}"`));
        else config.push(proxy("socks-tls", "socks5", socksTlsFront.port, ", tls: true, skip-cert-verify: true"));
        const f = await startRuntime([...config, "rules:", `  - MATCH,${target}`].join("\n"));
        try {
          const file = join(f.home, "16m.bin");
          const r = await curl(["-x", `http://127.0.0.1:${port}`, "-o", file, `http://127.0.0.1:${origin.port}/16m.bin`]);
          expect(r.stderr).toBe("");
          expect(sha256(await Bun.file(file).bytes())).toBe(PAYLOAD_SHA256[16 * MiB]!);
        } finally {
          await f.stop();
        }
      }
    });

    test("with microsocks stopped the same request fails: the bytes really went through it", async () => {
      const lone = await requirePeer("microsocks");
      const port = freePort();
      const f = await startRuntime(`mixed-port: ${port}\nproxies:\n${proxy("up", "socks5", lone.port)}\nrules:\n  - MATCH,up\n`);
      try {
        const ok = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello.txt`]);
        expect(ok.stdout).toBe("hello from the ferry peer origin\n");
        await lone.stop();
        const bad = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello.txt`]);
        expect(bad.stdout).not.toContain("hello");
      } finally {
        await f.stop();
      }
    });
  });
});
