/**
 * `bun scripts/bench-v2ray.ts`: ferry's vmess, vless and trojan outbounds beside the reference
 * client of each protocol, both talking to the same reference server, on loopback only. A download
 * of BENCH_SIZE (default 1G) from the nginx origin peer, with curl through each client's SOCKS5 port:
 *
 *   vmess aes-128-gcm (tcp):  v2ray client -> v2ray server             vs   ferry -> v2ray server
 *   vless over TLS:           v2ray client -> v2ray server             vs   ferry -> v2ray server
 *   trojan (TLS):             trojan-gfw client -> trojan-gfw server   vs   ferry -> trojan-gfw server
 *
 * Rounds are interleaved (every case once per round, the order rotated) because this machine kind
 * is noisy; figures are medians. The client's CPU seconds per GiB (user + system, /proc/PID/stat
 * of the client's process tree, before and after each download) move far less under contention
 * than MiB/s do, so compare by them first. The server's CPU is reported too.
 *
 * Prints a table and, as the last stdout line, one JSON object with every figure. Exit 1 when a
 * download fails or comes back short. Environment: BENCH_SIZE (e.g. 256M), BENCH_ROUNDS (default
 * 5), BENCH_FERRY (a ferry binary; default `bun --no-install src/cli/main.ts`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, launch, type Running } from "./lib/launch.ts";
import { GiB, MiB, parseSize } from "./lib/payload.ts";
import { clockTicks, cpuTime } from "./lib/proc.ts";
import { median, round2 } from "./lib/rounds.ts";
import { ensurePackages, startPeer, stopAll } from "./peers.ts";

const ROOT = resolve(import.meta.dir, "..");
const SIZE = parseSize(process.env.BENCH_SIZE ?? "1G");
const ROUNDS = Math.min(Math.max(Number(process.env.BENCH_ROUNDS ?? 5) || 5, 1), 50);
const FERRY = process.env.BENCH_FERRY ? [resolve(process.env.BENCH_FERRY)] : [process.execPath, "--no-install", join(ROOT, "src/cli/main.ts")];
const WORK = mkdtempSync(join(tmpdir(), "ferry-bench-v2ray."));
const note = (m: string) => console.error(`bench-v2ray: ${m}`);

interface Case {
  protocol: "vmess aes-128-gcm" | "vless tls" | "trojan tls";
  client: "v2ray" | "trojan-gfw" | "ferry";
  /** SOCKS5 port of the client. */
  socks: number;
  clientPid: number;
  serverPid: number;
  mibps: number[];
  clientCpuPerGiB: number[];
  serverCpuPerGiB: number[];
}

async function startFerry(name: string, proxy: string): Promise<Running> {
  const dir = mkdtempSync(join(WORK, `${name}.`));
  const port = freePort();
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    `mixed-port: ${port}\nallow-lan: false\nbind-address: 127.0.0.1\nlog-level: warning\nproxies:\n  - {name: p, ${proxy}}\nrules:\n  - MATCH,p\n`,
  );
  return launch({ name, cmd: [...FERRY, "run", "-f", file, "-d", dir], dir, tcp: [port], privateResolver: false });
}

