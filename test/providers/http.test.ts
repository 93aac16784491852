import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { downloadSettings } from "../../src/providers/provider.ts";
import { tempDir } from "../helpers.ts";
import { captureLogs, startConnectProxy, startIn, until } from "./helpers.ts";

const ss = (name: string) => `{name: "${name}", type: ss, server: 127.0.0.1, port: 8388, cipher: aes-128-gcm, password: pw}`;
const ssLink = (name: string) => `ss://${Buffer.from("aes-128-gcm:pw").toString("base64")}@127.0.0.1:8388#${encodeURIComponent(name)}`;

/** A subscription server whose answer the test sets: body, status, headers, or a hang. */
function subscriptionServer() {
  const state = {
    body: `proxies:\n  - ${ss("A")}\n`,
    status: 200,
    headers: {} as Record<string, string>,
    hang: false,
    requests: [] as Headers[],
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      state.requests.push(new Headers(req.headers));
      if (state.hang) await Bun.sleep(10_000);
      const etag = state.headers.etag;
      if (etag && req.headers.get("if-none-match") === etag) return new Response(null, { status: 304 });
      return new Response(state.body, { status: state.status, headers: state.headers });
    },
  });
  return { state, url: `http://127.0.0.1:${server.port}/sub`, stop: () => server.stop(true) };
}

const groupOf = (provider: string) => `proxy-groups:\n  - {name: G, type: select, use: [${provider}]}\n`;

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
  downloadSettings.timeoutMs = 30_000;
});

function names(engine: { providers: Map<string, { nodes: { name: string }[] }> }, p: string): string[] {
  return engine.providers.get(p)!.nodes.map((n) => n.name);
}

