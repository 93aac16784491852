/**
 * The trojan outbound against trojan-gfw (the reference server) and v2ray's trojan inbound (tcp
 * and WebSocket), through ferry's engine: clients (curl, a SOCKS5 client) talk to ferry's mixed
 * port, ferry dials the server, and the server reaches the harness origin and echo peers (and, for
 * bulk upload and the UDP burst, receivers in this process). Targets are IP literals: no resolver
 * is involved.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MiB, type Peer, type PeerName, payloadBytes } from "../../scripts/peers.ts";
import type { SocketStream } from "../../src/core/socket-stream.ts";
import { onLog } from "../../src/log.ts";
import { freePort, startRuntime } from "../helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";
import { socksConnect, socksUdp } from "./socks5-client.ts";

const BIG = 64 * MiB;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** curl with a time limit that fits a 64 MiB transfer; never through the system resolver (IP targets). */
async function curl(args: string[]): Promise<{ code: number; body: Buffer; stderr: string }> {
  const sub = Bun.spawn(["curl", "-sS", "--max-time", "60", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [body, stderr, code] = await Promise.all([new Response(sub.stdout).arrayBuffer(), sub.stderr.text(), sub.exited]);
  return { code, body: Buffer.from(body), stderr };
}

/**
 * What the stream delivers (the first 64 bytes as text, and the count) until it ends or closes, or
 * `until` bytes arrived; rejects after `ms`.
 */
function collect(stream: SocketStream, head: Uint8Array, ms: number, until = Number.POSITIVE_INFINITY) {
  return new Promise<{ bytes: number; text: string; ended: boolean }>((resolve, reject) => {
    let bytes = head.length;
    let text = Buffer.from(head).toString("latin1").slice(0, 64);
    let finished = false;
    const done = (ended: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve({ bytes, text, ended });
    };
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no end after ${ms} ms (${bytes} bytes received)`));
    }, ms);
    stream.onData = (chunk) => {
      bytes += chunk.length;
      if (text.length < 64) text += Buffer.from(chunk).toString("latin1").slice(0, 64 - text.length);
      if (bytes >= until) done(false);
    };
    stream.onEnd = () => done(true);
    stream.onClose = () => done(true);
    stream.resume();
  });
}

/** Write `data` in 64 KiB pieces, waiting for drain whenever the stream queues. */
async function writeAll(stream: SocketStream, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length; at += 64 * 1024) {
    if (!stream.write(data.subarray(at, at + 64 * 1024))) {
      await new Promise<void>((resolve) => {
        stream.onDrain = resolve;
      });
    }
  }
}

const ready = await peersReady("trojan", "v2ray-trojan", "origin", "echo", "echo-udp", "curl");

let origin: Peer<"origin">;
let echo: Peer<"echo">;
let echoUdp: Peer<"echo-udp">;
beforeAll(async () => {
  if (!ready) return;
  [origin, echo, echoUdp] = await Promise.all([requirePeer("origin", { big: "64M" }), requirePeer("echo"), requirePeer("echo-udp")]);
});

/** What a suite needs to know about the trojan server under test. */
interface Server {
  port: number;
  password: string;
  sni: string;
  certSha256: string;
  /** Extra YAML keys of the proxy entry (transport). */
  extra: string;
}

/**
 * The interop checks every trojan server gets, each node behind its own mixed listener: `good`
 * pins the certificate, `insecure` and `wrong-password` skip checks, `unknown-ca` verifies against
 * the system roots, `wrong-pin` pins another certificate.
 */
function suite(label: string, start: () => Promise<Server>) {
  describe.skipIf(!ready)(label, () => {
    let ferry: Awaited<ReturnType<typeof startRuntime>>;
    let server: Server;
    const ports = new Map<string, number>();
    const mixed = () => ports.get("mixed")!;

    beforeAll(async () => {
      server = await start();
      for (const k of ["mixed", "wrong-password", "insecure", "unknown-ca", "wrong-pin"]) ports.set(k, freePort());
      const base = `type: trojan, server: 127.0.0.1, port: ${server.port}, sni: ${server.sni}, udp: true${server.extra ? `, ${server.extra}` : ""}`;
      const config = [
        `mixed-port: ${mixed()}`,
        "proxies:",
        `  - {name: good, ${base}, password: ${server.password}, fingerprint: '${server.certSha256}'}`,
        `  - {name: wrong-password, ${base}, password: not-the-password, skip-cert-verify: true}`,
        `  - {name: insecure, ${base}, password: ${server.password}, skip-cert-verify: true}`,
        `  - {name: unknown-ca, ${base}, password: ${server.password}}`,
        `  - {name: wrong-pin, ${base}, password: ${server.password}, fingerprint: '${"ab".repeat(32)}'}`,
        "listeners:",
        ...["wrong-password", "insecure", "unknown-ca", "wrong-pin"].map(
          (n) => `  - {name: ${n}, type: mixed, listen: 127.0.0.1, port: ${ports.get(n)}, proxy: ${n}}`,
        ),
        "rules:",
        "  - MATCH,good",
      ].join("\n");
      ferry = await startRuntime(config);
    });

    afterAll(async () => {
      await ferry?.stop();
    });

    test("/proxies type and address", () => {
      const good = ferry.engine.outbounds.get("good")!;
      expect({ type: good.type, addr: good.addr, udp: good.supportsUdp }).toEqual({ type: "Trojan", addr: `127.0.0.1:${server.port}`, udp: true });
    });

    test("TCP ping-pong to the echo peer (certificate pinned by fingerprint)", async () => {
      const { stream, head } = await socksConnect(mixed(), "127.0.0.1", echo.port);
      const got: string[] = [];
      let pending: ((s: string) => void) | undefined;
      stream.onData = (chunk) => pending?.(Buffer.from(chunk).toString());
      stream.resume();
      expect(head.length).toBe(0);
      for (let i = 0; i < 5; i++) {
        const reply = new Promise<string>((resolve) => {
          pending = resolve;
        });
        stream.write(Buffer.from(`ping ${i}\n`));
        got.push(await reply);
      }
      stream.close();
      expect(got).toEqual(["ping 0\n", "ping 1\n", "ping 2\n", "ping 3\n", "ping 4\n"]);
    });

    test("HTTP with skip-cert-verify: curl via ferry's HTTP proxy and SOCKS5", async () => {
      const url = `${origin.info.url}hello.txt`;
      const port = ports.get("insecure");
      for (const args of [["-x", `http://127.0.0.1:${port}`], ["--socks5", `127.0.0.1:${port}`]]) {
        const r = await curl([...args, url]);
        expect({ args, stderr: r.stderr, body: r.body.toString() }).toEqual({ args, stderr: "", body: "hello from the ferry peer origin\n" });
      }
    });

    test("64 MiB download from the origin, sha256 checked", async () => {
      const r = await curl(["-x", `http://127.0.0.1:${mixed()}`, origin.info.bigUrl!]);
      expect(r.stderr).toBe("");
      expect(r.body.length).toBe(BIG);
      expect(sha256(r.body)).toBe(sha256(payloadBytes(BIG)));
    }, 90_000);

    test("64 MiB upload, sha256 checked by the receiver", async () => {
      // The receiver hashes what arrives and answers with the digest once it has BIG bytes
      // (trojan-gfw closes both ways on a half-close, so the count, not EOF, ends the upload).
      // The socat echo peer is not used for bulk: its PIPE can block on itself under full-duplex load.
      const sink = Bun.listen<{ hash: ReturnType<typeof createHash>; bytes: number }>({
        hostname: "127.0.0.1",
        port: 0,
        socket: {
          open(s) {
            s.data = { hash: createHash("sha256"), bytes: 0 };
          },
          data(s, chunk) {
            s.data.hash.update(chunk);
            s.data.bytes += chunk.length;
            if (s.data.bytes === BIG) s.write(s.data.hash.digest("hex"));
          },
        },
      });
      try {
        const data = payloadBytes(BIG);
        const { stream, head } = await socksConnect(mixed(), "127.0.0.1", sink.port);
        const reply = collect(stream, head, 60_000, 64);
        await writeAll(stream, data);
        const got = await reply;
        stream.close();
        expect(got.text).toBe(sha256(data));
      } finally {
        sink.stop(true);
      }
    }, 90_000);

    test("UDP: ping-pong with the echo peer, then 1,000 datagrams with 64 in flight", async () => {
      const udp = await socksUdp(mixed());
      // The burst goes to an echo in this process: the socat echo peer pipes datagrams through a
      // byte stream and merges them under load, so it cannot show that boundaries are kept; and
      // more than ~200 outstanding overflow socket buffers even without ferry (282 of 1,000 came
      // back from socat directly).
      const echo2 = await Bun.udpSocket({
        hostname: "127.0.0.1",
        socket: {
          data(s, d, port, address) {
            s.send(d, port, address);
          },
        },
      });
      try {
        let waiter: ((s: string) => void) | undefined;
        const seen = new Set<number>();
        let finished: (() => void) | undefined;
        let sent = 0;
        const sendNext = () => {
          if (sent < 1000) udp.send(Buffer.from(`burst ${String(sent++).padStart(6, "0")} ${"x".repeat(100)}`), "127.0.0.1", echo2.port);
        };
        udp.onPacket = (data, ip, port) => {
          const text = Buffer.from(data).toString();
          if (!text.startsWith("burst ")) return waiter?.(`${text} from ${ip}:${port}`);
          expect({ from: `${ip}:${port}`, length: data.length }).toEqual({ from: `127.0.0.1:${echo2.port}`, length: 113 });
          seen.add(Number(text.slice(6, 12)));
          if (seen.size === 1000) finished?.();
          sendNext();
        };
        for (let i = 0; i < 3; i++) {
          const reply = new Promise<string>((resolve) => {
            waiter = resolve;
          });
          udp.send(Buffer.from(`ping ${i}`), "127.0.0.1", echoUdp.port);
          expect(await reply).toBe(`ping ${i} from 127.0.0.1:${echoUdp.port}`);
        }
        const done = new Promise<void>((resolve) => {
          finished = resolve;
          setTimeout(resolve, 10_000);
        });
        for (let i = 0; i < 64; i++) sendNext();
        await done;
        expect(seen.size).toBe(1000);
      } finally {
        udp.close();
        echo2.close();
      }
    }, 30_000);

    test("a wrong password: the server refuses it, and the client sees a clean, bounded close", async () => {
      // trojan has no reply to wait for, so the dial succeeds; the server then drops the request
      // (trojan-gfw via its fallback port 9, refused). The client connection through ferry must
      // end promptly with nothing received, and an HTTP client gets a 502.
      const started = Date.now();
      const port = ports.get("wrong-password")!;
      const { stream, head } = await socksConnect(port, "127.0.0.1", echo.port);
      const result = collect(stream, head, 10_000);
      stream.write(Buffer.from("ping\n"));
      const got = await result;
      expect({ bytes: got.bytes, ended: got.ended }).toEqual({ bytes: 0, ended: true });
      const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", "-x", `http://127.0.0.1:${port}`, `${origin.info.url}hello.txt`]);
      expect(r.body.toString()).toBe("502");
      expect(Date.now() - started).toBeLessThan(10_000);
    }, 20_000);

    test("certificate checks: an unknown CA and a wrong pin fail the dial, and the log says why", async () => {
      const lines: string[] = [];
      const stop = onLog((e) => lines.push(e.payload));
      try {
        for (const name of ["unknown-ca", "wrong-pin"]) {
          const started = Date.now();
          const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", "-x", `http://127.0.0.1:${ports.get(name)}`, `${origin.info.url}hello.txt`]);
          expect(r.body.toString()).toBe("502");
          expect(Date.now() - started).toBeLessThan(10_000);
          const line = lines.find((l) => l.includes(`dial ${name} `));
          expect(line).toContain(`trojan 127.0.0.1:${server.port}: TLS ${server.sni}: `);
        }
      } finally {
        stop();
      }
    }, 30_000);
  });
}

async function fromPeer<N extends PeerName & ("trojan" | "v2ray-trojan")>(name: N, params: Parameters<typeof requirePeer<N>>[1], extra = ""): Promise<Server> {
  const p = await requirePeer(name, params);
  return { port: p.port, password: p.info.password, sni: p.info.sni, certSha256: p.info.certSha256, extra };
}

suite("trojan outbound against trojan-gfw", () => fromPeer("trojan", {}));
suite("trojan outbound against v2ray's trojan inbound (tcp)", () => fromPeer("v2ray-trojan", {}));
suite("trojan outbound against v2ray's trojan inbound (ws)", () =>
  fromPeer("v2ray-trojan", { net: "ws", path: "/trojan-ws" }, "network: ws, ws-opts: {path: /trojan-ws}"),
);