/** One download through `c`; returns false when it failed or came back short. */
function download(c: Case, url: string): boolean {
  const before = { client: cpuTime([c.clientPid]).total, server: cpuTime([c.serverPid]).total };
  const t0 = performance.now();
  const r = Bun.spawnSync(["curl", "-sS", "--max-time", "600", "-o", "/dev/null", "-w", "%{size_download}", "--socks5", `127.0.0.1:${c.socks}`, url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const seconds = (performance.now() - t0) / 1000;
  const got = Number(r.stdout.toString());
  if (r.exitCode !== 0 || got !== SIZE) {
    note(`${c.client} ${c.protocol}: curl exit ${r.exitCode}, ${got} of ${SIZE} bytes: ${r.stderr.toString().trim()}`);
    return false;
  }
  const gib = SIZE / GiB;
  c.mibps.push(SIZE / MiB / seconds);
  c.clientCpuPerGiB.push((cpuTime([c.clientPid]).total - before.client) / gib);
  c.serverCpuPerGiB.push((cpuTime([c.serverPid]).total - before.server) / gib);
  return true;
}

async function main(): Promise<number> {
  if (!(await ensurePackages(["origin", "v2ray-vmess", "v2ray-client", "trojan", "trojan-client", "curl"]))) {
    note("v2ray, trojan, nginx or curl missing and not root: run 'bun scripts/peers.ts install' as root");
    return 1;
  }
  note(`size ${SIZE} bytes, ${ROUNDS} rounds, ferry = ${FERRY.join(" ")}, clock ${clockTicks()} Hz`);
  const origin = await startPeer("origin", { big: String(SIZE) });
  const url = `${origin.info.url}big.bin`;
  const vmessServer = await startPeer("v2ray-vmess");
  const vlessServer = await startPeer("v2ray-vless", { tls: 1 });
  const trojanServer = await startPeer("trojan");
  const [v2rayVmess, v2rayVless, gfwTrojan, ferryVmess, ferryVless, ferryTrojan] = await Promise.all([
    startPeer("v2ray-client", { server_port: vmessServer.port, proto: "vmess", security: "aes-128-gcm" }),
    startPeer("v2ray-client", { server_port: vlessServer.port, proto: "vless", tls: 1, ca: vlessServer.info.ca ?? "" }),
    startPeer("trojan-client", { server_port: trojanServer.port, password: trojanServer.info.password, sni: trojanServer.info.sni, ca: trojanServer.info.ca }),
    startFerry("ferry-vmess", `type: vmess, server: 127.0.0.1, port: ${vmessServer.port}, uuid: ${vmessServer.info.uuid}, alterId: 0, cipher: aes-128-gcm`),
    startFerry(
      "ferry-vless",
      `type: vless, server: 127.0.0.1, port: ${vlessServer.port}, uuid: ${vlessServer.info.uuid}, tls: true, servername: ${vlessServer.info.sni}, fingerprint: "${vlessServer.info.certSha256}"`,
    ),
    startFerry(
      "ferry-trojan",
      `type: trojan, server: 127.0.0.1, port: ${trojanServer.port}, password: ${trojanServer.info.password}, sni: ${trojanServer.info.sni}, fingerprint: "${trojanServer.info.certSha256}"`,
    ),
  ]);
  const mk = (protocol: Case["protocol"], client: Case["client"], socks: number, clientPid: number, serverPid: number): Case => ({
    protocol,
    client,
    socks,
    clientPid,
    serverPid,
    mibps: [],
    clientCpuPerGiB: [],
    serverCpuPerGiB: [],
  });
  const cases = [
    mk("vmess aes-128-gcm", "v2ray", v2rayVmess.port, v2rayVmess.pid, vmessServer.pid),
    mk("vmess aes-128-gcm", "ferry", ferryVmess.port, ferryVmess.pid, vmessServer.pid),
    mk("vless tls", "v2ray", v2rayVless.port, v2rayVless.pid, vlessServer.pid),
    mk("vless tls", "ferry", ferryVless.port, ferryVless.pid, vlessServer.pid),
    mk("trojan tls", "trojan-gfw", gfwTrojan.port, gfwTrojan.pid, trojanServer.pid),
    mk("trojan tls", "ferry", ferryTrojan.port, ferryTrojan.pid, trojanServer.pid),
  ];
  // One warm-up download per case (JIT, page cache), not counted.
  for (const c of cases) {
    if (!download(c, url)) return 1;
    c.mibps.length = 0;
    c.clientCpuPerGiB.length = 0;
    c.serverCpuPerGiB.length = 0;
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < cases.length; i++) if (!download(cases[(i + r) % cases.length]!, url)) return 1;
  }
  const rows = cases.map((c) => ({
    protocol: c.protocol,
    client: c.client,
    mibps: round2(median(c.mibps)),
    mibpsRange: [round2(Math.min(...c.mibps)), round2(Math.max(...c.mibps))],
    clientCpuSecPerGiB: round2(median(c.clientCpuPerGiB)),
    serverCpuSecPerGiB: round2(median(c.serverCpuPerGiB)),
  }));
  console.log(`| protocol | client | MiB/s (median) | MiB/s range | client CPU s/GiB | server CPU s/GiB |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const r of rows) {
    console.log(`| ${r.protocol} | ${r.client} | ${r.mibps} | ${r.mibpsRange.join("-")} | ${r.clientCpuSecPerGiB} | ${r.serverCpuSecPerGiB} |`);
  }
  console.log(JSON.stringify({ bench: "v2ray", size: SIZE, rounds: ROUNDS, rows }));
  return 0;
}

main()
  .then(
    (code) => code,
    (err: unknown) => {
      note(err instanceof Error ? err.message : String(err));
      return 1;
    },
  )
  .then(async (code) => {
    await stopAll();
    rmSync(WORK, { recursive: true, force: true });
    process.exit(code);
  });
