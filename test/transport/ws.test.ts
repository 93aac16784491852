/**
 * The ws transport against Bun.serve's WebSocket server (uWebSockets: an independent
 * implementation) on 127.0.0.1, and v2ray's HTTPUpgrade variant against a raw listener.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { ServerWebSocket } from "bun";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { MiB, payloadBytes } from "../../scripts/peers.ts";
import { connectTcp } from "../../src/core/socket-stream.ts";
import type { Duplex, WsTransportOptions } from "../../src/sdk/index.ts";
import { tempDir } from "../helpers.ts";
import { readHash, sha256, transport, writeAll } from "./helpers.ts";

interface Conn {
  path: string;
  headers: Record<string, string>;
  /** /sink: bytes still expected, and the running hash. */
  left: number;
  hasher?: Bun.CryptoHasher;
  /** /source: bytes still to send. */
  toSend: number;
  sent: number;
}

const BIG = 64 * MiB;
const payload = payloadBytes(BIG);
const payloadHash = sha256(payload);
const seen: Conn[] = [];

function pumpSource(ws: ServerWebSocket<Conn>): void {
  const c = ws.data;
  while (c.toSend > 0) {
    const n = Math.min(64 * 1024, c.toSend);
    const status = ws.sendBinary(payload.subarray(c.sent, c.sent + n));
    c.toSend -= n;
    c.sent += n;
    if (status === -1) return; // queued: continue in drain
  }
}

const dir = tempDir();
const certs = makeCerts(join(dir.path, "certs"));
afterAll(() => dir.remove());

const serverOptions = {
  hostname: "127.0.0.1",
  port: 0,
  fetch(req: Request, srv: Bun.Server<Conn>) {
    const url = new URL(req.url);
    if (url.pathname === "/missing") return new Response("no", { status: 404 });
    const headers = Object.fromEntries(req.headers.entries());
    const n = Number(url.searchParams.get("n") ?? 0);
    const data: Conn = { path: url.pathname + url.search, headers, left: 0, toSend: 0, sent: 0 };
    if (url.pathname === "/sink") {
      data.left = n;
      data.hasher = new Bun.CryptoHasher("sha256");
    }
    if (url.pathname === "/source") data.toSend = n;
    seen.push(data);
    return srv.upgrade(req, { data }) ? undefined : new Response("upgrade failed", { status: 400 });
  },
  websocket: {
    maxPayloadLength: 1024 * 1024,
    open(ws) {
      const c = ws.data;
      // v2ray early data: the header (or the path tail) carries the first bytes of the stream.
      const proto = c.headers["sec-websocket-protocol"];
      if (proto) ws.sendBinary(Buffer.from(proto, "base64url"));
      if (c.path.startsWith("/ed-path/")) ws.sendBinary(Buffer.from(c.path.slice("/ed-path/".length), "base64url"));
      if (c.path === "/ping") ws.ping(new TextEncoder().encode("are you there"));
      if (c.path === "/close") ws.close(1000, "bye");
      pumpSource(ws);
    },
    message(ws, msg) {
      const c = ws.data;
      const bytes = typeof msg === "string" ? new TextEncoder().encode(msg) : msg;
      if (c.hasher) {
        c.hasher.update(bytes);
        c.left -= bytes.length;
        if (c.left <= 0) ws.sendText(c.hasher.digest("hex"));
        return;
      }
      ws.sendBinary(bytes);
    },
    drain(ws) {
      pumpSource(ws);
    },
    pong(ws, data) {
      ws.sendText(`pong:${Buffer.from(data).toString()}`);
    },
  } satisfies Bun.WebSocketHandler<Conn>,
};
const server = Bun.serve<Conn>(serverOptions);
/** The same WebSocket server behind TLS (wss), as v2ray's ws+tls. */
const secure = Bun.serve<Conn>({ ...serverOptions, tls: { cert: Bun.file(certs.fullchain), key: Bun.file(certs.key) } });
afterAll(() => {
  server.stop(true);
  secure.stop(true);
});

async function dial(o: Partial<WsTransportOptions>): Promise<Duplex> {
  const raw = await connectTcp("127.0.0.1", server.port as number);
  const t = await transport("ws", { host: "example.test", path: "/", ...o });
  return t.wrap(raw);
}

/** Collect `n` bytes as text. */
function readText(s: Duplex, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`timed out after ${got} of ${n} bytes`)), 10_000);
    s.onData = (c) => {
      parts.push(c);
      got += c.length;
      if (got >= n) {
        clearTimeout(timer);
        resolve(Buffer.concat(parts).toString());
      }
    };
  });
}

const enc = (s: string) => new TextEncoder().encode(s);

