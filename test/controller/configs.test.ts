/**
 * Changing the running config through the controller: `PUT /configs` (reload through the Engine
 * swap), `PATCH /configs` (live settings), and what a reload must not disturb: listeners whose
 * settings did not change, and open connections.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { getLogLevel, setLogLevel } from "../../src/log.ts";
import { curl, freePort, startOrigin } from "../helpers.ts";
import { connectThrough, type Ferry, startEcho, startFerry } from "./helpers.ts";

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

const put = (f: Ferry, body: unknown, query = "") => f.api(`/configs${query}`, { method: "PUT", body: JSON.stringify(body) });
const patch = (f: Ferry, body: unknown) => f.api("/configs", { method: "PATCH", body: JSON.stringify(body) });
const configs = async (f: Ferry) => (await (await f.api("/configs")).json()) as Record<string, unknown>;
const proxyNames = async (f: Ferry) => Object.keys(((await (await f.api("/proxies")).json()) as { proxies: object }).proxies);

/** GET the origin through ferry on `port`; "" when refused. */
async function through(port: number): Promise<string> {
  return (await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`])).stdout;
}

describe("PUT /configs", () => {
  test("a bad config is refused with 400 and its error; the running config stays in force", async () => {
    const f = await startFerry("proxies:\n  - {name: keep-me, type: direct}\nrules:\n  - MATCH,keep-me\n");
    try {
      const r = await put(f, { path: "", payload: "rules:\n  - MATCH,NoSuchProxy\n" });
      expect(r.status).toBe(400);
      const body = (await r.json()) as { message: string };
      expect(Object.keys(body)).toEqual(["message"]);
      expect(body.message).toContain("NoSuchProxy");
      expect(await proxyNames(f)).toContain("keep-me");
      expect(await through(f.mixedPort)).toBe("hello from origin\n");
      const yaml = await put(f, { payload: "mode: [unclosed" });
      expect(yaml.status).toBe(400);
      expect(await through(f.mixedPort)).toBe("hello from origin\n");
      expect((await put(f, "")).status).toBe(400);
      expect((await f.api("/configs", { method: "PUT" })).status).toBe(400);
    } finally {
      await f.stop();
    }
  });

  test("payload applies at once; without force the built-in listeners stay, with force=true they follow the file", async () => {
    const f = await startFerry("rules:\n  - MATCH,DIRECT\n");
    try {
      const other = freePort();
      let r = await put(f, { payload: `mixed-port: ${other}\nproxies:\n  - {name: fresh, type: direct}\nrules:\n  - MATCH,REJECT\n` });
      expect(r.status).toBe(204);
      expect(await proxyNames(f)).toContain("fresh");
      expect((await configs(f))["mixed-port"]).toBe(f.mixedPort);
      // New rules are in force on the listener that stayed.
      expect(await through(f.mixedPort)).toBe("");
      r = await put(f, { payload: `mixed-port: ${other}\nrules:\n  - MATCH,DIRECT\n` }, "?force=true");
      expect(r.status).toBe(204);
      expect((await configs(f))["mixed-port"]).toBe(other);
      expect(await through(other)).toBe("hello from origin\n");
      expect(await through(f.mixedPort)).toBe("");
    } finally {
      await f.stop();
    }
  });

  test("path: absolute and inside the home directory (or SAFE_PATHS); an empty path re-reads the start-up config", async () => {
    const f = await startFerry("proxies:\n  - {name: original, type: direct}\n");
    try {
      let r = await put(f, { path: "relative.yaml" });
      expect(await r.json()).toEqual({ message: "path is not a absolute path" });
      r = await put(f, { path: "/etc/passwd" });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toStartWith("path is not subpath of home directory or SAFE_PATHS: /etc/passwd");
      const file = join(f.home, "other.yaml");
      writeFileSync(file, "proxies:\n  - {name: from-file, type: direct}\n");
      expect((await put(f, { path: file, payload: "" })).status).toBe(204);
      expect(await proxyNames(f)).toContain("from-file");
      r = await put(f, { path: join(f.home, "missing.yaml") });
      expect(r.status).toBe(400);
      expect((await put(f, { path: "", payload: "" })).status).toBe(204);
      expect(await proxyNames(f)).toContain("original");
    } finally {
      await f.stop();
    }
  });

  test("listeners with unchanged settings keep their socket; a select group keeps its choice", async () => {
    const config = "proxies:\n  - {name: a, type: direct}\nproxy-groups:\n  - {name: G, type: select, proxies: [DIRECT, a]}\n";
    const f = await startFerry(config);
    try {
      const before = f.runtime.engine!.inbounds.map((r) => r.inbound);
      expect((await f.api("/proxies/G", { method: "PUT", body: '{"name":"a"}' })).status).toBe(204);
      expect((await put(f, { payload: `mixed-port: ${f.mixedPort}\n${config}rules:\n  - MATCH,G\n` }, "?force=true")).status).toBe(204);
      expect(f.runtime.engine!.inbounds.map((r) => r.inbound)).toEqual(before);
      expect(((await (await f.api("/proxies/G")).json()) as { now: string }).now).toBe("a");
      expect(await through(f.mixedPort)).toBe("hello from origin\n");
    } finally {
      await f.stop();
    }
  });

  test("a reload under load: 100 connections streaming through ferry stay open and keep flowing", async () => {
    const echo = startEcho();
    const config = "proxies:\n  - {name: out, type: direct}\nrules:\n  - MATCH,out\n";
    const f = await startFerry(config);
    try {
      const clients = await Promise.all(Array.from({ length: 100 }, () => connectThrough(f.mixedPort, echo.port)));
      let closedEarly = 0;
      for (const c of clients) void c.closed.then(() => closedEarly++);
      const echoes = await Promise.all(clients.map((c, i) => c.roundTrip(`before-${i}`)));
      expect(echoes.every((e, i) => e === `before-${i}`)).toBe(true);
      expect(f.runtime.tracker.size).toBe(100);
      // New rules and a new proxy; `out` and the listener are unchanged.
      const next = `${config.replace("MATCH,out", "DOMAIN,example.com,extra\n  - MATCH,out")}`.replace("proxies:\n", "proxies:\n  - {name: extra, type: direct}\n");
      // Bytes are in flight on every connection while the reload runs.
      const during = Promise.all(clients.map((c, i) => c.roundTrip(`during-${i}`)));
      expect((await put(f, { payload: `mixed-port: ${f.mixedPort}\n${next}` })).status).toBe(204);
      expect((await during).every((e, i) => e === `during-${i}`)).toBe(true);
      expect(await proxyNames(f)).toContain("extra");
      const after = await Promise.all(clients.map((c, i) => c.roundTrip(`after-${i}-${"x".repeat(4096)}`)));
      expect(after.every((e, i) => e === `after-${i}-${"x".repeat(4096)}`)).toBe(true);
      expect(closedEarly).toBe(0);
      expect(clients.every((c) => c.established)).toBe(true);
      const snapshot = (await (await f.api("/connections")).json()) as { connections: { chains: string[] }[] };
      expect(snapshot.connections).toHaveLength(100);
      expect(snapshot.connections.every((c) => c.chains[0] === "out")).toBe(true);
      for (const c of clients) c.close();
    } finally {
      await f.stop();
      echo.stop();
    }
  });
});

describe("PATCH /configs", () => {
  let f: Ferry;
  beforeAll(async () => {
    f = await startFerry("rules:\n  - IP-CIDR,127.0.0.0/8,REJECT\n  - MATCH,DIRECT\n");
  });
  afterAll(() => f.stop());

  test("mode (case-insensitive) takes effect at once: Global routes through GLOBAL instead of the rules", async () => {
    expect(await through(f.mixedPort)).toBe("");
    expect((await patch(f, { mode: "Global" })).status).toBe(204);
    expect((await configs(f)).mode).toBe("global");
    expect(await through(f.mixedPort)).toBe("hello from origin\n");
    expect((await patch(f, { mode: "rule" })).status).toBe(204);
    expect(await through(f.mixedPort)).toBe("");
  });

  test("log-level takes effect at once", async () => {
    const was = getLogLevel();
    try {
      expect((await patch(f, { "log-level": "ERROR" })).status).toBe(204);
      expect(getLogLevel()).toBe("error");
      expect((await configs(f))["log-level"]).toBe("error");
    } finally {
      setLogLevel(was);
    }
  });

  test("disabling a rule with PATCH /rules/disable changes routing at once", async () => {
    expect((await f.api("/rules/disable", { method: "PATCH", body: '{"0":true}' })).status).toBe(204);
    expect(await through(f.mixedPort)).toBe("hello from origin\n");
    expect((await f.api("/rules/disable", { method: "PATCH", body: '{"0":false}' })).status).toBe(204);
    expect(await through(f.mixedPort)).toBe("");
  });

  test("ports: a new mixed-port moves the listener; an unchanged value keeps the socket; 0 closes it", async () => {
    const first = f.runtime.engine!.inbounds[0]!.inbound;
    expect((await patch(f, { "mixed-port": f.mixedPort, ipv6: false })).status).toBe(204);
    expect(f.runtime.engine!.inbounds[0]!.inbound).toBe(first);
    expect((await configs(f)).ipv6).toBe(false);
    const moved = freePort();
    expect((await patch(f, { "mixed-port": moved, mode: "direct" })).status).toBe(204);
    expect((await configs(f))["mixed-port"]).toBe(moved);
    expect(await through(moved)).toBe("hello from origin\n");
    expect(await through(f.mixedPort)).toBe("");
    const socks = freePort();
    expect((await patch(f, { "socks-port": socks })).status).toBe(204);
    expect((await configs(f))["socks-port"]).toBe(socks);
    const r = await curl(["--socks5-hostname", `127.0.0.1:${socks}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(r.stdout).toBe("hello from origin\n");
    expect((await patch(f, { "socks-port": 0, "mixed-port": 70000 })).status).toBe(204);
    const c = await configs(f);
    expect(c["socks-port"]).toBe(0);
    expect(c["mixed-port"]).toBe(moved);
  });

  test("allow-lan re-binds the built-in listeners on bind-address", async () => {
    expect((await patch(f, { "allow-lan": true, "bind-address": "127.0.0.2" })).status).toBe(204);
    const c = await configs(f);
    expect(c["allow-lan"]).toBe(true);
    expect(c["bind-address"]).toBe("127.0.0.2");
    const port = c["mixed-port"] as number;
    expect(f.runtime.engine!.addresses("DEFAULT-MIXED")).toEqual([`127.0.0.2:${port}`]);
    expect(await through(port)).toBe("");
    expect((await patch(f, { "allow-lan": false })).status).toBe(204);
    expect(f.runtime.engine!.addresses("DEFAULT-MIXED")).toEqual([`127.0.0.1:${port}`]);
  });

  test("PATCH values are forgotten on the next reload", async () => {
    expect((await patch(f, { mode: "global" })).status).toBe(204);
    expect((await put(f, { payload: "rules:\n  - MATCH,DIRECT\n" })).status).toBe(204);
    expect((await configs(f)).mode).toBe("rule");
  });
});
