import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../src/core/runtime.ts";
import { setLogLevel } from "../src/log.ts";

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export function tempDir(prefix = "ferry-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A local HTTP origin: `/hello` answers text, `/echo` echoes method, path, Host and body. */
export function startOrigin() {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/hello") return new Response("hello from origin\n");
      if (url.pathname === "/big") return new Response(new Uint8Array(4 * 1024 * 1024).fill(7));
      const body = await req.text();
      return new Response(`${req.method} ${url.pathname} host=${req.headers.get("host")} body=${body}\n`);
    },
  });
  return { port: server.port as number, stop: () => server.stop(true) };
}

/** Run curl (the real client) with a bounded time; never through the system resolver: use IPs or localhost. */
export async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, stdout, stderr };
}

/** Start a Runtime in this process with a config text; `stop()` shuts it down. */
export async function startRuntime(configText: string, options: { pluginDirs?: string[] } = {}) {
  setLogLevel("silent");
  const home = tempDir();
  const runtime = await Runtime.create({ homeDir: home.path, configText, pluginDirs: options.pluginDirs });
  const engine = await runtime.start();
  setLogLevel("silent");
  return {
    runtime,
    engine,
    home: home.path,
    async stop() {
      await runtime.shutdown(0);
      home.remove();
    },
  };
}
