/**
 * SOCKS5 load tools for the bench, run as a child process so their CPU is not mixed with what is
 * measured. Each connection: connect -> SOCKS5 no-auth greeting -> CONNECT to an IPv4 target ->
 * 100 bytes out, the same 100 bytes back (the target is an echo server). With proxy "direct" the
 * SOCKS5 steps are left out (the baseline).
 *
 *   bun scripts/lib/socks-client.ts load PROXY|direct TARGET SECONDS CONCURRENCY
 *     CONCURRENCY loops of connection, exchange, close, for SECONDS; prints one JSON line:
 *     {"conns":N,"errors":N,"seconds":S,"p50Ms":x,"p99Ms":x,"firstError":"..."}
 *   bun scripts/lib/socks-client.ts hold PROXY TARGET COUNT CONCURRENCY
 *     opens COUNT connections and keeps them open (idle); prints {"held":N,"failed":N,"ms":T}
 *     once all were tried, then on SIGTERM (or after 10 minutes) {"dropped":N} and exits.
 *
 * PROXY and TARGET are IPv4 literals with a port (no name resolution).
 */
import type { Socket } from "bun";

interface Addr {
  host: string;
  port: number;
  bytes: number[];
}

function addr(s: string | undefined): Addr {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(s ?? "");
  if (!m) throw new Error(`want IPv4:PORT, got '${s}'`);
  const bytes = [m[1], m[2], m[3], m[4]].map(Number);
  const port = Number(m[5]);
  if (bytes.some((b) => b > 255) || port < 1 || port > 65535) throw new Error(`bad address '${s}'`);
  return { host: bytes.join("."), port, bytes };
}

const PAYLOAD = Buffer.alloc(100, 0x61);
const GREETING = Uint8Array.of(5, 1, 0);
const STEP_TIMEOUT_MS = 10_000;

/**
 * One connection through the proxy (or directly) up to the echoed payload. Resolves with the
 * open socket; `onClose` fires if it closes later.
 */
function exchange(proxy: Addr | undefined, target: Addr, onClose?: () => void): Promise<Socket> {
  const request = Uint8Array.of(5, 1, 0, 1, ...target.bytes, target.port >> 8, target.port & 255);
  const to = proxy ?? target;
  return new Promise<Socket>((resolve, reject) => {
    let phase = proxy ? 0 : 2;
    let buf = Buffer.alloc(0);
    let settled = false;
    let established = false;
    const fail = (why: string, s?: Socket) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s?.terminate();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail("timeout"), STEP_TIMEOUT_MS);
    Bun.connect({
      hostname: to.host,
      port: to.port,
      socket: {
        open(s) {
          s.write(proxy ? GREETING : PAYLOAD);
        },
        data(s, d) {
          buf = Buffer.concat([buf, d]);
          if (phase === 0 && buf.length >= 2) {
            if (buf[0] !== 5 || buf[1] !== 0) return fail(`greeting refused: ${buf[0]},${buf[1]}`, s);
            buf = buf.subarray(2);
            phase = 1;
            s.write(request);
          }
          if (phase === 1 && buf.length >= 5) {
            const atyp = buf[3];
            const len = atyp === 1 ? 10 : atyp === 4 ? 22 : 7 + (buf[4] ?? 0);
            if (buf.length < len) return;
            if (buf[1] !== 0) return fail(`CONNECT reply ${buf[1]}`, s);
            buf = buf.subarray(len);
            phase = 2;
            s.write(PAYLOAD);
          }
          if (phase === 2 && buf.length >= PAYLOAD.length) {
            if (!buf.subarray(0, PAYLOAD.length).equals(PAYLOAD)) return fail("echo mismatch", s);
            phase = 3;
            settled = true;
            established = true;
            clearTimeout(timer);
            resolve(s);
          }
        },
        close() {
          if (established) onClose?.();
          else fail(`closed in phase ${phase}`);
        },
        error(_s, e) {
          fail(e.message);
        },
        connectError(_s, e) {
          fail(e.message);
        },
      },
    }).catch((e: Error) => fail(e.message));
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function load(proxy: Addr | undefined, target: Addr, seconds: number, concurrency: number): Promise<void> {
  const lat = new Float64Array(2_000_000);
  let n = 0;
  let conns = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const s = await exchange(proxy, target);
        s.end();
        conns++;
        if (n < lat.length) lat[n++] = performance.now() - t0;
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        await Bun.sleep(5); // a refusing target must not turn this into a busy loop
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = lat.subarray(0, n).sort();
  console.log(
    JSON.stringify({ conns, errors, seconds: elapsed, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), firstError }),
  );
}

async function hold(proxy: Addr, target: Addr, count: number, concurrency: number): Promise<void> {
  const held: Socket[] = [];
  let next = 0;
  let failed = 0;
  let dropped = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const loop = async () => {
    while (next < count && performance.now() - start < 300_000) {
      next++;
      try {
        held.push(await exchange(proxy, target, () => dropped++));
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  console.log(JSON.stringify({ held: held.length, failed, ms: performance.now() - start, firstError }));
  const done = () => {
    console.log(JSON.stringify({ dropped }));
    process.exit(0);
  };
  process.on("SIGTERM", done);
  setTimeout(done, 600_000);
}

const [mode, p, t, a, b] = process.argv.slice(2);
const num = (s: string | undefined) => {
  const v = Number(s);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`want a positive integer, got '${s}'`);
  return v;
};
if (mode === "load") await load(p === "direct" ? undefined : addr(p), addr(t), num(a), num(b));
else if (mode === "hold") await hold(addr(p), addr(t), num(a), num(b));
else {
  console.error("usage: socks-client.ts load PROXY|direct TARGET SECONDS CONCURRENCY | hold PROXY TARGET COUNT CONCURRENCY");
  process.exit(2);
}
