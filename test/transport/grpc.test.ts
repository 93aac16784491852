/**
 * The grpc (gun) transport against node:http2's server speaking gun: h2c with prior knowledge, and
 * HTTP/2 over TLS with ALPN h2. The server side here decodes and encodes gRPC messages itself.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createSecureServer, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { join } from "node:path";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { MiB, payloadBytes } from "../../scripts/peers.ts";
import { connectTcp } from "../../src/core/socket-stream.ts";
import type { Duplex } from "../../src/sdk/index.ts";
import { tempDir } from "../helpers.ts";
import { readHash, sha256, transport, writeAll } from "./helpers.ts";

const BIG = 64 * MiB;
const payload = payloadBytes(BIG);
const payloadHash = sha256(payload);
const dir = tempDir();
const certs = makeCerts(join(dir.path, "certs"));
afterAll(() => dir.remove());

/** Server side of gun: a gRPC message with Hunk field 1 (written independently of the client). */
function encodeHunk(data: Uint8Array): Buffer {
  const varint: number[] = [];
  for (let n = data.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 128);
  }
  const msg = Buffer.concat([Buffer.from([0x0a, ...varint]), data]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Feed request body chunks; calls `onHunk` with each message's data. */
function hunkDecoder(onHunk: (data: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) return;
      const msg = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      let at = 1;
      let n = 0;
      for (let mul = 1; ; mul *= 128) {
        const b = msg[at++]!;
        n += (b & 127) * mul;
        if (b < 128) break;
      }
      onHunk(msg.subarray(at, at + n));
    }
  };
}

const requests: Record<string, string>[] = [];
function serve(server: Http2Server): void {
  server.on("stream", (stream: ServerHttp2Stream, headers) => {
    requests.push(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])));
    const path = String(headers[":path"]);
    if (!["/echo/Tun", "/sink/Tun", "/source/Tun"].includes(path)) {
      stream.respond({ ":status": 404 });
      stream.end();
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    if (path === "/sink/Tun") {
      const h = new Bun.CryptoHasher("sha256");
      stream.on("data", hunkDecoder((d) => h.update(d)));
      stream.on("end", () => stream.end(encodeHunk(Buffer.from(h.digest("hex")))));
    } else if (path === "/source/Tun") {
      // Uneven message sizes, so message boundaries fall anywhere in the client's reads.
      const parts: Buffer[] = [];
      for (let at = 0, i = 0; at < BIG; i++) {
        const n = Math.min(BIG - at, 1000 + ((i * 7919) % 60000));
        parts.push(encodeHunk(payload.subarray(at, at + n)));
        at += n;
      }
      stream.end(Buffer.concat(parts));
    } else {
      stream.on("data", hunkDecoder((d) => stream.write(encodeHunk(d))));
      stream.on("end", () => stream.end());
    }
  });
}

const plain = createServer();
serve(plain);
const secure = createSecureServer({ cert: await Bun.file(certs.fullchain).text(), key: await Bun.file(certs.key).text(), ALPNProtocols: ["h2"] });
serve(secure as unknown as Http2Server);
const listen = (s: { listen(port: number, host: string, cb: () => void): void; address(): unknown }) =>
  new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port)));
const plainPort = await listen(plain);
const securePort = await listen(secure);
afterAll(() => {
  plain.close();
  secure.close();
});

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

for (const mode of ["h2c", "tls"] as const) {
  describe(`grpc transport (${mode})`, () => {
    async function dial(service: string): Promise<Duplex> {
      const gun = await transport("grpc", { serviceName: service, host: "grpc.example.test" });
      if (mode === "h2c") return gun.wrap(await connectTcp("127.0.0.1", plainPort));
      const tls = await transport("tls", { serverName: "example.test", ca: [await Bun.file(certs.ca).text()], alpn: ["h2"] });
      return gun.wrap(await tls.wrap(await connectTcp("127.0.0.1", securePort)));
    }

    test("ping-pong; POST /<service>/Tun with gRPC headers", async () => {
      const s = await dial("echo");
      const got = readText(s, 4);
      s.write(Buffer.from("ping"));
      expect(await got).toBe("ping");
      const r = requests.at(-1)!;
      expect(r[":method"]).toBe("POST");
      expect(r[":path"]).toBe("/echo/Tun");
      expect(r[":authority"]).toBe("grpc.example.test");
      expect(r["content-type"]).toBe("application/grpc");
      expect(r.te).toBe("trailers");
      s.close();
    });

    test("64 MiB upload, hashed by the server", async () => {
      const s = await dial("sink");
      const reply = readText(s, 64);
      writeAll(s, payload, 200_000, () => s.end());
      expect(await reply).toBe(payloadHash);
    }, 60_000);

    test("64 MiB download in uneven messages, byte-exact", async () => {
      const r = await readHash(await dial("source"), BIG);
      expect(r.bytes).toBe(BIG);
      expect(r.sha256).toBe(payloadHash);
    }, 60_000);

    test("an unknown service fails the dial with the status", async () => {
      await expect(dial("nope/x")).rejects.toThrow("grpc: the server answered 404");
    });
  });
}