describe("ws transport against Bun.serve (uWebSockets)", () => {
  test("ping-pong, with Host, path and custom headers as given", async () => {
    const s = await dial({ path: "/echo?x=1", headers: { "User-Agent": "ferry-test", "X-Extra": "1" } });
    const got = readText(s, 5);
    s.write(enc("hello"));
    expect(await got).toBe("hello");
    const c = seen.at(-1)!;
    expect(c.path).toBe("/echo?x=1");
    expect(c.headers.host).toBe("example.test");
    expect(c.headers["user-agent"]).toBe("ferry-test");
    expect(c.headers["x-extra"]).toBe("1");
    s.close();
  });

  test("64 MiB upload, hashed by the server", async () => {
    const s = await dial({ path: `/sink?n=${BIG}` });
    const reply = readText(s, 64);
    writeAll(s, payload, 256 * 1024);
    expect(await reply).toBe(payloadHash);
    s.close();
  }, 60_000);

  test("64 MiB download, byte-exact", async () => {
    const s = await dial({ path: `/source?n=${BIG}` });
    const r = await readHash(s, BIG);
    expect(r.bytes).toBe(BIG);
    expect(r.sha256).toBe(payloadHash);
    s.close();
  }, 60_000);

  test("early data in Sec-WebSocket-Protocol: the first write's head rides in the handshake", async () => {
    const s = await dial({ path: "/echo", maxEarlyData: 4, earlyDataHeaderName: "Sec-WebSocket-Protocol" });
    const got = readText(s, 10);
    s.write(enc("early-data"));
    expect(await got).toBe("early-data");
    expect(seen.at(-1)!.headers["sec-websocket-protocol"]).toBe(Buffer.from("earl").toString("base64url"));
  });

  test("early data: a first write that fits whole in the handshake is followed by onDrain", async () => {
    const s = await dial({ path: "/echo", maxEarlyData: 2048, earlyDataHeaderName: "Sec-WebSocket-Protocol" });
    const drained = new Promise<void>((resolve) => {
      s.onDrain = resolve;
    });
    const got = readText(s, 5);
    expect(s.write(enc("small"))).toBe(false);
    await drained;
    expect(await got).toBe("small");
    s.close();
  });

  test("early data without a header name goes at the end of the path", async () => {
    const s = await dial({ path: "/ed-path/", maxEarlyData: 2048 });
    const got = readText(s, 9);
    s.write(enc("in-path!!"));
    expect(await got).toBe("in-path!!");
    expect(seen.at(-1)!.path).toBe(`/ed-path/${Buffer.from("in-path!!").toString("base64url")}`);
  });

  test("early data: without a first write the handshake still goes out (bounded wait)", async () => {
    const s = await dial({ path: "/source?n=16", maxEarlyData: 2048, earlyDataHeaderName: "Sec-WebSocket-Protocol" });
    const r = await readHash(s, 16);
    expect(r.sha256).toBe(sha256(payload.subarray(0, 16)));
    s.close();
  });

  test("answers the server's ping with a pong carrying the same payload", async () => {
    const s = await dial({ path: "/ping" });
    expect(await readText(s, 18)).toBe("pong:are you there");
    s.close();
  });

  test("a close from the server ends the stream", async () => {
    const s = await dial({ path: "/close" });
    const ended = new Promise<string>((resolve) => {
      s.onEnd = () => resolve("end");
      s.onClose = (err) => resolve(`close ${err?.message ?? ""}`);
    });
    expect(await ended).toBe("end");
    s.close();
  });

  test("a refused upgrade fails the dial with the status line", async () => {
    await expect(dial({ path: "/missing" })).rejects.toThrow("websocket handshake: HTTP/1.1 404 Not Found");
  });
});

describe("ws over TLS (wss) against Bun.serve", () => {
  test("ping-pong and a 64 MiB download, TLS verified with the Host as SNI", async () => {
    const dial = async (path: string) => {
      const tls = await transport("tls", { serverName: "example.test", ca: [await Bun.file(certs.ca).text()], alpn: ["http/1.1"] });
      const ws = await transport("ws", { host: "example.test", path });
      return ws.wrap(await tls.wrap(await connectTcp("127.0.0.1", secure.port as number)));
    };
    const s = await dial("/echo");
    const got = readText(s, 5);
    s.write(enc("hello"));
    expect(await got).toBe("hello");
    s.close();
    const r = await readHash(await dial(`/source?n=${BIG}`), BIG);
    expect(r.bytes).toBe(BIG);
    expect(r.sha256).toBe(payloadHash);
  }, 60_000);
});

describe("ws transport, v2ray HTTPUpgrade", () => {
  test("raw bytes after a 101, and the request head v2ray expects", async () => {
    let head = "";
    const listener = Bun.listen<{ buf: string; up: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.data = { buf: "", up: false };
        },
        data(s, c) {
          if (s.data.up) {
            s.write(c);
            return;
          }
          s.data.buf += c.toString("latin1");
          const i = s.data.buf.indexOf("\r\n\r\n");
          if (i < 0) return;
          head = s.data.buf.slice(0, i);
          s.data.up = true;
          // Switch, then send bytes in the same segment as the reply head.
          s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nserver-first");
          const rest = s.data.buf.slice(i + 4);
          if (rest) s.write(rest);
        },
      },
    });
    try {
      const raw = await connectTcp("127.0.0.1", listener.port);
      const t = await transport("ws", { host: "up.test", path: "/up", v2rayHttpUpgrade: true });
      const s = await t.wrap(raw);
      const got = readText(s, 12 + 4);
      s.write(enc("ping"));
      expect(await got).toBe("server-firstping");
      expect(head).toStartWith("GET /up HTTP/1.1\r\n");
      expect(head.toLowerCase()).toContain("\r\nhost: up.test");
      expect(head.toLowerCase()).toContain("\r\nupgrade: websocket");
      expect(head.toLowerCase()).not.toContain("sec-websocket-key");
      s.close();
    } finally {
      listener.stop(true);
    }
  });
});
