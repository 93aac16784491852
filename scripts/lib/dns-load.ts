/**
 * DNS load over UDP for the bench: compare ferry's DNS listener with dnsmasq. `concurrency`
 * workers, each with its own connected socket and one query in flight, send `count` queries in all
 * (names taken in turn), each bounded by `timeoutMs`, the whole run by `maxMs`.
 *
 *   bun scripts/lib/dns-load.ts HOST:PORT [--names a.test,b.test] [--qtype A] [--count 100000]
 *                                         [--concurrency 64] [--timeout 2000] [--max 60000]
 *
 * prints the result as JSON. An error is a query without an answer in time, or an answer that is
 * not NOERROR/NXDOMAIN.
 */
import { buildQuery, encodeMessage } from "../../src/dns/message.ts";

export interface DnsLoadOptions {
  host: string;
  port: number;
  names: string[];
  /** Query type name (A, AAAA, TXT, …); default A. */
  qtype?: string;
  concurrency?: number;
  count: number;
  /** Per query; default 2000. */
  timeoutMs?: number;
  /** The whole run; default 60 s. */
  maxMs?: number;
}

export interface DnsLoadResult {
  /** Answered queries per second of wall time. */
  qps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  answered: number;
  elapsedMs: number;
}

export async function dnsLoad(o: DnsLoadOptions): Promise<DnsLoadResult> {
  if (o.names.length === 0) throw new Error("dns-load: no names");
  const timeoutMs = o.timeoutMs ?? 2000;
  const deadline = performance.now() + (o.maxMs ?? 60_000);
  // No EDNS: the plain queries a stub resolver sends.
  const queries = o.names.map((n) => encodeMessage(buildQuery(n, (o.qtype ?? "A") as Parameters<typeof buildQuery>[1], { ednsSize: 0 })));
  const latencies = new Float64Array(o.count);
  let answered = 0;
  let errors = 0;
  let issued = 0;

  async function worker(): Promise<void> {
    let waiting: ((reply: Uint8Array | undefined) => void) | undefined;
    let wantId = -1;
    const socket = await Bun.udpSocket({
      binaryType: "uint8array",
      connect: { hostname: o.host, port: o.port },
      socket: {
        data(_s, data) {
          if (data.length >= 4 && ((data[0]! << 8) | data[1]!) === wantId) waiting?.(data);
        },
        // A refused port (ICMP unreachable) surfaces here; the query then times out and counts as an error.
        error() {},
      },
    });
    try {
      while (issued < o.count && performance.now() < deadline) {
        const q = new Uint8Array(queries[issued % queries.length]!);
        issued++;
        wantId = (Math.random() * 0x10000) | 0;
        q[0] = wantId >> 8;
        q[1] = wantId & 0xff;
        const t0 = performance.now();
        const reply = await new Promise<Uint8Array | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), timeoutMs);
          waiting = (r) => {
            clearTimeout(timer);
            resolve(r);
          };
          socket.send(q);
        });
        waiting = undefined;
        const rcode = reply ? reply[3]! & 0x0f : -1;
        if (rcode === 0 || rcode === 3) latencies[answered++] = performance.now() - t0;
        else errors++;
      }
    } finally {
      socket.close();
    }
  }

  const start = performance.now();
  await Promise.all(Array.from({ length: o.concurrency ?? 64 }, worker));
  const elapsedMs = performance.now() - start;
  const sorted = latencies.subarray(0, answered).sort();
  const at = (p: number) => (answered === 0 ? 0 : sorted[Math.min(answered - 1, Math.floor(p * answered))]!);
  return { qps: Math.round((answered / elapsedMs) * 1000), p50Ms: at(0.5), p99Ms: at(0.99), errors, answered, elapsedMs };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const target = args[0] ?? "";
  const colon = target.lastIndexOf(":");
  const port = Number(target.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: dns-load.ts HOST:PORT [--names a,b] [--qtype A] [--count N] [--concurrency C] [--timeout MS] [--max MS]");
    process.exit(2);
  }
  const result = await dnsLoad({
    host: target.slice(0, colon).replace(/^\[|\]$/g, ""),
    port,
    names: flag("names", "example.test").split(","),
    qtype: flag("qtype", "A"),
    count: Number(flag("count", "100000")),
    concurrency: Number(flag("concurrency", "64")),
    timeoutMs: Number(flag("timeout", "2000")),
    maxMs: Number(flag("max", "60000")),
  });
  console.log(JSON.stringify(result));
}
