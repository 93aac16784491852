import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { handleHttp } from "../../plugins/inbound/http/index.ts";
import { type ConnContext, openTcp } from "../../plugins/inbound/shared.ts";
import type { Inbound } from "../../src/sdk/index.ts";
import { createInbound, curl, inboundCommon, quiet, rawClient, startInbound, startOrigin, TestTunnel, udpEcho } from "./helpers.ts";

let origin: Server<undefined>;
let tunnel: TestTunnel;

beforeAll(() => {
  origin = startOrigin();
  tunnel = new TestTunnel();
});

afterAll(() => origin.stop(true));

describe("mixed inbound", () => {
  let mixed: Inbound;
  let port: number;

  beforeAll(async () => {
    ({ inbound: mixed, port } = await startInbound("mixed", {}, tunnel, { users: new Map([["u", "p"]]) }));
  });

  afterAll(() => mixed.close());

  test("HTTP, CONNECT and SOCKS5 on one port", async () => {
    const url = `http://localhost:${origin.port}/hello`;
    const n = tunnel.tcp.length;
    const results = await Promise.all([
      curl(["-x", `http://127.0.0.1:${port}`, "-U", "u:p", url]),
      curl(["-p", "-x", `http://127.0.0.1:${port}`, "-U", "u:p", url]),
      curl(["-x", `socks5h://u:p@127.0.0.1:${port}`, url]),
    ]);
    for (const r of results) expect(r.stdout).toBe("hello from origin");
    const kinds = tunnel.tcp
      .slice(n)
      .map((m) => m.type)
      .sort();
    expect(kinds).toEqual(["HTTP", "HTTPS", "Socks5"]);
    expect(tunnel.tcp.slice(n).every((m) => m.inboundUser === "u" && m.host === "localhost")).toBe(true);
  });

  test("auth failures answer in the client's protocol", async () => {
    const http = await curl(["-x", `http://127.0.0.1:${port}`, "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${origin.port}/hello`]);
    expect(http.stdout).toBe("407");
    const socks = await curl(["-x", `socks5h://u:bad@127.0.0.1:${port}`, `http://localhost:${origin.port}/hello`]);
    expect(socks.exitCode).toBe(97);
  });

  test("a client that connects and sends nothing before closing is dropped quietly", async () => {
    const c = await rawClient(port);
    c.end();
    await c.closed;
    expect(c.received()).toHaveLength(0);
  });

  test("SOCKS4 and SOCKS4a on a mixed port without users", async () => {
    const { inbound: open, port: p } = await startInbound("mixed", { udp: false }, tunnel);
    try {
      const n = tunnel.tcp.length;
      const a = await curl(["--socks4a", `127.0.0.1:${p}`, `http://localhost:${origin.port}/hello`]);
      const b = await curl(["--socks4", `127.0.0.1:${p}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(a.stdout + b.stdout).toBe("hello from origin".repeat(2));
      expect(tunnel.tcp.slice(n).map((m) => m.type)).toEqual(["Socks4", "Socks4"]);
    } finally {
      open.close();
    }
  });

  test("UDP ASSOCIATE is available on mixed", async () => {
    const c = await rawClient(port);
    c.write(new Uint8Array([5, 1, 2]));
    await c.until((b) => b.length >= 2);
    c.write(new Uint8Array([1, 1, 0x75, 1, 0x70]));
    await c.until((b) => b.length >= 4);
    c.write(new Uint8Array([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    await c.until((b) => b.length >= 14);
    expect([...c.received().subarray(0, 6)]).toEqual([5, 2, 1, 0, 5, 0]);
    c.close();
  });
});

describe("tunnel inbound", () => {
  test("TCP connections go to the target", async () => {
    const { inbound, port } = await startInbound("tunnel", { network: ["tcp"], target: `localhost:${origin.port}` }, tunnel, {
      specialProxy: "PROXY",
    });
    try {
      const n = tunnel.tcp.length;
      const r = await curl([`http://127.0.0.1:${port}/hello`]);
      expect(r.stdout).toBe("hello from origin");
      expect(tunnel.tcp[n]).toMatchObject({ type: "Tunnel", host: "localhost", destinationPort: origin.port, specialProxy: "PROXY" });
    } finally {
      inbound.close();
    }
  });

  test("UDP datagrams go to the target, one flow per client, replies from the listener port", async () => {
    const echo = await udpEcho();
    const { inbound, port } = await startInbound("tunnel", { network: ["tcp", "udp"], target: `127.0.0.1:${echo.port}` }, tunnel);
    const reply = Promise.withResolvers<{ data: string; port: number }>();
    const client = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: { data: (_s, data, p) => reply.resolve({ data: data.toString(), port: p }) },
    });
    try {
      const n = tunnel.udp.length;
      client.send("through the tunnel", port, "127.0.0.1");
      const got = await reply.promise;
      expect(got).toEqual({ data: "through the tunnel", port });
      expect(tunnel.udp.slice(n)).toHaveLength(1);
      expect(tunnel.udp[n]).toMatchObject({ network: "udp", type: "Tunnel", destinationIP: "127.0.0.1", destinationPort: echo.port });
      expect(inbound.addresses()).toEqual([`127.0.0.1:${port}`]);
    } finally {
      client.close();
      inbound.close();
      echo.close();
    }
  });

  test("a target that is not host:port is a config error", () => {
    expect(() => createInbound("tunnel", { network: ["tcp"], target: "nope" }, tunnel)).toThrow('target "nope" must be host:port');
  });
});

describe("http handshake deadline", () => {
  test("a request head that never completes is closed after the timeout", async () => {
    const ctx: ConnContext = { common: inboundCommon(), tunnel, log: quiet, handshakeTimeoutMs: 50 };
    const listener = openTcp(ctx, (stream) => handleHttp(ctx, stream));
    try {
      const c = await rawClient(listener.port);
      c.write("GET http://127.0.0.1/ HTTP/1.1\r\n");
      await c.closed;
      expect(c.received()).toHaveLength(0);
    } finally {
      listener.stop(true);
    }
  });
});
