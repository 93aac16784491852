/**
 * DNS benchmark: ferry's DNS listener beside dnsmasq on the same records, 64 concurrent UDP clients
 * (scripts/lib/dns-load.ts), bounded in count and time. Three rows: dnsmasq answering its own zone,
 * ferry answering from its cache (upstream: that dnsmasq), ferry in fake-ip mode (no upstream).
 * CPU-seconds per 100k answers of the serving process are the steady figure on a shared machine.
 * Then the memory of a 100,000-entry fake-IP pool, measured in this process.
 * Human-readable figures go to stderr; the last stdout line is one JSON object.
 *
 *   bun scripts/bench-dns.ts
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FakeIpPool } from "../src/dns/fakeip.ts";
import { dnsLoad } from "./lib/dns-load.ts";
import { freePort, launch, type Running } from "./lib/launch.ts";
import { cpuSeconds, memBytes } from "./lib/proc.ts";
import { startPeer, stopAll } from "./peers.ts";

const ROOT = resolve(import.meta.dir, "..");
const COUNT = 200_000;
const CONCURRENCY = 64;
const LAB_NAMES = ["example.test", "a.lab.test", "multi.lab.test", "mail.lab.test"];
const FAKE_NAMES = Array.from({ length: 5_000 }, (_, i) => `n${i}.bench.test`);
const POOL_ENTRIES = 100_000;

interface Row {
  server: string;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cpuSecPer100k: number;
}

async function measure(server: string, pid: number, port: number, names: string[]): Promise<Row> {
  // Warm-up: fills ferry's cache and the fake-IP pool, and lets the JIT settle.
  await dnsLoad({ host: "127.0.0.1", port, names, count: 20_000, concurrency: CONCURRENCY, maxMs: 60_000 });
  const before = cpuSeconds([pid]);
  const r = await dnsLoad({ host: "127.0.0.1", port, names, count: COUNT, concurrency: CONCURRENCY, maxMs: 120_000 });
  const cpu = cpuSeconds([pid]) - before;
  return { server, qps: r.qps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, cpuSecPer100k: (cpu / Math.max(r.answered, 1)) * 100_000 };
}

/** `ferry run` in its own process (the harness's launch: waits until it owns the DNS port, stops it after). */
async function startFerry(config: string, port: number): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-bench-dns-"));
  writeFileSync(join(dir, "config.yaml"), config);
  return launch({ name: "ferry", cmd: [process.execPath, "--no-install", join(ROOT, "src/cli/main.ts"), "run", "-d", dir], dir, removeDir: true, tcp: [port], udp: [port] });
}

function poolMemory(): { bytesPerEntry: number; buildMs: number } {
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const started = performance.now();
  const pool = new FakeIpPool("198.18.0.1/15", undefined);
  for (let i = 0; i < POOL_ENTRIES; i++) pool.lookup(`host-${i}.example.com`);
  const buildMs = performance.now() - started;
  Bun.gc(true);
  const after = process.memoryUsage().heapUsed;
  if (pool.size !== POOL_ENTRIES) throw new Error(`pool holds ${pool.size} entries`);
  return { bytesPerEntry: (after - before) / POOL_ENTRIES, buildMs };
}

const dnsmasq = await startPeer("dnsmasq");
const upstream = dnsmasq.info.addr;
const rows: Row[] = [];
try {
  rows.push(await measure("dnsmasq (its own zone)", dnsmasq.pid, Number(upstream.split(":")[1]), LAB_NAMES));
  for (const [label, mode, names] of [
    ["ferry, answers from cache", "normal", LAB_NAMES],
    ["ferry, fake-ip", "fake-ip", FAKE_NAMES],
  ] as const) {
    const port = freePort();
    const ferry = await startFerry(`mixed-port: 0
log-level: warning
dns:
  enable: true
  listen: 127.0.0.1:${port}
  enhanced-mode: ${mode}
  default-nameserver: [${upstream}]
  nameserver: [${upstream}]
`, port);
    try {
      rows.push(await measure(label, ferry.pid, port, [...names]));
      if (mode === "fake-ip") process.stderr.write(`ferry RSS after the fake-ip run: ${(memBytes([ferry.pid]) / 2 ** 20).toFixed(1)} MiB\n`);
    } finally {
      await ferry.stop();
    }
  }
} finally {
  await stopAll();
}
const pool = poolMemory();

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
process.stderr.write(`\n| server | queries/s | p50 ms | p99 ms | errors | CPU-s per 100k |\n|---|---|---|---|---|---|\n`);
for (const r of rows) {
  process.stderr.write(`| ${r.server} | ${fmt(r.qps)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${r.errors} | ${fmt(r.cpuSecPer100k, 2)} |\n`);
}
process.stderr.write(`\nfake-IP pool: ${fmt(POOL_ENTRIES)} entries, ${fmt(pool.bytesPerEntry)} B/entry of heap, built in ${fmt(pool.buildMs)} ms\n`);
const byServer = (s: string) => rows.find((r) => r.server.startsWith(s));
console.log(
  JSON.stringify({
    dnsmasqQps: Math.round(byServer("dnsmasq")?.qps ?? 0),
    cacheQps: Math.round(byServer("ferry, answers")?.qps ?? 0),
    cacheP99Ms: byServer("ferry, answers")?.p99Ms ?? 0,
    fakeIpQps: Math.round(byServer("ferry, fake-ip")?.qps ?? 0),
    fakeIpP99Ms: byServer("ferry, fake-ip")?.p99Ms ?? 0,
    dnsmasqCpuPer100k: byServer("dnsmasq")?.cpuSecPer100k ?? 0,
    cacheCpuPer100k: byServer("ferry, answers")?.cpuSecPer100k ?? 0,
    fakeIpCpuPer100k: byServer("ferry, fake-ip")?.cpuSecPer100k ?? 0,
    poolBytesPerEntry: Math.round(pool.bytesPerEntry),
  }),
);
