/**
 * `bun scripts/bench-ss.ts`: the ss client side, ferry beside shadowsocks-libev's ss-local, both
 * in front of the same ss-server, for aes-128-gcm, aes-256-gcm and chacha20-ietf-poly1305. curl
 * downloads BENCH_SIZE (default 1G) from the harness origin through each client's SOCKS5 port.
 *
 * This machine kind is noisy (2 shared vCPUs), so the clients run interleaved round-robin within
 * each round, figures are medians over BENCH_ROUNDS (default 5) rounds after one warm-up round that
 * checks every byte arrived, and CPU seconds per GiB of the client process (user + system from
 * /proc/PID/stat, all threads) are given beside MiB/s: they move far less under contention.
 * Loopback only. Prints a table on stderr and, as the last stdout line, one JSON object.
 *
 * Environment: BENCH_SIZE, BENCH_ROUNDS, BENCH_FERRY (a ferry binary; default `bun --no-install
 * src/cli/main.ts`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePorts, HOST, launch, type Running, stopAll } from "./lib/launch.ts";
import { GiB, MiB, parseSize } from "./lib/payload.ts";
import { cpuDelta, cpuTime } from "./lib/proc.ts";
import { downloadRounds, median, round2 } from "./lib/rounds.ts";
import { ensurePackages, type Peer, startPeer } from "./peers.ts";

const ROOT = resolve(import.meta.dir, "..");
const SIZE = parseSize(process.env.BENCH_SIZE ?? "1G");
const ROUNDS = Math.min(Math.max(Number(process.env.BENCH_ROUNDS ?? 5) || 5, 1), 50);
const CIPHERS = ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"] as const;
type Cipher = (typeof CIPHERS)[number];

const note = (m: string) => console.error(`bench-ss: ${m}`);
const WORK = mkdtempSync(join(tmpdir(), "ferry-bench-ss."));

interface Path {
  cipher: Cipher;
  client: "ferry" | "ss-local";
  pid: number;
  socks: string;
  mibs: number[];
  cpuPerGiB: number[];
  userPerGiB: number[];
  serverCpuPerGiB: number[];
  failed?: string;
}

async function download(p: Path, url: string, serverPid: number) {
  const c0 = cpuTime([p.pid]);
  const s0 = cpuTime([serverPid]);
  const sub = Bun.spawn(
    ["curl", "-sS", "-f", "--max-time", "600", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", "--socks5-hostname", p.socks, url],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([sub.stdout.text(), sub.stderr.text(), sub.exited]);
  const client = cpuDelta(c0, cpuTime([p.pid]));
  const server = cpuDelta(s0, cpuTime([serverPid]));
  const [bytes = 0, secs = 0] = out.trim().split(" ").map(Number);
  return { bytes, secs, client, server, error: code === 0 ? undefined : `curl exit ${code}: ${err.trim()}` };
}

async function main(): Promise<void> {
  if (!(await ensurePackages(["ss-server", "ss-local", "origin", "curl"]))) {
    throw new Error("shadowsocks-libev, nginx and curl are needed: run 'bun scripts/peers.ts install' as root");
  }
  const origin = await startPeer("origin", { big: String(SIZE) });
  const servers = new Map<Cipher, Peer<"ss-server">>();
  const locals = new Map<Cipher, Peer<"ss-local">>();
  for (const cipher of CIPHERS) {
    const server = await startPeer("ss-server", { cipher, udp: 0 });
    servers.set(cipher, server);
    locals.set(cipher, await startPeer("ss-local", { cipher, server_port: server.port, password: server.info.password }));
  }
  const ports = freePorts(CIPHERS.length + 1) as number[];
  const dir = mkdtempSync(join(WORK, "ferry."));
  writeFileSync(
    join(WORK, "config.yaml"),
    [
      `mixed-port: ${ports[0]}`,
      "log-level: warning",
      "proxies:",
      ...CIPHERS.map((c) => `  - {name: ${c}, type: ss, server: ${HOST}, port: ${servers.get(c)!.port}, cipher: ${c}, password: ${servers.get(c)!.info.password}}`),
      "listeners:",
      ...CIPHERS.map((c, i) => `  - {name: in-${c}, type: socks, listen: ${HOST}, port: ${ports[i + 1]}, proxy: ${c}}`),
      "rules:",
      "  - MATCH,DIRECT",
    ].join("\n"),
  );
  const cmd = process.env.BENCH_FERRY ? [resolve(process.env.BENCH_FERRY)] : [process.execPath, "--no-install", join(ROOT, "src/cli/main.ts")];
  const ferry: Running = await launch({ name: "ferry", cmd: [...cmd, "run", "-f", join(WORK, "config.yaml"), "-d", WORK], dir, tcp: ports.slice(1) });
  const paths: Path[] = [];
  const path = (cipher: Cipher, client: Path["client"], pid: number, socks: string): Path => ({
    cipher,
    client,
    pid,
    socks,
    mibs: [],
    cpuPerGiB: [],
    userPerGiB: [],
    serverCpuPerGiB: [],
  });
  for (const [i, cipher] of CIPHERS.entries()) {
    paths.push(path(cipher, "ss-local", locals.get(cipher)!.pid, locals.get(cipher)!.info.socks));
    paths.push(path(cipher, "ferry", ferry.pid, `${HOST}:${ports[i + 1]}`));
  }
  const load0 = loadavg()[0]!;
  await downloadRounds(paths, {
    rounds: ROUNDS,
    size: SIZE,
    download: (p) => download(p, origin.info.bigUrl!, servers.get(p.cipher)!.pid),
    record(p, d) {
      const gib = d.bytes / GiB;
      p.mibs.push(d.bytes / MiB / d.secs);
      p.cpuPerGiB.push(d.client.total / gib);
      p.userPerGiB.push(d.client.user / gib);
      p.serverCpuPerGiB.push(d.server.total / gib);
    },
    onFail: (p) => note(`${p.client} ${p.cipher}: ${p.failed}`),
    onRound: (r) => note(`round ${r}/${ROUNDS} done`),
  });
  const rows = paths.map((p) => ({
    cipher: p.cipher,
    client: p.client,
    mibps: round2(median(p.mibs)),
    mibpsRange: [round2(Math.min(...p.mibs)), round2(Math.max(...p.mibs))],
    clientCpuSecPerGiB: round2(median(p.cpuPerGiB)),
    clientUserCpuSecPerGiB: round2(median(p.userPerGiB)),
    serverCpuSecPerGiB: round2(median(p.serverCpuPerGiB)),
    failed: p.failed,
  }));
  console.error(`\n| cipher | client | MiB/s median | min-max | client CPU s/GiB | of which user | ss-server CPU s/GiB |\n|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    console.error(
      r.failed
        ? `| ${r.cipher} | ${r.client} | FAILED: ${r.failed} | | | | |`
        : `| ${r.cipher} | ${r.client} | ${r.mibps} | ${r.mibpsRange.join("-")} | ${r.clientCpuSecPerGiB} | ${r.clientUserCpuSecPerGiB} | ${r.serverCpuSecPerGiB} |`,
    );
  }
  console.log(JSON.stringify({ bench: "ss", sizeBytes: SIZE, rounds: ROUNDS, loadAvgStart: round2(load0), loadAvgEnd: round2(loadavg()[0]!), rows }));
  if (rows.some((r) => r.failed)) process.exitCode = 1;
}

try {
  await main();
} finally {
  await stopAll();
  if (process.env.FERRY_PEERS_KEEP !== "1") rmSync(WORK, { recursive: true, force: true });
}
