/**
 * `bun scripts/bench-controller.ts`: what the external controller costs with many connections.
 *
 * ferry runs in this process with 10,000 tracked connections registered directly in the Tracker
 * (opening 10,000 real sockets through the mixed port would need ~40,000 descriptors across the
 * client, both sides of ferry and the origin, over this machine's 20,000 limit). Their counters move
 * every second as live traffic would. Clients (WebSocket readers, curl) run in child processes so
 * their parsing is not billed to ferry; ferry's CPU is `process.cpuUsage()` of this process, minus
 * the same period with no subscriber.
 *
 * Figures: `GET /connections` wall time (median, p95) and size; CPU of one `/connections`
 * WebSocket snapshot per second; CPU of one `/traffic` subscriber (target < 1% of a core).
 * Environment: BENCH_CONNECTIONS (default 10000), BENCH_SECONDS (per CPU window, default 10).
 * The last stdout line is one JSON object.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeHost, startController } from "../src/controller/index.ts";
import { controllerSettings } from "../src/controller/settings.ts";
import { Runtime } from "../src/core/runtime.ts";
import { TrackedConnection } from "../src/core/tracker.ts";
import { setLogLevel } from "../src/log.ts";
import { createMetadata } from "../src/sdk/metadata.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const HTTP_SAMPLES = 21;

setLogLevel("silent");
const home = mkdtempSync(join(tmpdir(), "ferry-bench-ctl-"));
const runtime = await Runtime.create({ homeDir: home, configText: "rules:\n  - MATCH,DIRECT\n" });
const engine = await runtime.start();
setLogLevel("silent");
const controller = await startController(new RuntimeHost(runtime), controllerSettings(engine.config.raw, home, { externalController: "127.0.0.1:0" }), "v0.0.0-bench");
const base = `http://${controller.addresses[0]}`;

const conns: TrackedConnection[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const metadata = createMetadata({
    network: "tcp",
    type: i % 2 ? "HTTPS" : "Socks5",
    sourceIP: "127.0.0.1",
    sourcePort: 20_000 + (i % 40_000),
    destinationIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    destinationPort: 443,
    host: `host-${i}.example.com`,
    inboundIP: "127.0.0.1",
    inboundPort: 7890,
    inboundName: "DEFAULT-MIXED",
  });
  const c = new TrackedConnection(metadata, ["DIRECT"], [""], "Match", "", metadata.destinationIP, { close: () => runtime.tracker.remove(c) });
  runtime.tracker.add(c);
  conns.push(c);
}
// Traffic on every connection, as a busy proxy would have.
const traffic = setInterval(() => {
  for (const c of conns) {
    c.upload += 100;
    c.download += 1_000;
  }
}, 1_000);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1_000;
}

/** This process's CPU over the next `seconds`, as a percentage of one core. */
async function cpuPercent(seconds: number): Promise<number> {
  const c0 = cpuMs();
  const t0 = performance.now();
  await Bun.sleep(seconds * 1_000);
  return ((cpuMs() - c0) / (performance.now() - t0)) * 100;
}

/** A WebSocket reader in a child process: counts frames and bytes, prints them on SIGTERM. */
function wsReader(url: string) {
  const script = `const ws = new WebSocket(${JSON.stringify(url)}); let frames = 0, bytes = 0;
ws.onmessage = (e) => { frames++; bytes += e.data.length; };
process.on("SIGTERM", () => { console.log(JSON.stringify({ frames, bytes })); process.exit(0); });`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  return {
    async stop(): Promise<{ frames: number; bytes: number }> {
      proc.kill("SIGTERM");
      const out = await new Response(proc.stdout).text();
      await proc.exited;
      return JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
    },
  };
}

// 1. GET /connections: wall time measured by curl in a child process.
const times: number[] = [];
let size = 0;
for (let i = 0; i < HTTP_SAMPLES; i++) {
  const proc = Bun.spawn(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", `${base}/connections`], { stdout: "pipe" });
  const [t, s] = (await new Response(proc.stdout).text()).split(" ");
  await proc.exited;
  times.push(Number(t) * 1_000);
  size = Number(s);
}
times.sort((a, b) => a - b);

// 2. CPU: idle baseline, one /connections snapshot per second over WebSocket, one /traffic subscriber.
const idle = await cpuPercent(SECONDS);
const connReader = wsReader(`${base.replace("http", "ws")}/connections`);
const withConnections = await cpuPercent(SECONDS);
const connFrames = await connReader.stop();
const trafficReader = wsReader(`${base.replace("http", "ws")}/traffic`);
const withTraffic = await cpuPercent(SECONDS);
const trafficFrames = await trafficReader.stop();

clearInterval(traffic);
await controller.stop();
await runtime.shutdown(0);
rmSync(home, { recursive: true, force: true });

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const result = {
  connections: CONNECTIONS,
  seconds_per_window: SECONDS,
  http_connections_ms_median: round(times[Math.floor(times.length / 2)]!),
  http_connections_ms_p95: round(times[Math.floor(times.length * 0.95)]!),
  http_connections_bytes: size,
  cpu_idle_pct: round(idle),
  cpu_ws_connections_1s_pct: round(withConnections - idle),
  ws_connections_frames: connFrames.frames,
  ws_connections_frame_bytes: connFrames.frames ? Math.round(connFrames.bytes / connFrames.frames) : 0,
  cpu_ws_traffic_pct: round(withTraffic - idle),
  ws_traffic_frames: trafficFrames.frames,
  traffic_target_pct: 1,
  traffic_target_met: withTraffic - idle < 1,
};
console.log(
  `GET /connections (${CONNECTIONS} conns, ${(size / 1e6).toFixed(1)} MB): median ${result.http_connections_ms_median} ms, p95 ${result.http_connections_ms_p95} ms`,
);
console.log(`CPU: idle ${result.cpu_idle_pct}%, +${result.cpu_ws_connections_1s_pct}% for a /connections WebSocket (1 snapshot/s), +${result.cpu_ws_traffic_pct}% for /traffic`);
console.log(JSON.stringify(result));
