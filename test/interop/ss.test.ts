/**
 * The ss outbound against shadowsocks-libev's ss-server (the reference C server), through ferry's
 * engine, for every AEAD cipher: clients (curl, a SOCKS5 client) talk to ferry's mixed listeners,
 * ferry dials ss-server, and ss-server reaches the harness origin and echo peers. Then the SIP003
 * plugins (simple-obfs http/tls, v2ray-plugin ws and ws+tls) and v2ray's shadowsocks inbound as a
 * second, independent server. Targets are IP literals: no resolver is involved.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { MiB, type Peer, payloadBytes } from "../../scripts/peers.ts";
import { SS_CIPHERS } from "../../scripts/peers/ss.ts";
import type { SocketStream } from "../../src/core/socket-stream.ts";
import { onLog } from "../../src/log.ts";
import { freePort, startRuntime } from "../helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";
import { socksConnect, socksUdp } from "./socks5-client.ts";

const BIG = 64 * MiB;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** curl with a time limit that fits a 64 MiB transfer; IP targets only. */
async function curl(args: string[]): Promise<{ code: number; body: Buffer; stderr: string }> {
  const sub = Bun.spawn(["curl", "-sS", "--max-time", "60", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [body, stderr, code] = await Promise.all([new Response(sub.stdout).arrayBuffer(), sub.stderr.text(), sub.exited]);
  return { code, body: Buffer.from(body), stderr };
}

/** Everything the stream delivers until it ends, closes or `until` bytes arrived; rejects after `ms`. */
function collect(stream: SocketStream, head: Uint8Array, ms: number, until = Number.POSITIVE_INFINITY) {
  return new Promise<{ bytes: number; hash: string; text: string; ended: boolean }>((resolve, reject) => {
    const hash = createHash("sha256").update(head);
    let bytes = head.length;
    let text = Buffer.from(head).toString("latin1").slice(0, 64);
    let finished = false;
    const done = (ended: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve({ bytes, hash: hash.digest("hex"), text, ended });
    };
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no end after ${ms} ms (${bytes} bytes received)`));
    }, ms);
    stream.onData = (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (text.length < 64) text += Buffer.from(chunk).toString("latin1").slice(0, 64 - text.length);
      if (bytes >= until) done(false);
    };
    stream.onEnd = () => done(true);
    stream.onClose = () => done(true);
    stream.resume();
  });
}

/**
 * A receiver in this process that hashes what arrives and answers with the digest once it has
 * BIG bytes. The socat echo peer is not used for bulk: its PIPE can block on itself under
 * full-duplex load.
 */
function hashingSink() {
  return Bun.listen<{ hash: ReturnType<typeof createHash>; bytes: number }>({
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

async function pingPong(port: number, echoPort: number, rounds = 5): Promise<string[]> {
  const { stream, head } = await socksConnect(port, "127.0.0.1", echoPort);
  expect(head.length).toBe(0);
  const got: string[] = [];
  let pending: ((s: string) => void) | undefined;
  stream.onData = (chunk) => pending?.(Buffer.from(chunk).toString());
  stream.resume();
  for (let i = 0; i < rounds; i++) {
    const reply = new Promise<string>((resolve) => {
      pending = resolve;
    });
    stream.write(Buffer.from(`ping ${i}\n`));
    got.push(await reply);
  }
  stream.close();
  return got;
}

const PINGS = ["ping 0\n", "ping 1\n", "ping 2\n", "ping 3\n", "ping 4\n"];

/**
 * UDP through ferry: three ping-pongs with the echo-udp peer, then 1,000 numbered datagrams with
 * at most 64 in flight. socat's echo may merge datagrams under load, so replies are scanned for
 * the numbers they carry; the count of distinct numbers back is returned (bounded by 10 s).
 */
async function udpRun(port: number, echoPort: number): Promise<{ pings: string[]; burst: number }> {
  const udp = await socksUdp(port);
  try {
    let waiter: ((s: string) => void) | undefined;
    const seen = new Set<number>();
    let finished: (() => void) | undefined;
    let sent = 0;
    let outstanding = 0;
    const sendNext = () => {
      while (sent < 1000 && outstanding < 64) {
        udp.send(Buffer.from(`burst ${String(sent++).padStart(6, "0")};`), "127.0.0.1", echoPort);
        outstanding++;
      }
    };
    udp.onPacket = (data, ip, port) => {
      const text = Buffer.from(data).toString();
      if (!text.startsWith("burst ")) return waiter?.(`${text} from ${ip}:${port}`);
      for (const m of text.matchAll(/burst (\d{6});/g)) {
        const n = Number(m[1]);
        if (!seen.has(n)) {
          seen.add(n);
          outstanding--;
        }
      }
      if (seen.size === 1000) finished?.();
      sendNext();
    };
    const pings: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = new Promise<string>((resolve, reject) => {
        waiter = resolve;
        setTimeout(() => reject(new Error(`no reply to UDP ping ${i} within 5 s`)), 5000);
      });
      udp.send(Buffer.from(`ping ${i}`), "127.0.0.1", echoPort);
      pings.push(await reply);
    }
    const done = new Promise<void>((resolve) => {
      finished = resolve;
      setTimeout(resolve, 10_000);
    });
    sendNext();
    await done;
    return { pings, burst: seen.size };
  } finally {
    udp.close();
  }
}

const ready = await peersReady("ss-server", "ss-server-obfs", "ss-server-v2ray", "v2ray-ss", "origin", "echo", "echo-udp", "curl");

describe.skipIf(!ready)("ss outbound against shadowsocks-libev's ss-server", () => {
  let origin: Peer<"origin">;
  let echo: Peer<"echo">;
  let echoUdp: Peer<"echo-udp">;
  const servers = new Map<string, Peer<"ss-server">>();
  let ferry: Awaited<ReturnType<typeof startRuntime>>;
  /** One mixed listener per proxy. */
  const ports = new Map<string, number>();
  const sink = hashingSink();

  beforeAll(async () => {
    [origin, echo, echoUdp] = await Promise.all([requirePeer("origin", { big: "64M" }), requirePeer("echo"), requirePeer("echo-udp")]);
    const started = await Promise.all(SS_CIPHERS.map((cipher) => requirePeer("ss-server", { cipher })));
    for (const [i, c] of SS_CIPHERS.entries()) servers.set(c, started[i]!);
    const proxies: string[] = [];
    for (const [cipher, s] of servers) {
      proxies.push(`  - {name: ${cipher}, type: ss, server: 127.0.0.1, port: ${s.port}, cipher: ${cipher}, password: ${s.info.password}, udp: true}`);
    }
    const aes = servers.get("aes-256-gcm")!;
    proxies.push(`  - {name: wrong-password, type: ss, server: 127.0.0.1, port: ${aes.port}, cipher: aes-256-gcm, password: not-the-password, udp: true}`);
    const names = [...SS_CIPHERS, "wrong-password"];
    for (const n of names) ports.set(n, freePort());
    ferry = await startRuntime(
      [
        `mixed-port: ${freePort()}`,
        "log-level: warning",
        "proxies:",
        ...proxies,
        "listeners:",
        ...names.map((n) => `  - {name: in-${n}, type: mixed, listen: 127.0.0.1, port: ${ports.get(n)}, proxy: ${n}}`),
        "rules:",
        "  - MATCH,aes-256-gcm",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    sink.stop(true);
    await ferry?.stop();
  });

  test("/proxies type and address", () => {
    const p = ferry.engine.outbounds.get("chacha20-ietf-poly1305")!;
    expect({ type: p.type, addr: p.addr, udp: p.supportsUdp }).toEqual({
      type: "Shadowsocks",
      addr: `127.0.0.1:${servers.get("chacha20-ietf-poly1305")!.port}`,
      udp: true,
    });
  });

  for (const cipher of SS_CIPHERS) {
    describe(cipher, () => {
      test("TCP ping-pong with the echo peer", async () => {
        expect(await pingPong(ports.get(cipher)!, echo.port)).toEqual(PINGS);
      });

      test("64 MiB download from the origin, sha256 checked", async () => {
        const r = await curl(["-x", `http://127.0.0.1:${ports.get(cipher)}`, origin.info.bigUrl!]);
        expect(r.stderr).toBe("");
        expect(r.body.length).toBe(BIG);
        expect(sha256(r.body)).toBe(sha256(payloadBytes(BIG)));
      }, 90_000);

      test("64 MiB upload, sha256 checked by the receiver", async () => {
        const data = payloadBytes(BIG);
        const { stream, head } = await socksConnect(ports.get(cipher)!, "127.0.0.1", sink.port);
        const reply = collect(stream, head, 60_000, 64);
        await writeAll(stream, data);
        const got = await reply;
        stream.close();
        expect(got.text).toBe(sha256(data));
      }, 90_000);

      test("UDP: ping-pong with the echo-udp peer, then 1,000 datagrams with 64 in flight", async () => {
        const r = await udpRun(ports.get(cipher)!, echoUdp.port);
        const from = `127.0.0.1:${echoUdp.port}`;
        expect(r.pings).toEqual([`ping 0 from ${from}`, `ping 1 from ${from}`, `ping 2 from ${from}`]);
        expect(r.burst).toBeGreaterThanOrEqual(990);
      }, 30_000);
    });
  }

  test("chacha20-ietf-poly1305 over the portable WASM backend (FERRY_CHACHA=wasm): ping-pong and 16 MiB, sha256 checked", async () => {
    const chacha = servers.get("chacha20-ietf-poly1305")!;
    const port = freePort();
    const saved = process.env.FERRY_CHACHA;
    process.env.FERRY_CHACHA = "wasm";
    const lines: string[] = [];
    const stop = onLog((e) => lines.push(e.payload));
    const portable = await startRuntime(
      [`mixed-port: ${port}`, "log-level: debug", "proxies:", `  - {name: w, type: ss, server: 127.0.0.1, port: ${chacha.port}, cipher: chacha20-ietf-poly1305, password: ${chacha.info.password}}`, "rules:", "  - MATCH,w"].join("\n"),
    );
    try {
      expect(await pingPong(port, echo.port)).toEqual(PINGS);
      expect(lines.find((l) => l.includes('"w": chacha20-ietf-poly1305 with'))).toContain("libsodium WASM");
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `${origin.info.url}16m.bin`]);
      expect(r.stderr).toBe("");
      expect(sha256(r.body)).toBe(sha256(payloadBytes(16 * MiB)));
    } finally {
      stop();
      if (saved === undefined) delete process.env.FERRY_CHACHA;
      else process.env.FERRY_CHACHA = saved;
      await portable.stop();
    }
  }, 30_000);

  test("a wrong password: ss-server refuses it without a word; closing the client frees both sides, ferry keeps serving", async () => {
    // ss-server logs the authentication error and then keeps reading and dropping on that
    // connection (so probes learn nothing), as mihomo's users see it too: no answer, no close.
    const aes = servers.get("aes-256-gcm")!;
    const logged = () => readFileSync(aes.log, "utf8").split("authentication error").length - 1;
    const before = logged();
    const open = () => [...ferry.runtime.tracker.connections()].filter((c) => c.chains[0] === "wrong-password").length;
    const { stream, head } = await socksConnect(ports.get("wrong-password")!, "127.0.0.1", echo.port);
    let received = head.length;
    let closed = false;
    stream.onData = (d) => {
      received += d.length;
    };
    stream.onClose = () => {
      closed = true;
    };
    stream.resume();
    stream.write(Buffer.from("ping\n"));
    for (let i = 0; i < 100 && logged() === before; i++) await Bun.sleep(50);
    expect({ refusedByServer: logged() > before, received, closed }).toEqual({ refusedByServer: true, received: 0, closed: false });
    expect(open()).toBe(1);
    stream.close();
    for (let i = 0; i < 100 && open() > 0; i++) await Bun.sleep(20);
    expect(open()).toBe(0);
    expect(await pingPong(ports.get("aes-256-gcm")!, echo.port)).toEqual(PINGS);
  }, 20_000);
});

