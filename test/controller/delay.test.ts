/**
 * Latency tests (controller-api.md §7.18, §7.21): dialled through the proxy under test with the
 * tunnel's outbounds, `HEAD` to a local origin, timed; results recorded in history/extra.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { freePort, startOrigin } from "../helpers.ts";
import { type Ferry, expectSchema, startFerry } from "./helpers.ts";
import * as S from "./schemas.ts";

const enc = encodeURIComponent;
const fixtures = join(import.meta.dir, "fixtures");

let origin: ReturnType<typeof startOrigin>;
let silent: { port: number; stop(closeActive?: boolean): void };
let ferry: Ferry;
let hello: string;

beforeAll(async () => {
  origin = startOrigin();
  hello = `http://127.0.0.1:${origin.port}/hello`;
  // Accepts and never answers: a test against it can only time out.
  silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  ferry = await startFerry(
    [
      "proxies:",
      `  - {name: fwd, type: forward, to: "127.0.0.1:${origin.port}"}`,
      "proxy-groups:",
      '  - {name: "Auto 🌐", type: select, proxies: [DIRECT, REJECT, fwd]}',
      "  - {name: Dead, type: select, proxies: [REJECT, REJECT-DROP]}",
    ].join("\n"),
    { secret: "d", pluginDirs: [resolve(import.meta.dir, "../../examples/plugins")] },
  );
});
afterAll(async () => {
  await ferry.stop();
  origin.stop();
  silent.stop(true);
});

const delay = (name: string, query: string) => ferry.api(`/proxies/${enc(name)}/delay?${query}`);
const proxy = async (name: string) => (await (await ferry.api(`/proxies/${enc(name)}`)).json()) as { alive: boolean; history: { delay: number }[]; extra: Record<string, { alive: boolean; history: { delay: number }[] }> };

describe("GET /proxies/{name}/delay", () => {
  test("DIRECT to a local origin: 200 {delay}, recorded in history and extra[url]", async () => {
    const r = await delay("DIRECT", `timeout=5000&url=${enc(hello)}`);
    expect(r.status).toBe(200);
    const body = await r.json();
    expectSchema(S.Delay, body);
    const p = await proxy("DIRECT");
    expect(p.alive).toBe(true);
    expect(p.history.at(-1)!.delay).toBe((body as { delay: number }).delay);
    expect(p.extra[hello]!.alive).toBe(true);
    expectSchema(S.Leaf, p);
  });

  test("the test is dialled through the proxy: `fwd` carries a URL no one else could reach", async () => {
    // fwd sends every connection to the origin whatever the destination.
    const url = "http://unreachable.invalid:9/hello";
    const r = await delay("fwd", `timeout=5000&url=${enc(url)}`);
    expect(r.status).toBe(200);
    expect((await delay("DIRECT", `timeout=3000&url=${enc(url)}`)).status).toBe(503);
  });

  test("a group is tested through its current member and the result lands on the group", async () => {
    const r = await delay("Auto 🌐", `timeout=5000&url=${enc(hello)}`);
    expect(r.status).toBe(200);
    const g = await proxy("Auto 🌐");
    expect(g.history).toHaveLength(1);
    expectSchema(S.SelectorGroup, g);
  });

  test("deadline hit → 504 Timeout; failed dial or reply → 503; both recorded as delay 0", async () => {
    const started = performance.now();
    let r = await delay("DIRECT", `timeout=300&url=${enc(`http://127.0.0.1:${silent.port}/`)}`);
    expect(r.status).toBe(504);
    expect(await r.json()).toEqual({ message: "Timeout" });
    expect(performance.now() - started).toBeLessThan(3_000);
    r = await delay("DIRECT", `timeout=2000&url=${enc(`http://127.0.0.1:${freePort()}/`)}`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ message: "An error occurred in the delay test" });
    r = await delay("REJECT", `timeout=2000&url=${enc(hello)}`);
    expect(r.status).toBe(503);
    r = await delay("DIRECT", "timeout=2000&url=not-a-url");
    expect(r.status).toBe(503);
    r = await delay("DIRECT", `timeout=0&url=${enc(hello)}`);
    expect(r.status).toBe(504);
    const p = await proxy("DIRECT");
    expect(p.alive).toBe(false);
    expect(p.history.at(-1)!.delay).toBe(0);
  });

  test("an unexpected status still answers 200 but is recorded as a failure for that URL", async () => {
    const r = await delay("DIRECT", `timeout=5000&url=${enc(hello)}&expected=204`);
    expect(r.status).toBe(200);
    const p = await proxy("DIRECT");
    expect(p.alive).toBe(true);
    expect(p.history.at(-1)!.delay).toBeGreaterThan(0);
    expect(p.extra[hello]!.alive).toBe(false);
    expect(p.extra[hello]!.history.at(-1)!.delay).toBe(0);
    expect((await delay("DIRECT", `timeout=5000&url=${enc(hello)}&expected=200-299/204`)).status).toBe(200);
    expect((await proxy("DIRECT")).extra[hello]!.alive).toBe(true);
  });

  test("bad parameters → 400 Body invalid; unknown name → 404", async () => {
    for (const q of [`url=${enc(hello)}`, "timeout=abc", "timeout=32768", "timeout=1.5", "timeout=100&expected=abc", "timeout=100&expected=1-2-3"]) {
      const r = await delay("DIRECT", q);
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ message: "Body invalid" });
    }
    expect((await delay("nope", "timeout=100")).status).toBe(404);
  });

  test("https: the TLS handshake runs over the proxied stream and the certificate is verified", async () => {
    const tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { key: Bun.file(join(fixtures, "localhost-key.pem")), cert: Bun.file(join(fixtures, "localhost-cert.pem")) },
      fetch: () => new Response(null, { status: 204 }),
    });
    const url = `https://localhost:${tls.port}/generate_204`;
    try {
      // Self-signed: refused by verification.
      expect((await delay("DIRECT", `timeout=5000&url=${enc(url)}`)).status).toBe(503);
      const was = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
      try {
        const r = await delay("DIRECT", `timeout=5000&url=${enc(url)}&expected=204`);
        expect(r.status).toBe(200);
        expect((await proxy("DIRECT")).extra[url]!.alive).toBe(true);
      } finally {
        if (was === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        else process.env.NODE_TLS_REJECT_UNAUTHORIZED = was;
      }
    } finally {
      tls.stop(true);
    }
  });

  test("unified-delay times a second request on the same connection", async () => {
    const f = await startFerry("unified-delay: true\n");
    try {
      const r = await f.api(`/proxies/DIRECT/delay?timeout=5000&url=${enc(hello)}`);
      expect(r.status).toBe(200);
      expectSchema(S.Delay, await r.json());
    } finally {
      await f.stop();
    }
  });
});

describe("GET /group/{name}/delay", () => {
  test("every member at once: successes only, keyed by name", async () => {
    const r = await ferry.api(`/group/${enc("Auto 🌐")}/delay?timeout=3000&url=${enc(hello)}`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, number>;
    expect(Object.keys(body).sort()).toEqual(["DIRECT", "fwd"]);
    for (const v of Object.values(body)) expect(v).toBeGreaterThan(0);
    const reject = await proxy("REJECT");
    expect(reject.alive).toBe(false);
  });

  test("nothing answers → 504 get delay: all proxies timeout; bad timeout → 400; not a group → 404", async () => {
    const r = await ferry.api(`/group/Dead/delay?timeout=500&url=${enc(hello)}`);
    expect(r.status).toBe(504);
    expect(await r.json()).toEqual({ message: "get delay: all proxies timeout" });
    expect((await ferry.api(`/group/Dead/delay?url=${enc(hello)}`)).status).toBe(400);
    expect((await ferry.api("/group/DIRECT/delay?timeout=100")).status).toBe(404);
  });
});
