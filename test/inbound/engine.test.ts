/** The inbounds behind the real engine and tunnel (routing, DIRECT, REJECT), driven by curl. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { Runtime } from "../../src/core/runtime.ts";
import { curl, startOrigin } from "./helpers.ts";

let origin: Server<undefined>;
let runtime: Runtime;
let home: string;
let mixed: string;
let forward: string;

beforeAll(async () => {
  origin = startOrigin();
  home = mkdtempSync(join(tmpdir(), "ferry-inbound-"));
  const config = `
log-level: silent
listeners:
  - { name: mixed-in, type: mixed, listen: 127.0.0.1, port: 0 }
  - { name: forward-in, type: tunnel, listen: 127.0.0.1, port: 0, network: [tcp], target: "localhost:${origin.port}" }
rules:
  - DOMAIN,blocked.example,REJECT
  - MATCH,DIRECT
`;
  runtime = await Runtime.create({ homeDir: home, configText: config });
  const engine = await runtime.start();
  mixed = engine.addresses("mixed-in")[0]!;
  forward = engine.addresses("forward-in")[0]!;
});

afterAll(async () => {
  await runtime.shutdown(0);
  origin.stop(true);
  rmSync(home, { recursive: true, force: true });
});

describe("inbounds on the engine", () => {
  test("HTTP, CONNECT, SOCKS5 (remote DNS) and SOCKS4 reach the origin through DIRECT", async () => {
    const url = `http://localhost:${origin.port}/hello`;
    const runs = await Promise.all([
      curl(["-x", `http://${mixed}`, url, url]),
      curl(["-p", "-x", `http://${mixed}`, url]),
      curl(["-x", `socks5h://${mixed}`, url]),
      curl(["-x", `socks4://${mixed}`, `http://127.0.0.1:${origin.port}/hello`]),
    ]);
    expect(runs.map((r) => r.stdout)).toEqual(["hello from origin".repeat(2), ...Array(3).fill("hello from origin")]);
  });

  test("a tunnel listener forwards to its target", async () => {
    const r = await curl([`http://${forward}/hello`]);
    expect(r.stdout).toBe("hello from origin");
  });

  test("REJECT: plain HTTP gets 502, SOCKS5 and CONNECT see the connection end", async () => {
    const url = "http://blocked.example/";
    const plain = await curl(["-x", `http://${mixed}`, "-o", "/dev/null", "-w", "%{http_code}", url]);
    expect(plain.stdout).toBe("502");
    const socks = await curl(["-x", `socks5h://${mixed}`, url]);
    expect(socks.exitCode).not.toBe(0);
    const tunnelled = await curl(["-p", "-x", `http://${mixed}`, url]);
    expect(tunnelled.exitCode).not.toBe(0);
  });

  test("a refused dial: 502 for HTTP, reply code 5 for SOCKS5", async () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const closed = l.port;
    l.stop(true);
    const url = `http://127.0.0.1:${closed}/`;
    const plain = await curl(["-x", `http://${mixed}`, "-o", "/dev/null", "-w", "%{http_code}", url]);
    expect(plain.stdout).toBe("502");
    const socks = await curl(["-x", `socks5://${mixed}`, url]);
    expect(socks.stderr).toContain("(5)");
  });
});
