/**
 * `bun scripts/bench-transports.ts`: CPU cost of the TLS transport's two paths, on loopback, against
 * the nginx origin peer over HTTPS (a separate process, so only the client's TLS work is billed
 * here). Per round and path: download BENCH_SIZE (default 256M) of /big.bin and upload the same to
 * /sink; CPU is this process' user+system time (`process.cpuUsage()`), reported as seconds per
 * GiB, median over BENCH_ROUNDS (default 3) interleaved rounds. Paths:
 *   plain  - the same transfer without TLS (the floor),
 *   native - TLS upgraded in place on the Bun socket (`upgradeTLS`),
 *   node   - `node:tls` over our Duplex (what a stream through a dialer-proxy or a WebSocket gets).
 * Then the WebSocket framing alone (no network, so only the hand-written code is billed): BENCH_SIZE
 * of 64 KiB writes masked into client frames, and the same amount of server frames parsed.
 * Prints one JSON line on stdout; progress on stderr.
 */
import { connectTcp } from "../src/core/socket-stream.ts";
import type { Duplex } from "../src/sdk/index.ts";
import { TlsClient } from "../plugins/transport/tls/tls.ts";
import { WsStream } from "../plugins/transport/ws/ws.ts";
import { opaque } from "./lib/opaque.ts";
import { GiB, MiB, parseSize } from "./lib/payload.ts";
import { startPeer, stopAll } from "./peers.ts";

const SIZE = parseSize(process.env.BENCH_SIZE ?? "256M");
const ROUNDS = Math.min(Math.max(Number(process.env.BENCH_ROUNDS) || 3, 1), 20);
const note = (m: string) => console.error(`bench-transports: ${m}`);

/** Send `head`, then `body` bytes (one reused, never-modified 64 KiB chunk), and count what comes back until the peer closes. */
function exchange(s: Duplex, head: string, body: number, until: (received: number) => boolean): Promise<number> {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  let received = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("transfer timed out")), 120_000);
    s.onData = (c) => {
      received += c.length;
      if (until(received)) {
        clearTimeout(timer);
        s.close();
        resolve(received);
      }
    };
    s.onEnd = () => s.close();
    s.onClose = (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else if (left > 0) reject(new Error(`closed with ${left} of ${body} bytes unsent`));
      else resolve(received);
    };
    let left = body;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return;
      }
    };
    s.onDrain = pump;
    s.write(new TextEncoder().encode(head));
    pump();
  });
}

type Path = "plain" | "native" | "node";

/** A sink Duplex that takes every write and lets the bench push bytes at its reader. */
function nullDuplex(): Duplex {
  return {
    onData: undefined,
    onEnd: undefined,
    onDrain: undefined,
    onClose: undefined,
    closed: false,
    remoteAddress: "127.0.0.1",
    write: () => true,
    end() {},
    close() {},
    pause() {},
    resume() {},
  };
}

/** CPU s/GiB of the ws framing: masking writes and parsing server frames, over BENCH_SIZE each. */
async function wsFraming(): Promise<{ mask: number; parse: number }> {
  const inner = nullDuplex();
  const ws = new WsStream(inner, true);
  const opened = ws.handshake("GET / HTTP/1.1\r\n\r\n");
  const accept = new Bun.CryptoHasher("sha1").update(`${ws.key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  inner.onData?.(Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`));
  await opened;
  let received = 0;
  ws.onData = (c) => {
    received += c.length;
  };
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const n = Math.floor(SIZE / chunk.length);
  let before = process.cpuUsage();
  for (let i = 0; i < n; i++) ws.write(chunk);
  let used = process.cpuUsage(before);
  const mask = ((used.user + used.system) / 1e6) * (GiB / (n * chunk.length));
  // Server frames (unmasked, 64 KiB payload) arriving in 64 KiB reads that cut across frame headers.
  const frame = new Uint8Array(10 + chunk.length);
  frame.set([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  const stream = new Uint8Array(frame.length * 16);
  for (let i = 0; i < 16; i++) stream.set(frame, i * frame.length);
  const reads: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += chunk.length) reads.push(stream.subarray(at, Math.min(at + chunk.length, stream.length)));
  before = process.cpuUsage();
  for (let i = 0; i < n / 16; i++) for (const r of reads) inner.onData?.(r);
  used = process.cpuUsage(before);
  if (received !== (n / 16) * 16 * chunk.length) throw new Error(`ws parse: ${received} bytes delivered`);
  const parse = ((used.user + used.system) / 1e6) * (GiB / received);
  return { mask, parse };
}

async function main(): Promise<void> {
  const origin = await startPeer("origin", { tls: 1, big: `${Math.round(SIZE / MiB)}M` });
  const ca = await Bun.file(origin.info.ca!).text();
  const client = new TlsClient({ serverName: origin.info.sni!, ca: [ca] });
  const dial = async (path: Path): Promise<Duplex> => {
    if (path === "plain") return connectTcp(origin.host, origin.port);
    const s = await connectTcp(origin.host, origin.info.tlsPort!);
    return client.wrap(path === "native" ? s : opaque(s));
  };
  const host = `Host: ${origin.info.sni}\r\nConnection: close\r\n`;
  const paths: Path[] = ["plain", "native", "node"];
  const cpu: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < paths.length; i++) {
      const path = paths[(i + r) % paths.length]!;
      for (const dir of ["down", "up"] as const) {
        const s = await dial(path);
        const before = process.cpuUsage();
        const got =
          dir === "down"
            ? await exchange(s, `GET /big.bin HTTP/1.1\r\n${host}\r\n`, 0, (n) => n >= SIZE)
            : await exchange(s, `POST /sink HTTP/1.1\r\n${host}Content-Length: ${SIZE}\r\n\r\n`, SIZE, () => false);
        const used = process.cpuUsage(before);
        if (dir === "down" && got < SIZE) throw new Error(`${path} download: ${got} of ${SIZE} bytes`);
        const sPerGiB = ((used.user + used.system) / 1e6) * (GiB / SIZE);
        const key = `${path}_${dir}`;
        cpu[key] = [...(cpu[key] ?? []), sPerGiB];
        note(`round ${r + 1} ${path} ${dir}: ${sPerGiB.toFixed(3)} s/GiB`);
      }
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const result: Record<string, number> = { size_bytes: SIZE, rounds: ROUNDS };
  for (const [k, v] of Object.entries(cpu)) result[`tls_cpu_s_per_gib_${k}`] = Number(median(v).toFixed(3));
  const ws: { mask: number[]; parse: number[] } = { mask: [], parse: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const f = await wsFraming();
    ws.mask.push(f.mask);
    ws.parse.push(f.parse);
    note(`round ${r + 1} ws framing: mask ${f.mask.toFixed(3)} s/GiB, parse ${f.parse.toFixed(3)} s/GiB`);
  }
  result.ws_mask_cpu_s_per_gib = Number(median(ws.mask).toFixed(3));
  result.ws_parse_cpu_s_per_gib = Number(median(ws.parse).toFixed(3));
  console.log(JSON.stringify(result));
}

main()
  .catch((e: unknown) => {
    console.error(`bench-transports: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(stopAll);
