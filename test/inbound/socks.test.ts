import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { handleSocks, type SocksContext } from "../../plugins/inbound/socks/index.ts";
import { openTcp } from "../../plugins/inbound/shared.ts";
import type { Inbound } from "../../src/sdk/index.ts";
import { curl, inboundCommon, quiet, rawClient, startInbound, startOrigin, TestTunnel, udpEcho } from "./helpers.ts";

let origin: Server<undefined>;
let tunnel: TestTunnel;
let inbound: Inbound;
let port: number;

beforeAll(async () => {
  origin = startOrigin();
  tunnel = new TestTunnel();
  ({ inbound, port } = await startInbound("socks", {}, tunnel));
});

afterAll(() => {
  inbound.close();
  origin.stop(true);
});

const originPort = () => origin.port!;
const hello = () => `http://localhost:${originPort()}/hello`;

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

describe("socks inbound", () => {
  test("SOCKS5 with remote DNS: the name reaches the tunnel", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["--socks5-hostname", `127.0.0.1:${port}`, hello()]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("hello from origin");
    const m = tunnel.tcp[n]!;
    expect(m).toMatchObject({ type: "Socks5", host: "localhost", destinationIP: "", destinationPort: origin.port, inboundName: "test-in" });
    expect(m.inboundPort).toBe(port);
  });

  test("SOCKS5 with an IP destination", async () => {
    const n = tunnel.tcp.length;
    const r = await curl(["--socks5", `127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(r.stdout).toBe("hello from origin");
    expect(tunnel.tcp[n]).toMatchObject({ type: "Socks5", host: "", destinationIP: "127.0.0.1" });
  });

  test("SOCKS4a and SOCKS4", async () => {
    const n = tunnel.tcp.length;
    const a = await curl(["--socks4a", `127.0.0.1:${port}`, hello()]);
    expect(a.stdout).toBe("hello from origin");
    const b = await curl(["--socks4", `127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(b.stdout).toBe("hello from origin");
    expect(tunnel.tcp[n]).toMatchObject({ type: "Socks4", host: "localhost" });
    expect(tunnel.tcp[n + 1]).toMatchObject({ type: "Socks4", destinationIP: "127.0.0.1" });
  });

  test("failures map to RFC 1928 reply codes", async () => {
    const refused = closedPort();
    const connect = async (host: string, p: number) => {
      const c = await rawClient(port);
      c.write(new Uint8Array([5, 1, 0]));
      await c.until((b) => b.length >= 2);
      const name = new TextEncoder().encode(host);
      c.write(new Uint8Array([5, 1, 0, 3, name.length, ...name, p >> 8, p & 255]));
      await c.until((b) => b.length >= 12);
      await c.closed;
      return c.received()[3];
    };
    expect(await connect("127.0.0.1", refused)).toBe(5);
    expect(await connect("nowhere.invalid", 80)).toBe(4);
  });

  test("unsupported commands and address types are answered and closed", async () => {
    const bind = await rawClient(port);
    bind.write(new Uint8Array([5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80]));
    await bind.closed;
    expect([...bind.received()]).toEqual([5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    const atyp = await rawClient(port);
    atyp.write(new Uint8Array([5, 1, 0, 5, 1, 0, 9, 1, 2]));
    await atyp.closed;
    expect([...atyp.received()].slice(2, 4)).toEqual([5, 8]);
  });

  test("garbage and a truncated greeting close only their own connection", async () => {
    const garbage = await rawClient(port);
    garbage.write("GET / HTTP/1.1\r\n\r\n");
    await garbage.closed;
    expect(garbage.received()).toHaveLength(0);
    const truncated = await rawClient(port);
    truncated.write(new Uint8Array([5, 3, 0]));
    truncated.end();
    await truncated.closed;
    expect(truncated.received()).toHaveLength(0);
    const vanished = await rawClient(port);
    vanished.write(new Uint8Array([5, 1, 0, 5, 1, 0, 3, 20, 65]));
    vanished.close();
    await vanished.closed;
    const r = await curl(["--socks5-hostname", `127.0.0.1:${port}`, hello()]);
    expect(r.stdout).toBe("hello from origin");
  });

  test("early data after the request rides along as head", async () => {
    const c = await rawClient(port);
    const request = `GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    c.write(
      Buffer.concat([
        Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, originPort() >> 8, originPort() & 255]),
        Buffer.from(request),
      ]),
    );
    await c.closed;
    expect(c.text()).toEndWith("hello from origin");
  });
});

describe("socks inbound with users", () => {
  let auth: Inbound;
  let authPort: number;

  beforeAll(async () => {
    ({ inbound: auth, port: authPort } = await startInbound("socks", { udp: false }, tunnel, {
      users: new Map([
        ["alice", "secret"],
        ["bob", ""],
      ]),
    }));
  });

  afterAll(() => auth.close());

  test("SOCKS5 username/password accepted and refused", async () => {
    const n = tunnel.tcp.length;
    const ok = await curl(["-x", `socks5h://alice:secret@127.0.0.1:${authPort}`, hello()]);
    expect(ok.stdout).toBe("hello from origin");
    expect(tunnel.tcp[n]!.inboundUser).toBe("alice");
    const bad = await curl(["-x", `socks5h://alice:wrong@127.0.0.1:${authPort}`, hello()]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.toLowerCase()).toContain("rejected by the socks5 server (1 1)");
    const none = await curl(["--socks5-hostname", `127.0.0.1:${authPort}`, hello()]);
    expect(none.exitCode).not.toBe(0);
  });

  test("the raw auth exchange: method 2, then 1/1 on failure", async () => {
    const c = await rawClient(authPort);
    c.write(new Uint8Array([5, 2, 0, 2]));
    await c.until((b) => b.length >= 2);
    expect([...c.received()]).toEqual([5, 2]);
    c.write(new Uint8Array([1, 1, 0x61, 1, 0x62]));
    await c.closed;
    expect([...c.received()]).toEqual([5, 2, 1, 1]);
    const noMethod = await rawClient(authPort);
    noMethod.write(new Uint8Array([5, 1, 0]));
    await noMethod.closed;
    expect([...noMethod.received()]).toEqual([5, 0xff]);
  });

  test("SOCKS4 passes only a user id with an empty password", async () => {
    const ok = await curl(["-x", `socks4a://bob@127.0.0.1:${authPort}`, hello()]);
    expect(ok.stdout).toBe("hello from origin");
    const refused = await curl(["-x", `socks4a://alice@127.0.0.1:${authPort}`, hello()]);
    expect(refused.exitCode).not.toBe(0);
  });

  test("UDP ASSOCIATE is refused with udp: false", async () => {
    const c = await rawClient(authPort);
    c.write(new Uint8Array([5, 1, 2]));
    await c.until((b) => b.length >= 2);
    c.write(new Uint8Array([1, 5, ...new TextEncoder().encode("alice"), 6, ...new TextEncoder().encode("secret")]));
    await c.until((b) => b.length >= 4);
    c.write(new Uint8Array([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    await c.closed;
    expect([...c.received()].slice(4, 6)).toEqual([5, 7]);
  });
});

describe("socks UDP ASSOCIATE", () => {
  test("round trip to a UDP echo, and the association ends with the TCP connection", async () => {
    const echo = await udpEcho();
    const client = Promise.withResolvers<{ data: Buffer; port: number }>();
    let onDatagram = (data: Buffer, p: number) => client.resolve({ data, port: p });
    const socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data: (_s, data, p) => onDatagram(data, p),
      },
    });
    const control = await rawClient(port);
    try {
      control.write(new Uint8Array([5, 1, 0]));
      await control.until((b) => b.length >= 2);
      control.write(new Uint8Array([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
      await control.until((b) => b.length >= 12);
      const reply = control.received();
      expect([...reply.subarray(2, 6)]).toEqual([5, 0, 0, 1]);
      const relayIP = [...reply.subarray(6, 10)].join(".");
      const relayPort = (reply[10]! << 8) | reply[11]!;
      expect(relayIP).toBe("127.0.0.1");
      expect(relayPort).toBe(port);

      const payload = new TextEncoder().encode("ping over udp");
      const header = [0, 0, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255];
      // A fragment (FRAG ≠ 0) is dropped; the next datagram goes through.
      socket.send(new Uint8Array([0, 0, 1, ...header.slice(3), 1]), relayPort, relayIP);
      socket.send(new Uint8Array([...header, ...payload]), relayPort, relayIP);
      const got = await client.promise;
      expect(got.port).toBe(relayPort);
      expect([...got.data.subarray(0, 10)]).toEqual(header);
      expect(got.data.subarray(10).toString()).toBe("ping over udp");
      const flows = tunnel.udp.filter((m) => m.destinationPort === echo.port);
      expect(flows).toHaveLength(1);
      expect(flows[0]).toMatchObject({ network: "udp", type: "Socks5", destinationIP: "127.0.0.1", sourcePort: socket.port });

      // Closing the control connection ends the association and its flows.
      const flowClosed = tunnel.nextFlowClose();
      control.close();
      await control.closed;
      expect((await flowClosed).destinationPort).toBe(echo.port);
      const flowsBefore = tunnel.udp.length;
      onDatagram = () => {
        throw new Error("no reply expected after the association ended");
      };
      socket.send(new Uint8Array([...header, ...payload]), relayPort, relayIP);
      // A datagram round trip to the echo directly proves the unassociated one had its chance.
      const direct = Promise.withResolvers<void>();
      const probe = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: () => direct.resolve() } });
      probe.send("x", echo.port, "127.0.0.1");
      await direct.promise;
      probe.close();
      expect(tunnel.udp.length).toBe(flowsBefore);
    } finally {
      control.close();
      socket.close();
      echo.close();
    }
  });
});

describe("socks handshake deadline", () => {
  test("an idle half-open handshake is closed after the timeout", async () => {
    const ctx: SocksContext = { common: inboundCommon(), tunnel, log: quiet, handshakeTimeoutMs: 50, udp: undefined };
    const listener = openTcp(ctx, (stream) => handleSocks(ctx, stream));
    try {
      const c = await rawClient(listener.port);
      c.write(new Uint8Array([5, 2, 0]));
      await c.closed;
      expect(c.received()).toHaveLength(0);
    } finally {
      listener.stop(true);
    }
  });
});
