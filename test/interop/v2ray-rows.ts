/**
 * One interop "row" against a v2ray 4.34 server (scripts/peers/v2ray.ts): ferry runs a config
 * with the proxy under test and `MATCH,<proxy>`, and a SOCKS5 client drives ferry's mixed port
 * (the whole path: inbound, tunnel, outbound, transports). Per row:
 *   - TCP ping-pong with the echo peer;
 *   - 64 MiB download from the origin (sha256) and 64 MiB up to a sink in this process that
 *     answers with the count and sha256 of what it received;
 *   - UDP ping-pong and a burst of 1,000 datagrams with the UDP echo peer (rows with UDP);
 *   - the same server with a wrong uuid: the connection ends without a byte, ferry keeps serving.
 * Targets are IPs; the wrong-uuid proxy is chosen by a rule on 127.0.0.2 (the origin listens there too).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MiB, type Peer, payloadBytes } from "../../scripts/peers.ts";
import type { Duplex } from "../../src/sdk/index.ts";
import { freePort, startRuntime } from "../helpers.ts";
import { httpRequest, sha256, writeAll } from "../transport/helpers.ts";
import { requirePeer } from "./harness.ts";
import { socksConnect, socksUdp } from "./socks5-client.ts";

export const WRONG_UUID = "11111111-2222-4333-8444-555555555555";
const BIG = 64 * MiB;

export type V2rayServer = Peer<"v2ray-vmess"> | Peer<"v2ray-vless">;

export interface Row {
  title: string;
  /** Start the v2ray server of this row. */
  server(): Promise<V2rayServer>;
  /** The proxy entry's keys after `name` (YAML flow mapping without braces) for that server and uuid. */
  proxy(server: V2rayServer, uuid: string): string;
  udp: boolean;
}

export interface Targets {
  origin: Peer<"origin">;
  echo: Peer<"echo">;
  echoUdp: Peer<"echo-udp">;
  sink: { port: number };
}

/** A line of text from the stream (bounded). */
function readLine(s: Duplex, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reply line in time")), timeoutMs);
    let text = "";
    s.onData = (c) => {
      text += Buffer.from(c).toString("latin1");
      const i = text.indexOf("\n");
      if (i < 0) return;
      clearTimeout(timer);
      resolve(text.slice(0, i));
    };
    s.onClose = (err) => reject(err ?? new Error("closed before a reply line"));
  });
}

/**
 * A TCP sink that hashes what it receives and, once `size` bytes arrived, answers
 * "<bytes> <sha256>\n" (an echo would need a full-duplex relay; this checks the upload alone).
 */
function startHashSink(size: number): { port: number; stop(): void } {
  const server = Bun.listen<{ hasher: Bun.CryptoHasher; bytes: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock) {
        sock.data = { hasher: new Bun.CryptoHasher("sha256"), bytes: 0 };
      },
      data(sock, chunk) {
        const st = sock.data;
        st.hasher.update(chunk);
        st.bytes += chunk.length;
        if (st.bytes >= size) sock.end(`${st.bytes} ${st.hasher.digest("hex")}\n`);
      },
    },
  });
  return { port: server.port, stop: () => server.stop(true) };
}

/** A stream through ferry's SOCKS5 port to ip:port, resumed. */
async function through(mixedPort: number, ip: string, port: number): Promise<Duplex> {
  const { stream, head } = await socksConnect(mixedPort, ip, port);
  if (head.length > 0) throw new Error("unexpected bytes before the first request");
  stream.resume();
  return stream;
}

