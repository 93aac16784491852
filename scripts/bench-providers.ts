/**
 * `bun scripts/bench-providers.ts`: start-up cost of a large subscription.
 *
 * Writes a 5,000-node subscription (ss, vmess and trojan nodes, Clash YAML) as an http provider's
 * on-disk copy (its URL points at a closed port, so start-up never waits for the network) and 50
 * select groups that `use` it with different `filter`s, then spawns `ferry run` and measures:
 * spawn → first connection accepted on the mixed port, spawn → provider-loaded log line, the RSS
 * once settled, and the members of one filtered group via the nodes count in the log.
 * Environment: BENCH_NODES (default 5000), BENCH_GROUPS (default 50), BENCH_RUNS (default 3).
 * The last stdout line is one JSON object.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const NODES = Number(process.env.BENCH_NODES ?? 5_000);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const root = resolve(import.meta.dir, "..");
const REGIONS = ["HK", "US", "JP", "SG", "TW", "DE", "UK", "KR", "FR", "NL"];

function node(i: number): string {
  const name = `${REGIONS[i % REGIONS.length]}-${String(i).padStart(5, "0")}`;
  const server = `10.${(i >> 8) & 255}.${i & 255}.1`;
  switch (i % 3) {
    case 0:
      return `  - {name: "${name}", type: ss, server: ${server}, port: 8388, cipher: aes-256-gcm, password: "p${i}", udp: true}`;
    case 1:
      return `  - {name: "${name}", type: vmess, server: ${server}, port: 443, uuid: "b831381d-6324-4d53-ad4f-8cda48b3${String(i).padStart(4, "0")}", alterId: 0, cipher: auto, tls: true, servername: example.com, network: ws, ws-opts: {path: "/v${i}"}}`;
    default:
      return `  - {name: "${name}", type: trojan, server: ${server}, port: 443, password: "t${i}", sni: example.com}`;
  }
}

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function accepts(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

/** A HOME with the 5,000-node provider copy on disk and 50 filtered groups; returns its path. */
function makeHome(): string {
  const home = mkdtempSync(join(tmpdir(), "ferry-bench-prov-"));
  mkdirSync(join(home, "subs"));
  writeFileSync(join(home, "subs", "big.yaml"), `proxies:\n${Array.from({ length: NODES }, (_, i) => node(i)).join("\n")}\n`);
  const port = freePort();
  const groups = Array.from({ length: GROUPS }, (_, g) => {
    const region = REGIONS[g % REGIONS.length];
    const filter = g % 2 === 0 ? `(?i)^${region}-` : `${region}-\\d*${g % 10}$\`^${REGIONS[(g + 1) % REGIONS.length]}-`;
    return `  - {name: "G${g}", type: select, use: [big], filter: '${filter}'}`;
  });
  const config = [
    `mixed-port: ${port}`,
    "log-level: info",
    "proxy-providers:",
    "  big: {type: http, url: 'http://127.0.0.1:1/never', path: subs/big.yaml, interval: 86400}",
    "proxy-groups:",
    ...groups,
    "rules: ['MATCH,DIRECT']",
  ].join("\n");
  writeFileSync(join(home, "config.yaml"), config);
  return home;
}

/** One start of ferry on `home`: spawn → first accepted connection, → providers loaded, and RSS. */
async function once(home: string): Promise<{ acceptMs: number; loadedMs: number; rssMiB: number }> {
  const port = Number(/mixed-port: (\d+)/.exec(readFileSync(join(home, "config.yaml"), "utf8"))![1]);
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, join(root, "src/cli/main.ts"), "run", "-d", home], { stdout: "ignore", stderr: "pipe" });
  let loadedMs = 0;
  const reader = (async () => {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of proc.stderr) {
      text += decoder.decode(chunk);
      if (!loadedMs && text.includes("proxies loaded")) loadedMs = performance.now() - started;
    }
  })();
  let acceptMs = 0;
  while (!acceptMs) {
    if (await accepts(port)) acceptMs = performance.now() - started;
    else await Bun.sleep(2);
    if (performance.now() - started > 60_000) throw new Error("ferry did not start within 60 s");
  }
  await Bun.sleep(1_000);
  const rssMiB = rssKiB(proc.pid) / 1024;
  proc.kill();
  await proc.exited;
  await reader;
  return { acceptMs, loadedMs, rssMiB };
}

// The first start parses the YAML copy (cold); later starts find its parsed form in cache.db (warm).
const home = makeHome();
const runs: Awaited<ReturnType<typeof once>>[] = [];
let cold: Awaited<ReturnType<typeof once>>;
try {
  cold = await once(home);
  console.log(`cold: accept ${cold.acceptMs.toFixed(0)} ms, providers loaded ${cold.loadedMs.toFixed(0)} ms, RSS ${cold.rssMiB.toFixed(1)} MiB`);
  for (let i = 0; i < RUNS; i++) {
    const r = await once(home);
    console.log(`warm run ${i + 1}: accept ${r.acceptMs.toFixed(0)} ms, providers loaded ${r.loadedMs.toFixed(0)} ms, RSS ${r.rssMiB.toFixed(1)} MiB`);
    runs.push(r);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  JSON.stringify({
    bench: "providers",
    nodes: NODES,
    groups: GROUPS,
    cold_startup_accept_ms: Math.round(cold.acceptMs),
    startup_accept_ms: Math.round(median(runs.map((r) => r.acceptMs))),
    startup_providers_loaded_ms: Math.round(median(runs.map((r) => r.loadedMs))),
    rss_mib: Math.round(median(runs.map((r) => r.rssMiB)) * 10) / 10,
  }),
);
