/**
 * Health-check round over 500 members: `direct` proxies testing a local origin (`HEAD`, real
 * sockets on 127.0.0.1) through one url-test group, 10 tests in flight as mihomo. Reports the
 * round time (median of ROUNDS) and the tests per second; one JSON line on stdout at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../src/core/runtime.ts";
import { setLogLevel } from "../src/log.ts";

const MEMBERS = 500;
const ROUNDS = 5;

const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 204 }) });
const url = `http://127.0.0.1:${origin.port}/generate_204`;
const names = Array.from({ length: MEMBERS }, (_, i) => `d${i}`);
const config = [
  "proxies:",
  ...names.map((n) => `  - {name: ${n}, type: direct}`),
  "proxy-groups:",
  `  - {name: auto, type: url-test, url: "${url}", interval: 3600, lazy: false, proxies: [${names.join(", ")}]}`,
].join("\n");

setLogLevel("silent");
const home = mkdtempSync(join(tmpdir(), "ferry-bench-groups-"));
const runtime = await Runtime.create({ homeDir: home, configText: config });
const engine = await runtime.start();
// The round started with the engine warms the sockets; time the ones after it.
await engine.health.checkAll();
const times: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const t0 = performance.now();
  await engine.health.checkAll();
  times.push(performance.now() - t0);
}
const alive = names.filter((n) => runtime.states.peek(engine.outbounds.get(n)!)?.aliveFor(url)).length;
await runtime.shutdown(0);
origin.stop(true);
rmSync(home, { recursive: true, force: true });

times.sort((a, b) => a - b);
const roundMs = times[Math.floor(times.length / 2)]!;
console.error(`health check: ${MEMBERS} members, concurrency 10, median round ${roundMs.toFixed(0)} ms over ${ROUNDS} rounds, ${alive} alive`);
console.log(JSON.stringify({ members: MEMBERS, concurrency: 10, rounds: ROUNDS, roundMs: Math.round(roundMs), testsPerSecond: Math.round((MEMBERS * 1000) / roundMs), alive }));