describe("http providers", () => {
  test("downloads each format, refreshes, keeps the last good list on 500, timeout and garbage, with log lines", async () => {
    const home = tempDir();
    const sub = subscriptionServer();
    cleanup.push(home.remove, sub.stop);
    const logs = captureLogs();
    cleanup.push(logs.stop);
    const ferry = await startIn(home.path, `log-level: silent\nproxy-providers:\n  s: {type: http, url: '${sub.url}', path: subs/s.yaml, interval: 3600}\n${groupOf("s")}`);
    cleanup.push(ferry.stop);
    const p = ferry.engine.providers.get("s")!;
    await until(() => p.nodes.length === 1);
    expect(names(ferry.engine, "s")).toEqual(["A"]);
    expect(sub.state.requests[0]?.get("user-agent")).toMatch(/^clash\.meta\/v/);
    expect(readFileSync(join(home.path, "subs/s.yaml"), "utf8")).toBe(sub.state.body);

    sub.state.body = Buffer.from([ssLink("B64-1"), ssLink("B64-2")].join("\n")).toString("base64");
    await p.refresh();
    expect(names(ferry.engine, "s")).toEqual(["B64-1", "B64-2"]);

    sub.state.body = [ssLink("plain-1"), "garbage-line", ""].join("\n");
    await p.refresh();
    expect(names(ferry.engine, "s")).toEqual(["plain-1"]);

    sub.state.status = 500;
    await expect(p.refresh()).rejects.toThrow("HTTP 500");
    sub.state.status = 200;
    sub.state.body = "{{{ not yaml, not links";
    await expect(p.refresh()).rejects.toThrow();
    downloadSettings.timeoutMs = 300;
    sub.state.hang = true;
    await expect(p.refresh()).rejects.toThrow("timed out");
    expect(names(ferry.engine, "s")).toEqual(["plain-1"]);
    expect(readFileSync(join(home.path, "subs/s.yaml"), "utf8")).toContain("plain-1");
    const pulls = logs.lines.map((l) => l.payload).filter((l) => l.includes("[Provider] s pull error"));
    expect(pulls.length).toBe(3);
    expect(pulls[0]).toContain("HTTP 500");
    expect(pulls[2]).toContain("timed out");
    // Only the final file, no temp files left behind (atomic replace).
    expect(readdirSync(join(home.path, "subs"))).toEqual(["s.yaml"]);
  });

  test("size-limit: a larger body fails the update with a log line; the last good list stays", async () => {
    const home = tempDir();
    const sub = subscriptionServer();
    cleanup.push(home.remove, sub.stop);
    const logs = captureLogs();
    cleanup.push(logs.stop);
    const small = `proxies:\n  - ${ss("A")}\n`;
    const ferry = await startIn(
      home.path,
      `log-level: silent\nproxy-providers:\n  s: {type: http, url: '${sub.url}', path: subs/s.yaml, interval: 3600, size-limit: ${small.length}}\n${groupOf("s")}`,
    );
    cleanup.push(ferry.stop);
    const p = ferry.engine.providers.get("s")!;
    await until(() => p.nodes.length === 1);
    // Two whole entries: truncated at the limit it would still parse (as "A" alone), so it must fail.
    sub.state.body = `proxies:\n  - ${ss("A")}\n  - ${ss("B")}\n`;
    await expect(p.refresh()).rejects.toThrow(`body larger than size-limit (${small.length} bytes)`);
    expect(names(ferry.engine, "s")).toEqual(["A"]);
    expect(readFileSync(join(home.path, "subs/s.yaml"), "utf8")).toBe(small);
    expect(logs.lines.map((l) => l.payload)).toContain(`[Provider] s pull error: body larger than size-limit (${small.length} bytes)`);
  });

  test("the on-disk copy is used at start with the server down; userinfo and ETag", async () => {
    const home = tempDir();
    cleanup.push(home.remove);
    mkdirSync(join(home.path, "subs"));
    writeFileSync(join(home.path, "subs/s.yaml"), `proxies:\n  - ${ss("cached")}\n`);
    const down = `http://127.0.0.1:1/sub`;
    const logs = captureLogs();
    cleanup.push(logs.stop);
    const first = await startIn(home.path, `log-level: silent\nproxy-providers:\n  s: {type: http, url: '${down}', path: subs/s.yaml, interval: 1}\n${groupOf("s")}`);
    expect(names(first.engine, "s")).toEqual(["cached"]);
    await until(() => logs.lines.some((l) => l.payload.includes("[Provider] s pull error")));
    expect(names(first.engine, "s")).toEqual(["cached"]);
    await first.stop();

    const sub = subscriptionServer();
    cleanup.push(sub.stop);
    sub.state.headers = { "subscription-userinfo": "upload=10; download=20; total=1000; expire=1790000000", etag: '"v1"' };
    const ferry = await startIn(home.path, `log-level: silent\nproxy-providers:\n  s: {type: http, url: '${sub.url}', path: subs/s.yaml}\n${groupOf("s")}`);
    cleanup.push(ferry.stop);
    const p = ferry.engine.providers.get("s")!;
    // interval 0 with a local copy: no download at start.
    await Bun.sleep(100);
    expect(sub.state.requests.length).toBe(0);
    await p.refresh();
    expect(names(ferry.engine, "s")).toEqual(["A"]);
    expect(p.subscriptionInfo).toEqual({ upload: 10, download: 20, total: 1000, expire: 1790000000 });
    const version = p.version;
    await p.refresh();
    expect(sub.state.requests[1]?.get("if-none-match")).toBe('"v1"');
    expect(p.version).toBe(version);
  });

  test("proxy: the download goes through the named proxy", async () => {
    const home = tempDir();
    const sub = subscriptionServer();
    const proxy = startConnectProxy();
    cleanup.push(home.remove, sub.stop, proxy.stop);
    const config = [
      "log-level: silent",
      "proxies:",
      `  - {name: via, type: http, server: 127.0.0.1, port: ${proxy.port}}`,
      "proxy-providers:",
      `  s: {type: http, url: '${sub.url}', proxy: via, header: {X-Token: [abc]}}`,
      groupOf("s"),
    ].join("\n");
    const ferry = await startIn(home.path, config);
    cleanup.push(ferry.stop);
    await until(() => ferry.engine.providers.get("s")!.nodes.length === 1);
    expect(proxy.targets).toEqual([new URL(sub.url).host]);
    expect(sub.state.requests[0]?.get("x-token")).toBe("abc");
    expect(existsSync(join(home.path, "proxies"))).toBe(true);
  });
});
