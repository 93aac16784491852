import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import type { Inbound } from "../../src/sdk/index.ts";
import { BIG, curl, rawClient, startInbound, startOrigin, startRawOrigin, TestTunnel, text } from "./helpers.ts";

let origin: Server<undefined>;
let tunnel: TestTunnel;
let inbound: Inbound;
let port: number;
let proxy: string;
let base: string;

beforeAll(async () => {
  origin = startOrigin();
  tunnel = new TestTunnel();
  ({ inbound, port } = await startInbound("http", {}, tunnel));
  proxy = `http://127.0.0.1:${port}`;
  base = `http://127.0.0.1:${origin.port}`;
});

afterAll(() => {
  inbound.close();
  origin.stop(true);
});

/** Metadata recorded by the tunnel for the requests a test made. */
function since(n: number) {
  return tunnel.tcp.slice(n);
}

describe("http inbound", () => {
  test("absolute-URI GET goes out in origin-form without proxy headers", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["-x", proxy, "-H", "Proxy-Authorization: Basic eDp5", "-H", "Connection: keep-alive, X-Private", "-H", "X-Private: 1", `${base}/headers`]);
    expect(r.exitCode).toBe(0);
    const body = JSON.parse(r.stdout) as { path: string; headers: Record<string, string> };
    expect(body.path).toBe("/headers");
    expect(body.headers.host).toBe(`127.0.0.1:${origin.port}`);
    expect(body.headers["proxy-connection"]).toBeUndefined();
    expect(body.headers["proxy-authorization"]).toBeUndefined();
    expect(body.headers["x-private"]).toBeUndefined();
    const [m] = since(n);
    expect(m).toMatchObject({ type: "HTTP", network: "tcp", destinationIP: "127.0.0.1", destinationPort: origin.port, host: "" });
    expect(m!.sourceIP).toBe("127.0.0.1");
    expect(m!.inboundPort).toBe(port);
    expect(m!.inboundName).toBe("test-in");
  });

  test("keep-alive: two requests to two hosts on one client connection", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["-x", proxy, `${base}/hello`, `http://LOCALHOST.:${origin.port}/hello`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("hello from origin".repeat(2));
    const [a, b] = since(n);
    expect(a!.destinationIP).toBe("127.0.0.1");
    expect(b!.host).toBe("localhost");
    // Same client connection: same source port.
    expect(b!.sourcePort).toBe(a!.sourcePort);
  });

  test("keep-alive to one host reuses the upstream, HEAD included", async () => {
    const n = tunnel.tcp.length;
    const next = ["--next", "-x", proxy];
    const r = await curl(["-x", proxy, `${base}/hello`, ...next, "-I", `${base}/big`, ...next, `${base}/hello`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toStartWith("hello from origin");
    expect(r.stdout).toContain("content-length: 4194304");
    expect(r.stdout).toEndWith("hello from origin");
    expect(since(n)).toHaveLength(1);
  });

  test("chunked responses with trailers and close-delimited responses", async () => {
    const raw = startRawOrigin();
    try {
      const n = tunnel.tcp.length;
      const r = await curl(["-x", proxy, `http://127.0.0.1:${raw.port}/chunked`, `http://127.0.0.1:${raw.port}/chunked`]);
      expect(r.stdout).toBe("part1-part2part1-part2");
      expect(since(n)).toHaveLength(1);
      // A close-delimited response ends the client connection after it.
      const c = await rawClient(port);
      c.write(`GET http://127.0.0.1:${raw.port}/close HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.closed;
      expect(c.text()).toStartWith("HTTP/1.0 200 OK");
      expect(c.text()).toEndWith("\r\n\r\nuntil close");
      expect(c.closeError).toBeUndefined();
      // Closed from the tunnel side (as DELETE /connections does), it must not look complete.
      const cut = await rawClient(port);
      cut.write(`GET http://127.0.0.1:${raw.port}/endless HTTP/1.1\r\nHost: x\r\n\r\n`);
      await cut.until((b) => Buffer.from(b).includes("first bytes"));
      tunnel.streams.at(-1)!.close();
      await cut.closed;
      expect(cut.closeError).toBeDefined();
    } finally {
      raw.stop();
    }
  });

  test("POST with a body, and a chunked upload", async () => {
    const payload = BIG.subarray(0, 1024 * 1024 + 17);
    const posted = await curl(["-x", proxy, "--data-binary", "@-", "-o", "-", `${base}/echo`], payload);
    expect(posted.exitCode).toBe(0);
    expect(Bun.hash(posted.stdout)).toBe(Bun.hash(new TextDecoder().decode(payload)));
    const chunked = await curl(["-x", proxy, "-T", "-", `${base}/echo-chunked`], text("streamed body"));
    expect(chunked.exitCode).toBe(0);
    expect(chunked.stdout).toBe("streamed body");
  });

  test("a large response arrives whole", async () => {
    const r = await curl(["-x", proxy, "-o", "-", "-w", "\n%{size_download}", `${base}/big`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.slice(r.stdout.lastIndexOf("\n") + 1)).toBe(String(BIG.length));
  });

  test("CONNECT tunnel (curl --proxytunnel)", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["-p", "-x", proxy, `http://localhost:${origin.port}/hello`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("hello from origin");
    expect(since(n)[0]).toMatchObject({ type: "HTTPS", host: "localhost", destinationPort: origin.port });
  });

  test("pipelined requests to different hosts are answered in order", async () => {
    const raw = startRawOrigin();
    try {
      const c = await rawClient(port);
      c.write(
        `GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
          `GET http://localhost:${raw.port}/chunked HTTP/1.1\r\nHost: localhost\r\n\r\n` +
          `HEAD ${base}/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
          `GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      await c.closed;
      const all = c.text();
      expect(all.match(/HTTP\/1\.1 200/g)).toHaveLength(4);
      const chunked = all.indexOf("part1-");
      expect(all.indexOf("hello from origin")).toBeLessThan(chunked);
      expect(all.indexOf("content-length: 4194304")).toBeGreaterThan(chunked);
      expect(all).toEndWith("hello from origin");
    } finally {
      raw.stop();
    }
  });

  test("WebSocket upgrade through an absolute-URI request", async () => {
    const c = await rawClient(port);
    c.write(
      `GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await c.until((b) => Buffer.from(b).includes("\r\n\r\n"));
    expect(c.text()).toStartWith("HTTP/1.1 101");
    const headLength = c.received().length;
    // One masked text frame "ping".
    const mask = [1, 2, 3, 4];
    const payload = text("ping").map((v, i) => v ^ mask[i % 4]!);
    c.write(new Uint8Array([0x81, 0x80 | 4, ...mask, ...payload]));
    await c.until((b) => b.length >= headLength + 6);
    const frame = c.received().subarray(headLength);
    expect([...frame.subarray(0, 2)]).toEqual([0x81, 4]);
    expect(Buffer.from(frame.subarray(2, 6)).toString()).toBe("ping");
    c.close();
  });

  test("an unreachable destination gets 502", async () => {
    const r = await curl(["-x", proxy, "-o", "/dev/null", "-w", "%{http_code}", "http://nowhere.invalid/"]);
    expect(r.stdout).toBe("502");
    const p = await curl(["-p", "-x", proxy, "http://nowhere.invalid/"]);
    expect(p.exitCode).not.toBe(0);
    expect(p.stderr).toContain("502");
  });

  test("origin-form requests and bad heads get 400, and the listener keeps serving", async () => {
    const c = await rawClient(port);
    c.write("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.closed;
    expect(c.text()).toStartWith("HTTP/1.1 400 Bad Request");
    const g = await rawClient(port);
    g.write(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x0d, 0x0a, 0x0d, 0x0a]));
    await g.closed;
    expect(g.text()).toStartWith("HTTP/1.1 400");
    const r = await curl(["-x", proxy, `${base}/hello`]);
    expect(r.stdout).toBe("hello from origin");
  });

  test("a 100 KiB head gets 431 and the listener keeps serving", async () => {
    const c = await rawClient(port);
    c.write(`GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(100 * 1024)}\r\n\r\n`);
    await c.closed;
    expect(c.text()).toStartWith("HTTP/1.1 431");
    const r = await curl(["-x", proxy, `${base}/hello`]);
    expect(r.stdout).toBe("hello from origin");
  });

  test("a client that vanishes mid-head only loses its own connection", async () => {
    const c = await rawClient(port);
    c.write(`GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    c.end();
    await c.closed;
    expect(c.received()).toHaveLength(0);
    const r = await curl(["-x", proxy, `${base}/hello`]);
    expect(r.stdout).toBe("hello from origin");
  });
});

describe("http inbound with authentication", () => {
  let auth: Inbound;
  let authProxy: string;

  beforeAll(async () => {
    const started = await startInbound("http", {}, tunnel, {
      users: new Map([["alice", "s3cret:x"]]),
      skipAuth: (ip) => ip === "::1",
    });
    auth = started.inbound;
    authProxy = `http://127.0.0.1:${started.port}`;
  });

  afterAll(() => auth.close());

  test("valid credentials pass and name the user", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["-x", authProxy, "-U", "alice:s3cret:x", `${base}/hello`]);
    expect(r.stdout).toBe("hello from origin");
    expect(since(n)[0]!.inboundUser).toBe("alice");
    const p = await curl(["-p", "-x", authProxy, "-U", "alice:s3cret:x", `${base}/hello`]);
    expect(p.stdout).toBe("hello from origin");
  });

  test("missing or wrong credentials get 407 with a Basic challenge", async () => {
    const missing = await curl(["-x", authProxy, "-i", `${base}/hello`]);
    expect(missing.stdout).toStartWith("HTTP/1.1 407");
    expect(missing.stdout).toContain('Proxy-Authenticate: Basic realm="ferry"');
    const wrong = await curl(["-x", authProxy, "-U", "alice:nope", "-o", "/dev/null", "-w", "%{http_code}", `${base}/hello`]);
    expect(wrong.stdout).toBe("407");
    const tunnelled = await curl(["-p", "-x", authProxy, "-U", "alice:nope", `${base}/hello`]);
    expect(tunnelled.exitCode).not.toBe(0);
    expect(tunnelled.stderr).toContain("407");
  });

  test("after a 407 the same connection can authenticate", async () => {
    const c = await rawClient(Number(authProxy.slice(authProxy.lastIndexOf(":") + 1)));
    c.write(`GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await c.until((b) => Buffer.from(b).includes("\r\n\r\n"));
    expect(c.text()).toStartWith("HTTP/1.1 407");
    const credentials = Buffer.from("alice:s3cret:x").toString("base64");
    c.write(`GET ${base}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: Basic ${credentials}\r\nConnection: close\r\n\r\n`);
    await c.closed;
    expect(c.text()).toContain("hello from origin");
  });
});

describe("http inbound source checks", () => {
  test("a refused source address is disconnected without an answer", async () => {
    const tunnel2 = new TestTunnel();
    const { inbound: denied, port: p } = await startInbound("http", {}, tunnel2, { allowSource: () => false });
    try {
      const r = await curl(["-x", `http://127.0.0.1:${p}`, `${base}/hello`]);
      expect(r.exitCode).not.toBe(0);
      expect(tunnel2.tcp).toHaveLength(0);
    } finally {
      denied.close();
    }
  });

  test("start() fails naming the address when the port is taken", async () => {
    const { inbound: first, port: p } = await startInbound("http", {}, tunnel);
    try {
      const { createInbound } = await import("./helpers.ts");
      const second = createInbound("http", {}, tunnel, { port: p });
      await expect(second.start()).rejects.toThrow(`listen 127.0.0.1:${p}: address in use`);
    } finally {
      first.close();
    }
  });
});
