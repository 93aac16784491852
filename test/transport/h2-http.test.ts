/**
 * The h2 transport against node:http2's server (Bun's HTTP/2 implementation, over TLS with ALPN
 * h2), and the http header obfuscation against a listener that answers like v2ray's "http" header
 * server. Both on 127.0.0.1, each with ping-pong and 64 MiB each way, hashed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createSecureServer, type ServerHttp2Stream } from "node:http2";
import { join } from "node:path";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { MiB, payloadBytes } from "../../scripts/peers.ts";
import { connectTcp, listenTcp, type SocketStream } from "../../src/core/socket-stream.ts";
import type { Duplex } from "../../src/sdk/index.ts";
import { tempDir } from "../helpers.ts";
import { readHash, sha256, transport, writeAll } from "./helpers.ts";

const BIG = 64 * MiB;
const payload = payloadBytes(BIG);
const payloadHash = sha256(payload);
const dir = tempDir();
const certs = makeCerts(join(dir.path, "certs"));
const ca = await Bun.file(certs.ca).text();
afterAll(() => dir.remove());

/** Collect `n` bytes as text, bounded. */
function readText(s: Duplex, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`timed out with "${text}"`)), 10_000);
    s.onData = (c) => {
      text += Buffer.from(c).toString();
      if (text.length >= n) {
        clearTimeout(timer);
        resolve(text);
      }
    };
  });
}

describe("h2 transport against node:http2", async () => {
  const requests: Record<string, string>[] = [];
  const server = createSecureServer({ cert: await Bun.file(certs.fullchain).text(), key: await Bun.file(certs.key).text(), ALPNProtocols: ["h2"] });
  server.on("stream", (stream: ServerHttp2Stream, headers) => {
    requests.push(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])));
    const path = String(headers[":path"]);
    if (path === "/teapot") {
      stream.respond({ ":status": 418 });
      stream.end();
      return;
    }
    stream.respond({ ":status": 200 });
    if (path === "/sink") {
      const h = new Bun.CryptoHasher("sha256");
      stream.on("data", (c: Buffer) => h.update(c));
      stream.on("end", () => stream.end(h.digest("hex")));
    } else if (path === "/source") {
      stream.end(payload);
    } else {
      stream.pipe(stream);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  afterAll(() => server.close());

  async function dial(path: string, alpn = ["h2"]): Promise<Duplex> {
    const tls = await transport("tls", { serverName: "example.test", ca: [ca], alpn });
    const h2 = await transport("h2", { host: ["h2.example.test"], path });
    return h2.wrap(await tls.wrap(await connectTcp("127.0.0.1", port)));
  }

  test("ping-pong over a PUT stream with :authority and :path as given", async () => {
    const s = await dial("/echo");
    const got = readText(s, 4);
    s.write(Buffer.from("ping"));
    expect(await got).toBe("ping");
    const r = requests.at(-1)!;
    expect(r[":method"]).toBe("PUT");
    expect(r[":authority"]).toBe("h2.example.test");
    expect(r[":path"]).toBe("/echo");
    s.close();
  });

  test("64 MiB upload (end of stream = half-close), hashed by the server", async () => {
    const s = await dial("/sink");
    const reply = readText(s, 64);
    writeAll(s, payload, 256 * 1024, () => s.end());
    expect(await reply).toBe(payloadHash);
  }, 60_000);

  test("64 MiB download, byte-exact", async () => {
    const r = await readHash(await dial("/source"), BIG);
    expect(r.bytes).toBe(BIG);
    expect(r.sha256).toBe(payloadHash);
  }, 60_000);

  test("a non-200 answer fails the dial", async () => {
    await expect(dial("/teapot")).rejects.toThrow("h2: the server answered 418");
  });

  test("a TLS stream that did not negotiate ALPN h2 is refused", async () => {
    await expect(dial("/echo", [])).rejects.toThrow("h2: the server did not agree to HTTP/2 over TLS (ALPN none)");
  });
});

describe("http header obfuscation", () => {
  let head = "";
  // Answers like v2ray's "http" header server: read the request head, send a response head, then relay (echo here).
  const listener = listenTcp({
    hostname: "127.0.0.1",
    port: 0,
    onAccept(s: SocketStream) {
      let buf = Buffer.alloc(0);
      s.onData = (c) => {
        buf = Buffer.concat([buf, c]);
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        head = buf.subarray(0, i).toString("latin1");
        s.write(Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: keep-alive\r\n\r\n"));
        const echo = (d: Uint8Array) => {
          if (!s.write(d)) s.pause();
        };
        s.onData = echo;
        s.onDrain = () => s.resume();
        if (i + 4 < buf.length) echo(buf.subarray(i + 4));
      };
      s.onEnd = () => s.end();
      s.resume();
    },
  });
  afterAll(() => listener.stop(true));

  async function dial(): Promise<Duplex> {
    const t = await transport("http", { method: "GET", path: ["/a", "/b"], headers: { Host: ["cdn.test"], "User-Agent": ["ferry"] }, host: "127.0.0.1" });
    return t.wrap(await connectTcp("127.0.0.1", listener.port));
  }

  test("the first write rides behind the request head; the response head is cut", async () => {
    const s = await dial();
    const got = readText(s, 4);
    s.write(Buffer.from("ping"));
    expect(await got).toBe("ping");
    expect(head).toMatch(/^GET \/[ab] HTTP\/1\.1\r\n/);
    expect(head).toContain("\r\nHost: cdn.test");
    expect(head).toContain("\r\nUser-Agent: ferry");
    s.close();
  });

  test("64 MiB each way through the echo, byte-exact", async () => {
    const s = await dial();
    const back = readHash(s, BIG);
    writeAll(s, payload, 256 * 1024);
    const r = await back;
    expect(r.bytes).toBe(BIG);
    expect(r.sha256).toBe(payloadHash);
    s.close();
  }, 60_000);
});
