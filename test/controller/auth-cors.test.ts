/** Authentication (controller-api.md §3) and CORS / Private Network Access (§4) on a running ferry. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type LogEntry, onLog } from "../../src/log.ts";
import { type Ferry, rawUpgrade, startFerry, wsMessages } from "./helpers.ts";

const SECRET = "tøp secret";

let ferry: Ferry;
beforeAll(async () => {
  ferry = await startFerry("", { secret: SECRET });
});
afterAll(() => ferry.stop());

const get = (path: string, headers: Record<string, string> = {}) => fetch(ferry.base + path, { headers });

async function expectUnauthorized(r: Response): Promise<void> {
  expect(r.status).toBe(401);
  expect(r.headers.get("www-authenticate")).toBeNull();
  expect(await r.text()).toBe('{"message":"Unauthorized"}\n');
}

describe("authentication with a secret", () => {
  test("Bearer header: exact scheme, one space, exact secret (UTF-8 bytes); anything else is 401 with the JSON body", async () => {
    // fetch sends header text as latin1; the UTF-8 bytes of the secret are what a Go client sends.
    expect((await get("/version", { authorization: `Bearer ${Buffer.from(SECRET).toString("latin1")}` })).status).toBe(200);
    for (const authorization of [undefined, "", "Bearer", `bearer ${SECRET}`, `Bearer  ${SECRET}`, "Bearer wrong", `Basic ${SECRET}`]) {
      await expectUnauthorized(await get("/version", authorization === undefined ? {} : { authorization }));
    }
  });

  test("every route is covered, including PUT/PATCH and unknown names", async () => {
    await expectUnauthorized(await fetch(`${ferry.base}/configs`, { method: "PATCH", body: '{"mode":"global"}' }));
    await expectUnauthorized(await fetch(`${ferry.base}/proxies/GLOBAL`, { method: "PUT", body: '{"name":"REJECT"}' }));
    await expectUnauthorized(await fetch(`${ferry.base}/connections`, { method: "DELETE" }));
    const c = (await (await ferry.api("/configs")).json()) as { mode: string };
    expect(c.mode).toBe("rule");
  });

  test("?token= counts only on WebSocket upgrades; plain HTTP with a token is refused", async () => {
    await expectUnauthorized(await get(`/traffic?token=${encodeURIComponent(SECRET)}`));
    const frames = await wsMessages(`${ferry.base.replace("http", "ws")}/connections?token=${encodeURIComponent(SECRET)}`, 1);
    expect(frames).toHaveLength(1);
  });

  test("WebSocket: a wrong token is 401 before upgrading; an empty token falls back to the header", async () => {
    let r = await rawUpgrade(ferry.base, "/traffic?token=wrong");
    expect(r.status).toBe(401);
    expect(r.body).toBe('{"message":"Unauthorized"}\n');
    // The token decides alone, even with a correct header.
    r = await rawUpgrade(ferry.base, "/traffic?token=wrong", { Authorization: `Bearer ${SECRET}` });
    expect(r.status).toBe(401);
    r = await rawUpgrade(ferry.base, "/traffic?token=");
    expect(r.status).toBe(401);
    r = await rawUpgrade(ferry.base, "/traffic?token=", { Authorization: `Bearer ${SECRET}` });
    expect(r.status).toBe(101);
    await expect(wsMessages(`${ferry.base.replace("http", "ws")}/traffic?token=wrong`, 1)).rejects.toThrow();
  });

  test("a failed attempt is logged with address and path, never with what was sent", async () => {
    const seen: LogEntry[] = [];
    const off = onLog((e) => seen.push(e));
    try {
      await get("/configs", { authorization: "Bearer guess-123" });
      await rawUpgrade(ferry.base, "/logs?token=guess-456");
    } finally {
      off();
    }
    const lines = seen.filter((e) => e.payload.includes("unauthorized")).map((e) => e.payload);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("/configs");
    expect(lines[0]).toContain("127.0.0.1");
    expect(lines.join("\n")).not.toContain("guess-");
  });

  test("the unix socket listener never asks for the secret", async () => {
    const path = join(ferry.home, "ctl.sock");
    const unix = await startFerry("", { secret: SECRET, settings: { externalController: "", externalControllerUnix: path } });
    try {
      const r = await fetch("http://localhost/version", { unix: path });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { meta: boolean }).meta).toBe(true);
    } finally {
      await unix.stop();
    }
  });
});

describe("HTTPS listener", () => {
  test("external-controller-tls serves the same routes with tls.certificate / tls.private-key (paths or PEM text)", async () => {
    const fixtures = join(import.meta.dir, "fixtures");
    const key = await Bun.file(join(fixtures, "localhost-key.pem")).text();
    const tls = await startFerry("", {
      secret: SECRET,
      settings: { externalController: "", externalControllerTls: "127.0.0.1:0", tlsCertificate: join(fixtures, "localhost-cert.pem"), tlsPrivateKey: key },
    });
    try {
      const url = `https://${tls.controller.addresses[0]}/version`;
      const auth = `Bearer ${Buffer.from(SECRET).toString("latin1")}`;
      const r = await fetch(url, { headers: { authorization: auth }, tls: { rejectUnauthorized: false } });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ meta: true, version: "v0.0.0-test" });
      expect((await fetch(url, { tls: { rejectUnauthorized: false } })).status).toBe(401);
    } finally {
      await tls.stop();
    }
  });
});

describe("no secret", () => {
  test("no check at all: headers and tokens are ignored", async () => {
    const open = await startFerry("");
    try {
      expect((await fetch(`${open.base}/version`)).status).toBe(200);
      expect((await fetch(`${open.base}/version`, { headers: { authorization: "Bearer " } })).status).toBe(200);
      expect((await rawUpgrade(open.base, "/memory?token=")).status).toBe(101);
    } finally {
      await open.stop();
    }
  });
});

describe("CORS", () => {
  const preflight = (base: string, headers: Record<string, string>) => fetch(`${base}/proxies/GLOBAL`, { method: "OPTIONS", headers });

  test("a preflight is answered 204 without the secret, with PNA when asked", async () => {
    const r = await preflight(ferry.base, {
      origin: "https://metacubexd.pages.dev",
      "access-control-request-method": "PUT",
      "access-control-request-headers": "authorization, content-type",
      "access-control-request-private-network": "true",
    });
    expect(r.status).toBe(204);
    expect(await r.text()).toBe("");
    expect(Object.fromEntries([...r.headers].filter(([k]) => k.startsWith("access-control") || k === "vary"))).toEqual({
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "PUT",
      "access-control-allow-headers": "authorization, content-type",
      "access-control-max-age": "300",
      "access-control-allow-private-network": "true",
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network",
    });
  });

  test("a preflight asking for other headers or methods gets only Vary", async () => {
    const extras: Record<string, string>[] = [{ "access-control-request-headers": "x-custom" }, { "access-control-request-method": "TRACE" }];
    for (const extra of extras) {
      const r = await preflight(ferry.base, { origin: "https://a.example", "access-control-request-method": "GET", ...extra });
      expect(r.status).toBe(204);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      expect(r.headers.get("vary")).toStartWith("Origin, Access-Control-Request-Method");
    }
  });

  test("real requests get Vary: Origin and the allow header, also on a 401", async () => {
    let r = await fetch(`${ferry.base}/version`, { headers: { origin: "https://yacd.example" } });
    expect(r.status).toBe(401);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("vary")).toBe("Origin");
    r = await fetch(`${ferry.base}/version`, { headers: { origin: "https://yacd.example", authorization: `Bearer ${Buffer.from(SECRET).toString("latin1")}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    r = await ferry.api("/version");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.headers.get("vary")).toBe("Origin");
  });

  test("allow-origins with a wildcard echoes matching origins and leaves others without the header", async () => {
    const listed = await startFerry("", {
      settings: { cors: { allowOrigins: ["https://*.example.com", "http://LOCALHOST:3000"], allowPrivateNetwork: false } },
    });
    try {
      let r = await fetch(`${listed.base}/version`, { headers: { origin: "https://ui.example.com" } });
      expect(r.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
      r = await fetch(`${listed.base}/version`, { headers: { origin: "http://localhost:3000" } });
      expect(r.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
      r = await fetch(`${listed.base}/version`, { headers: { origin: "https://evil.com" } });
      expect(r.status).toBe(200);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      r = await preflight(listed.base, {
        origin: "https://ui.example.com",
        "access-control-request-method": "GET",
        "access-control-request-private-network": "true",
      });
      expect(r.headers.get("access-control-allow-origin")).toBe("https://ui.example.com");
      expect(r.headers.get("access-control-allow-private-network")).toBeNull();
      expect(r.headers.get("vary")).toBe("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    } finally {
      await listed.stop();
    }
  });
});