export function describeRow(row: Row, t: Targets): void {
  describe(row.title, () => {
    let mixedPort = 0;
    let stop: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const server = await row.server();
      mixedPort = freePort();
      const ferry = await startRuntime(
        [
          `mixed-port: ${mixedPort}`,
          "proxies:",
          `  - {name: under-test, ${row.proxy(server, server.info.uuid)}}`,
          `  - {name: wrong-uuid, ${row.proxy(server, WRONG_UUID)}}`,
          "rules:",
          "  - IP-CIDR,127.0.0.2/32,wrong-uuid,no-resolve",
          "  - MATCH,under-test",
        ].join("\n"),
      );
      stop = async () => {
        await ferry.stop();
        await server.stop();
      };
    }, 30_000);
    afterAll(() => stop?.());

    async function pingPong(): Promise<string> {
      const s = await through(mixedPort, "127.0.0.1", t.echo.port);
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
        s.onClose = (err) => reject(err ?? new Error("closed before the echo"));
      });
      s.write(Buffer.from("ping through ferry\n"));
      try {
        return await got;
      } finally {
        s.close();
      }
    }

    test("TCP ping-pong with the echo peer", async () => {
      expect(await pingPong()).toBe("ping through ferry\n");
    });

    test("64 MiB download from the origin, byte-exact", async () => {
      const r = await httpRequest(await through(mixedPort, "127.0.0.1", t.origin.port), { path: "/big.bin", host: "127.0.0.1" });
      expect(r.status).toBe(200);
      expect(r.bodyLength).toBe(BIG);
      expect(r.sha256).toBe(sha256(payloadBytes(BIG)));
    }, 60_000);

    test("64 MiB up to a hashing sink, byte-exact", async () => {
      const s = await through(mixedPort, "127.0.0.1", t.sink.port);
      const data = payloadBytes(BIG);
      const reply = readLine(s);
      writeAll(s, data, 64 * 1024);
      const line = await reply;
      s.close();
      expect(line).toBe(`${BIG} ${sha256(data)}`);
    }, 60_000);

    if (row.udp) {
      test("UDP ping-pong, a burst of 1,000 datagrams (count what comes back), ping-pong again", async () => {
        const u = await socksUdp(mixedPort);
        try {
          const seen = new Set<number>();
          const strangers: string[] = [];
          let pong: (() => void) | undefined;
          let all: (() => void) | undefined;
          u.onPacket = (d, ip, port) => {
            if (ip !== "127.0.0.1" || port !== t.echoUdp.port) strangers.push(`${ip}:${port}`);
            else if (Buffer.from(d).toString() === "udp ping") pong?.();
            else if (d.length % 512 === 0) {
              // socat's PIPE may join datagrams that reach it together (v2ray's own client sees
              // the same): a reply holds whole 512-byte records, each its id then 0x5a bytes.
              for (let at = 0; at < d.length; at += 512) {
                const record = Buffer.from(d.subarray(at, at + 512));
                if (record.subarray(4).every((b) => b === 0x5a)) seen.add(record.readUInt32BE(0));
                else strangers.push(`a damaged record at ${at} of ${d.length} bytes`);
              }
              if (seen.size === 1000) all?.();
            } else strangers.push(`${d.length} bytes of something else`);
          };
          const ping = () =>
            new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error("no UDP reply within 5 s")), 5_000);
              pong = () => {
                clearTimeout(timer);
                resolve();
              };
              u.send(Buffer.from("udp ping"), "127.0.0.1", t.echoUdp.port);
            });
          await ping();
          const settled = new Promise<void>((resolve) => {
            // Bounded: all came back, or 3 s after the burst.
            const timer = setTimeout(resolve, 3_000);
            all = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          for (let i = 0; i < 1000; i++) {
            const b = Buffer.alloc(512, 0x5a);
            b.writeUInt32BE(i, 0);
            u.send(b, "127.0.0.1", t.echoUdp.port);
          }
          await settled;
          console.log(`${row.title}: ${seen.size} of 1000 datagrams came back`);
          expect(strangers).toEqual([]);
          // The socat UDP echo peer itself answers only ~11% of an unpaced burst sent to it
          // directly (~9% through ferry's socks inbound with DIRECT, 11-21% through v2ray's own
          // client), so the floor is low; what matters is that replies are intact and the flow
          // still works after the burst.
          expect(seen.size).toBeGreaterThanOrEqual(50);
          await ping();
        } finally {
          u.close();
        }
      }, 20_000);
    }

    test("a wrong uuid: the connection ends without a byte, and ferry keeps serving", async () => {
      const s = await through(mixedPort, "127.0.0.2", t.origin.port);
      let received = 0;
      const ended = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("still open after 10 s")), 10_000);
        s.onData = (c) => {
          received += c.length;
        };
        s.onEnd = () => s.close();
        s.onClose = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      // v2ray answers a bad header by reading a seed-dependent 54-3266 more bytes before it
      // closes (anti-probing), so send more than that.
      s.write(Buffer.concat([Buffer.from("POST /sink HTTP/1.1\r\nHost: 127.0.0.2\r\nContent-Length: 4096\r\n\r\n"), Buffer.alloc(4096, 0x61)]));
      await ended;
      expect(received).toBe(0);
      expect(await pingPong()).toBe("ping through ferry\n");
    }, 20_000);
  });
}

/** The peers and the sink every row uses; started once per file, stopped after it. */
export async function startTargets(): Promise<Targets> {
  const [origin, echo, echoUdp] = await Promise.all([requirePeer("origin", { big: "64M" }), requirePeer("echo"), requirePeer("echo-udp")]);
  const sink = startHashSink(BIG);
  afterAll(() => sink.stop());
  return { origin, echo, echoUdp, sink };
}