describe.skipIf(!ready)("ss outbound with SIP003 plugins and against v2ray's shadowsocks inbound", () => {
  let origin: Peer<"origin">;
  let echo: Peer<"echo">;
  let echoUdp: Peer<"echo-udp">;
  let ferry: Awaited<ReturnType<typeof startRuntime>>;
  const ports = new Map<string, number>();
  const rows: { name: string; udp: boolean }[] = [];

  beforeAll(async () => {
    [origin, echo, echoUdp] = await Promise.all([requirePeer("origin", { big: "16M" }), requirePeer("echo"), requirePeer("echo-udp")]);
    const [obfsHttp, obfsTls, ws, wss, v2ray] = await Promise.all([
      requirePeer("ss-server-obfs", { cipher: "chacha20-ietf-poly1305", mode: "http" }),
      requirePeer("ss-server-obfs", { cipher: "aes-256-gcm", mode: "tls" }),
      requirePeer("ss-server-v2ray", { cipher: "chacha20-ietf-poly1305" }),
      requirePeer("ss-server-v2ray", { cipher: "aes-128-gcm", tls: 1 }),
      requirePeer("v2ray-ss", { cipher: "chacha20-ietf-poly1305" }),
    ]);
    const ss = (p: { port: number; info: { cipher: string; password: string } }) =>
      `type: ss, server: 127.0.0.1, port: ${p.port}, cipher: ${p.info.cipher}, password: ${p.info.password}`;
    const proxies = [
      `  - {name: obfs-http, ${ss(obfsHttp)}, plugin: obfs, plugin-opts: {mode: http, host: example.test}}`,
      `  - {name: obfs-tls, ${ss(obfsTls)}, plugin: obfs, plugin-opts: {mode: tls, host: example.test}}`,
      `  - {name: v2ray-ws, ${ss(ws)}, plugin: v2ray-plugin, plugin-opts: {mode: websocket, host: ${ws.info.host}, path: '${ws.info.wsPath}'}}`,
      `  - {name: v2ray-wss, ${ss(wss)}, plugin: v2ray-plugin, plugin-opts: {mode: websocket, tls: true, host: ${wss.info.host}, path: '${wss.info.wsPath}', fingerprint: '${wss.info.certSha256}'}}`,
      `  - {name: v2ray-ss-inbound, ${ss(v2ray)}, udp: true}`,
    ];
    rows.push({ name: "obfs-http", udp: false }, { name: "obfs-tls", udp: false }, { name: "v2ray-ws", udp: false }, { name: "v2ray-wss", udp: false }, { name: "v2ray-ss-inbound", udp: true });
    for (const r of rows) ports.set(r.name, freePort());
    ferry = await startRuntime(
      [
        `mixed-port: ${freePort()}`,
        "log-level: warning",
        "proxies:",
        ...proxies,
        "listeners:",
        ...rows.map((r) => `  - {name: in-${r.name}, type: mixed, listen: 127.0.0.1, port: ${ports.get(r.name)}, proxy: ${r.name}}`),
        "rules:",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  for (const name of ["obfs-http", "obfs-tls", "v2ray-ws", "v2ray-wss", "v2ray-ss-inbound"]) {
    test(`${name}: TCP ping-pong, and a 16 MiB download with sha256 checked`, async () => {
      const port = ports.get(name)!;
      expect(await pingPong(port, echo.port)).toEqual(PINGS);
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `${origin.info.url}16m.bin`]);
      expect(r.stderr).toBe("");
      expect(sha256(r.body)).toBe(sha256(payloadBytes(16 * MiB)));
      if (rows.find((x) => x.name === name)?.udp) {
        const u = await udpRun(port, echoUdp.port);
        expect(u.pings).toHaveLength(3);
        expect(u.burst).toBeGreaterThanOrEqual(990);
      }
    }, 60_000);
  }
});
