/**
 * Every endpoint of controller-api.md answered by a running ferry: exact status, exact keys and
 * types (schemas.ts), error messages, and the side effects a dashboard relies on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Ferry, expectSchema, startFerry, VERSION } from "./helpers.ts";
import * as S from "./schemas.ts";
import { startOrigin } from "../helpers.ts";

const SECRET = "s3cr3t";
const GROUP = "🚀 Proxy/HK";
const NODE = "a/b 😀 #1";
const enc = encodeURIComponent;

let origin: ReturnType<typeof startOrigin>;
let ferry: Ferry;

beforeAll(async () => {
  origin = startOrigin();
  ferry = await startFerry(
    [
      "proxies:",
      "  - {name: hop, type: direct}",
      `  - {name: ${JSON.stringify(NODE)}, type: direct}`,
      "proxy-groups:",
      `  - {name: ${JSON.stringify(GROUP)}, type: select, proxies: [${JSON.stringify(NODE)}, hop, DIRECT], url: "http://127.0.0.1:${origin.port}/hello"}`,
      '  - {name: Hidden, type: select, proxies: [DIRECT], hidden: true, icon: "https://example.com/i.png"}',
      "rules:",
      `  - DOMAIN-SUFFIX,example.com,${GROUP}`,
      "  - IP-CIDR,10.0.0.0/8,REJECT",
      "  - MATCH,DIRECT",
    ].join("\n"),
    { secret: SECRET },
  );
});

afterAll(async () => {
  await ferry.stop();
  origin.stop();
});

async function jsonOf(r: Response, status: number): Promise<unknown> {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/json");
  const text = await r.text();
  expect(text.endsWith("\n")).toBe(true);
  return JSON.parse(text);
}

async function expectError(r: Response, status: number, message: string): Promise<void> {
  const body = await jsonOf(r, status);
  expectSchema(S.ErrorBody, body);
  expect(body).toEqual({ message });
}

async function expectNoContent(r: Response): Promise<void> {
  expect(r.status).toBe(204);
  expect(r.headers.get("content-type")).toBeNull();
  expect(await r.text()).toBe("");
}

describe("identity", () => {
  test("GET / greets as mihomo, GET /version reports ferry's own version with meta: true", async () => {
    expectSchema(S.Hello, await jsonOf(await ferry.api("/"), 200));
    const v = await jsonOf(await ferry.api("/version"), 200);
    expectSchema(S.Version, v);
    expect(v).toEqual({ meta: true, version: VERSION });
  });

  test("unrouted paths answer Go's plain 404; routed collections accept a trailing slash", async () => {
    const r = await ferry.api("/hello");
    expect(r.status).toBe(404);
    expect(await r.text()).toBe("404 page not found\n");
    expectSchema(S.Proxies, await jsonOf(await ferry.api("/proxies/"), 200));
  });
});

describe("/configs", () => {
  test("GET: every key of §7.6 with its type; live ports and settings", async () => {
    const c = (await jsonOf(await ferry.api("/configs"), 200)) as Record<string, unknown>;
    expectSchema(S.Configs, c);
    expect(c["mixed-port"]).toBe(ferry.mixedPort);
    expect(c.port).toBe(0);
    expect(c.mode).toBe("rule");
    expect(c["allow-lan"]).toBe(false);
    expect(c).not.toHaveProperty("secret");
  });

  test("PATCH: bad bodies are refused whole with 400 Body invalid, nothing applied", async () => {
    for (const body of ["", "[]", '"x"', '{"mode":"script"}', '{"mode":"Global","port":"80"}', '{"allow-lan":"yes"}', '{"tun":{"stack":"lwip"}}', '{"lan-allowed-ips":["nope"]}']) {
      await expectError(await ferry.api("/configs", { method: "PATCH", body }), 400, "Body invalid");
    }
    const c = (await jsonOf(await ferry.api("/configs"), 200)) as Record<string, unknown>;
    expect(c.mode).toBe("rule");
  });

  test("PATCH ignores unknown and no-op keys (204)", async () => {
    await expectNoContent(await ferry.api("/configs", { method: "PATCH", body: '{"unified-delay":true,"socket-port":1,"dns":{},"whatever":1}' }));
  });

  test("POST /configs/geo and /upgrade/geo: 204 when the config uses no GEO file (nothing to download)", async () => {
    for (const path of ["/configs/geo", "/upgrade/geo"]) {
      await expectNoContent(await ferry.api(path, { method: "POST", body: '{"path":"","payload":""}' }));
    }
  });
});

describe("/proxies", () => {
  test("GET: built-ins, config proxies, groups and GLOBAL with their wire types; GLOBAL.all orders the groups", async () => {
    const body = (await jsonOf(await ferry.api("/proxies"), 200)) as { proxies: Record<string, Record<string, unknown>> };
    expectSchema(S.Proxies, body);
    const p = body.proxies;
    expect(Object.keys(p).sort()).toEqual(["COMPATIBLE", "DIRECT", "GLOBAL", GROUP, "Hidden", "PASS", "REJECT", "REJECT-DROP", NODE, "hop"].sort());
    expect(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v.type]))).toEqual({
      DIRECT: "Direct",
      REJECT: "Reject",
      "REJECT-DROP": "RejectDrop",
      PASS: "Pass",
      COMPATIBLE: "Compatible",
      hop: "Direct",
      [NODE]: "Direct",
      [GROUP]: "Selector",
      Hidden: "Selector",
      GLOBAL: "Selector",
    });
    expect(p.GLOBAL!.all).toEqual(["DIRECT", "REJECT", "hop", NODE, GROUP, "Hidden"]);
    expect(p.GLOBAL!.now).toBe("DIRECT");
    expect(p.Hidden!.hidden).toBe(true);
    expect(p.Hidden!.icon).toBe("https://example.com/i.png");
    // A Selector's testUrl is its configured url (empty only for the default one).
    expect(p[GROUP]!.testUrl).toBe(`http://127.0.0.1:${origin.port}/hello`);
    expect(p.GLOBAL!.testUrl).toBe("");
    expect(p.DIRECT!.history).toEqual([]);
    expect(p.DIRECT!.extra).toEqual({});
  });

  test("GET /proxies/{name} with '/', spaces, emoji and '#' percent-encoded; unknown → 404", async () => {
    const leaf = (await jsonOf(await ferry.api(`/proxies/${enc(NODE)}`), 200)) as Record<string, unknown>;
    expectSchema(S.Leaf, leaf);
    expect(leaf.name).toBe(NODE);
    const group = (await jsonOf(await ferry.api(`/proxies/${enc(GROUP)}`), 200)) as Record<string, unknown>;
    expectSchema(S.SelectorGroup, group);
    expect(group.all).toEqual([NODE, "hop", "DIRECT"]);
    await expectError(await ferry.api("/proxies/nope"), 404, "Resource not found");
    await expectError(await ferry.api(`/proxies/${enc("🚀 Proxy")}`), 404, "Resource not found");
  });

  test("PUT selects a member whatever the Content-Type; errors per §7.16", async () => {
    const path = `/proxies/${enc(GROUP)}`;
    await expectNoContent(await ferry.api(path, { method: "PUT", body: JSON.stringify({ name: "hop" }), headers: { "content-type": "text/plain;charset=UTF-8" } }));
    expect(((await jsonOf(await ferry.api(path), 200)) as { now: string }).now).toBe("hop");
    await expectNoContent(await ferry.api(path, { method: "PUT", body: JSON.stringify({ name: NODE }), headers: { "content-type": "application/json" } }));
    expect(((await jsonOf(await ferry.api(path), 200)) as { now: string }).now).toBe(NODE);
    await expectError(await ferry.api(path, { method: "PUT", body: '{"name":"nope"}' }), 400, "Selector update error: proxy not exist");
    await expectError(await ferry.api(path, { method: "PUT", body: "" }), 400, "Body invalid");
    await expectError(await ferry.api(path, { method: "PUT", body: "{not json" }), 400, "Body invalid");
    await expectError(await ferry.api(path, { method: "PUT", body: '{"name":3}' }), 400, "Body invalid");
    await expectError(await ferry.api("/proxies/hop", { method: "PUT", body: '{"name":"DIRECT"}' }), 400, "Must be a Selector");
    await expectError(await ferry.api("/proxies/nope", { method: "PUT", body: '{"name":"DIRECT"}' }), 404, "Resource not found");
    // Trailing bytes after the first JSON value are ignored, like Go's decoder.
    await expectNoContent(await ferry.api(path, { method: "PUT", body: '{"name":"DIRECT"} trailing' }));
  });

  test("DELETE clears pins of URLTest/Fallback only: 400 for a Selector or leaf, 404 unknown; a JSON Content-Type on no body is fine", async () => {
    await expectError(await ferry.api(`/proxies/${enc(GROUP)}`, { method: "DELETE", headers: { "content-type": "application/json" } }), 400, "Body invalid");
    await expectError(await ferry.api("/proxies/hop", { method: "DELETE" }), 400, "Body invalid");
    await expectError(await ferry.api("/proxies/nope", { method: "DELETE" }), 404, "Resource not found");
  });
});

describe("/group", () => {
  test("GET /group lists the groups (an array); /group/{name} 404s for leaves and unknown names", async () => {
    const body = (await jsonOf(await ferry.api("/group"), 200)) as { proxies: { name: string }[] };
    expectSchema(S.Groups, body);
    expect(body.proxies.map((g) => g.name).sort()).toEqual(["GLOBAL", GROUP, "Hidden"].sort());
    expectSchema(S.SelectorGroup, await jsonOf(await ferry.api(`/group/${enc(GROUP)}`), 200));
    await expectError(await ferry.api("/group/hop"), 404, "Resource not found");
    await expectError(await ferry.api("/group/nope/delay?timeout=100"), 404, "Resource not found");
  });
});

describe("/rules", () => {
  test("GET: runtime type names, payloads, targets, size -1 and extra counters", async () => {
    const body = (await jsonOf(await ferry.api("/rules"), 200)) as { rules: Record<string, unknown>[] };
    expectSchema(S.Rules, body);
    expect(body.rules.map((r) => [r.index, r.type, r.payload, r.proxy, r.size])).toEqual([
      [0, "DomainSuffix", "example.com", GROUP, -1],
      [1, "IPCIDR", "10.0.0.0/8", "REJECT", -1],
      [2, "Match", "", "DIRECT", -1],
    ]);
  });

  test("PATCH /rules/disable: 204, reflected in extra.disabled; bad bodies 400; out-of-range skipped", async () => {
    await expectNoContent(await ferry.api("/rules/disable", { method: "PATCH", body: '{"1":true,"99":true,"-1":false}' }));
    let rules = ((await jsonOf(await ferry.api("/rules"), 200)) as { rules: { extra: { disabled: boolean } }[] }).rules;
    expect(rules.map((r) => r.extra.disabled)).toEqual([false, true, false]);
    for (const body of ["", "[]", '{"x":true}', '{"0":"yes"}', '{"1.5":true}']) {
      await expectError(await ferry.api("/rules/disable", { method: "PATCH", body }), 400, "Body invalid");
    }
    await expectNoContent(await ferry.api("/rules/disable", { method: "PATCH", body: '{"1":false}' }));
    rules = ((await jsonOf(await ferry.api("/rules"), 200)) as { rules: { extra: { disabled: boolean } }[] }).rules;
    expect(rules.map((r) => r.extra.disabled)).toEqual([false, false, false]);
  });
});

describe("/connections", () => {
  test("GET without connections: `connections: []` (not null), totals and memory; DELETEs answer 204", async () => {
    const body = (await jsonOf(await ferry.api("/connections"), 200)) as { connections: unknown };
    expectSchema(S.Snapshot, body);
    expect(body.connections).toEqual([]);
    await expectNoContent(await ferry.api("/connections", { method: "DELETE", headers: { "content-type": "application/json" } }));
    await expectNoContent(await ferry.api("/connections/not-an-id", { method: "DELETE" }));
  });
});

describe("/providers", () => {
  test("proxy providers: a Compatible provider per group with a proxies list, and default", async () => {
    const body = (await jsonOf(await ferry.api("/providers/proxies"), 200)) as { providers: Record<string, Record<string, unknown>> };
    expectSchema(S.ProxyProviders, body);
    expect(Object.keys(body.providers).sort()).toEqual([GROUP, "Hidden", "default"].sort());
    const g = body.providers[GROUP]!;
    expect((g.proxies as { name: string }[]).map((p) => p.name)).toEqual([NODE, "hop", "DIRECT"]);
    expect(g.testUrl).toBe(`http://127.0.0.1:${origin.port}/hello`);
    expect(body.providers.default!.testUrl).toBe("");
    expect((body.providers.default!.proxies as { name: string }[]).map((p) => p.name)).toEqual(["DIRECT", "REJECT", "hop", NODE, GROUP, "Hidden"]);
    expectSchema(S.CompatibleProvider, await jsonOf(await ferry.api(`/providers/proxies/${enc(GROUP)}`), 200));
    await expectError(await ferry.api("/providers/proxies/nope"), 404, "Resource not found");
    await expectNoContent(await ferry.api("/providers/proxies/default", { method: "PUT" }));
    await expectError(await ferry.api("/providers/proxies/nope", { method: "PUT" }), 404, "Resource not found");
  });

  test("provider nodes: GET and healthcheck; the provider health check tests every node with its URL", async () => {
    expectSchema(S.Leaf, await jsonOf(await ferry.api(`/providers/proxies/${enc(GROUP)}/hop`), 200));
    await expectError(await ferry.api(`/providers/proxies/${enc(GROUP)}/REJECT`), 404, "Resource not found");
    const url = `http://127.0.0.1:${origin.port}/hello`;
    expectSchema(S.Delay, await jsonOf(await ferry.api(`/providers/proxies/${enc(GROUP)}/hop/healthcheck?timeout=5000&url=${enc(url)}`), 200));
    await expectError(await ferry.api(`/providers/proxies/${enc(GROUP)}/hop/healthcheck?url=${enc(url)}`), 400, "Body invalid");
    await expectNoContent(await ferry.api(`/providers/proxies/${enc(GROUP)}/healthcheck`));
    const node = (await jsonOf(await ferry.api(`/proxies/${enc(NODE)}`), 200)) as { history: unknown[]; extra: Record<string, { alive: boolean }> };
    expect(node.history.length).toBe(1);
    expect(node.extra[url]!.alive).toBe(true);
  });

  test("rule providers: none ({}), and PUT on an unknown one is 404", async () => {
    expectSchema(S.RuleProviders, await jsonOf(await ferry.api("/providers/rules"), 200));
    await expectError(await ferry.api("/providers/rules/nope", { method: "PUT" }), 404, "Resource not found");
  });
});

describe("DNS, caches, storage, upgrade", () => {
  test("GET /dns/query while the DNS section is disabled: 500 with mihomo's message", async () => {
    await expectError(await ferry.api("/dns/query?name=example.com&type=A"), 500, "DNS section is disabled");
  });

  test("POST /cache/fakeip/flush and /cache/dns/flush: 204", async () => {
    await expectNoContent(await ferry.api("/cache/fakeip/flush", { method: "POST" }));
    await expectNoContent(await ferry.api("/cache/dns/flush", { method: "POST" }));
  });

  test("/storage/{key}: null when absent, verbatim JSON, 400 invalid, 413 over 1 MiB, DELETE 204", async () => {
    const path = `/storage/${enc("zash board")}`;
    let r = await ferry.api(path);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(await r.text()).toBe("null");
    const value = '{ "theme": "dark", "n": [1, 2] }';
    await expectNoContent(await ferry.api(path, { method: "PUT", body: value }));
    r = await ferry.api(path);
    expect(await r.text()).toBe(value);
    await expectError(await ferry.api(path, { method: "PUT", body: "{oops" }), 400, "Body invalid");
    await expectError(await ferry.api(path, { method: "PUT", body: "" }), 400, "Body invalid");
    await expectError(await ferry.api(path, { method: "PUT", body: JSON.stringify("x".repeat(1024 * 1024)) }), 413, "payload exceeds 1MB limit");
    await expectNoContent(await ferry.api(path, { method: "DELETE" }));
    expect(await (await ferry.api(path)).text()).toBe("null");
    expect(existsSync(join(ferry.home, "cache.db"))).toBe(true);
  });

  test("POST /upgrade refuses without side effects (500 with a message)", async () => {
    const body = await jsonOf(await ferry.api("/upgrade?channel=release", { method: "POST", body: '{"path":"","payload":""}' }), 500);
    expectSchema(S.ErrorBody, body);
    expect((body as { message: string }).message).toStartWith("update error: ");
  });
});

describe("/upgrade/ui and /ui", () => {
  test("downloads a tar.gz or zip from external-ui-url, unpacks a single top folder, serves it at /ui/ without the secret", async () => {
    const tgz = await new Bun.Archive({ "dist/index.html": "<h1>ui</h1>", "dist/js/app.js": "1;" }, { compress: "gzip" }).bytes();
    const zip = storedZip({ "pkg/index.html": "<h1>zip</h1>", "pkg/js/app.js": "2;" });
    const evil = storedZip({ "pkg/index.html": "<h1>evil</h1>", "../evil.txt": "no" });
    const files: Record<string, Uint8Array> = { "/ui.zip": zip, "/evil.zip": evil };
    const archives = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => new Response(files[new URL(req.url).pathname] ?? tgz),
    });
    const uiDir = join(ferry.home, "ui");
    mkdirSync(uiDir, { recursive: true });
    const withUi = await startFerry(`external-ui: ui\nexternal-ui-url: "http://127.0.0.1:${archives.port}/ui.tgz"\n`, { secret: SECRET, settings: { externalUi: uiDir } });
    try {
      expectSchema(S.Status, await jsonOf(await withUi.api("/upgrade/ui", { method: "POST", body: '{"path":"","payload":""}' }), 200));
      const open = (path: string) => fetch(withUi.base + path, { redirect: "manual" });
      let r = await open("/ui");
      expect(r.status).toBe(307);
      expect(r.headers.get("location")).toBe("/ui/");
      r = await open("/ui/");
      expect(r.status).toBe(200);
      expect(await r.text()).toBe("<h1>ui</h1>");
      expect(await (await open("/ui/js/app.js")).text()).toBe("1;");
      expect((await open("/ui/index.html")).status).toBe(301);
      expect((await open("/ui/missing.js")).status).toBe(404);
      // An encoded "../" must not leave the UI directory.
      expect((await open("/ui/..%2Fcache.db")).status).toBe(404);
      // An archive with an entry escaping the target is refused whole; the UI in place stays.
      await withUi.api("/configs", { method: "PUT", body: JSON.stringify({ payload: `external-ui-url: "http://127.0.0.1:${archives.port}/evil.zip"\n` }) });
      const refused = await withUi.api("/upgrade/ui", { method: "POST" });
      expect(refused.status).toBe(500);
      expect(((await refused.json()) as { message: string }).message).toContain("../evil.txt");
      expect(await (await open("/ui/")).text()).toBe("<h1>ui</h1>");
      expect(existsSync(join(ferry.home, "evil.txt"))).toBe(false);
      // The same with a clean zip.
      await withUi.api("/configs", { method: "PUT", body: JSON.stringify({ payload: `external-ui-url: "http://127.0.0.1:${archives.port}/ui.zip"\n` }) });
      expectSchema(S.Status, await jsonOf(await withUi.api("/upgrade/ui", { method: "POST" }), 200));
      expect(await (await open("/ui/")).text()).toBe("<h1>zip</h1>");
      expect(await (await open("/ui/js/app.js")).text()).toBe("2;");
    } finally {
      await withUi.stop();
      archives.stop(true);
    }
  });
});

describe("/debug and the DoH path", () => {
  test("with log-level debug: PUT /debug/gc answers 200 with an empty body, and needs the secret (decided deviation)", async () => {
    const dbg = await startFerry("log-level: debug\n", { secret: SECRET });
    try {
      const r = await dbg.api("/debug/gc", { method: "PUT" });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe("");
      await expectError(await fetch(`${dbg.base}/debug/gc`, { method: "PUT" }), 401, "Unauthorized");
      expect((await dbg.api("/debug/vars")).status).toBe(200);
    } finally {
      await dbg.stop();
    }
    // Without debug the routes do not exist.
    expect((await ferry.api("/debug/gc", { method: "PUT" })).status).toBe(404);
  });

  test("external-doh-server is served without the secret; with DNS disabled it answers mihomo's plain 500", async () => {
    const doh = await startFerry('external-doh-server: "/dns-query"\n', { secret: SECRET });
    try {
      const r = await fetch(`${doh.base}/dns-query?dns=AAABAAABAAAAAAAAB2V4YW1wbGUDY29tAAABAAE`);
      expect(r.status).toBe(500);
      expect(await r.text()).toBe("DNS section is disabled");
      expect((await fetch(`${doh.base}/dns-query`, { method: "PUT" })).status).toBe(405);
    } finally {
      await doh.stop();
    }
  });
});

/** A zip with stored (uncompressed) entries: enough to exercise the reader without a zip tool. */
function storedZip(files: Record<string, string>): Uint8Array {
  const enc8 = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const n = enc8.encode(name);
    const data = enc8.encode(content);
    const crc = Bun.hash.crc32(data);
    const local = new Uint8Array(30 + n.length + data.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 10, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    local.set(data, 30 + n.length);
    const central = new Uint8Array(46 + n.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 10, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    central.set(n, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...locals, ...centrals, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
