/**
 * The trojan outbound's wire format, its option checks, and trojan over gRPC (no gRPC-capable
 * trojan server is packaged: v2ray 4.34 predates gRPC, trojan-gfw never had it), here against a
 * node:http2 server that speaks gun and reads the trojan request itself.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureServer, type ServerHttp2Stream } from "node:http2";
import { join } from "node:path";
import { builtinPlugins } from "../../plugins/index.ts";
import { CMD_CONNECT, CMD_UDP_ASSOCIATE, passwordKey, requestHeader, UdpFrameReader, udpFrame } from "../../plugins/outbound/trojan/protocol.ts";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { buildConfig } from "../../src/config/build.ts";
import { Registry } from "../../src/core/registry.ts";
import { createMetadata, type Logger, type Packet } from "../../src/sdk/index.ts";
import { startRuntime, tempDir } from "../helpers.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("wire format", () => {
  const key = passwordKey("peer-pass");

  test("the key is hex(SHA224(password)) as 56 ASCII bytes", () => {
    expect(Buffer.from(key).toString("latin1")).toBe(createHash("sha224").update("peer-pass").digest("hex"));
    expect(key.length).toBe(56);
  });

  test("CONNECT and UDP ASSOCIATE requests for IPv4, IPv6 and a domain", () => {
    const k = Buffer.from(key).toString("hex");
    // key CRLF, command, ATYP + address, port, CRLF
    expect(hex(requestHeader(key, CMD_CONNECT, "127.0.0.1", 443))).toBe([k, "0d0a", "01", "017f000001", "01bb", "0d0a"].join(""));
    expect(hex(requestHeader(key, CMD_UDP_ASSOCIATE, "2001:db8::1", 53))).toBe(
      [k, "0d0a", "03", "04", "20010db8000000000000000000000001", "0035", "0d0a"].join(""),
    );
    expect(hex(requestHeader(key, CMD_CONNECT, "example.test", 80))).toBe(
      [k, "0d0a", "01", "030c", Buffer.from("example.test").toString("hex"), "0050", "0d0a"].join(""),
    );
  });

  test("UDP frames: address, length, CRLF, payload", () => {
    expect(hex(udpFrame("127.0.0.1", 53, Buffer.from("hi")))).toBe(["017f000001", "0035", "0002", "0d0a", "6869"].join(""));
  });

  test("the reader reassembles frames however the stream cuts them", () => {
    const frames = [
      udpFrame("127.0.0.1", 53, Buffer.from("one")),
      udpFrame("::1", 5353, Buffer.alloc(0)),
      udpFrame("dns.example.test", 853, Buffer.alloc(3000, 7)),
    ];
    const wire = Buffer.concat(frames);
    const expected = [
      { host: "127.0.0.1", port: 53, data: "6f6e65" },
      { host: "::1", port: 5353, data: "" },
      { host: "dns.example.test", port: 853, data: "07".repeat(3000) },
    ];
    for (const step of [1, 7, 100, wire.length]) {
      const reader = new UdpFrameReader();
      const got: { host: string; port: number; data: string }[] = [];
      for (let at = 0; at < wire.length; at += step) {
        reader.push(wire.subarray(at, at + step), (p: Packet) => got.push({ host: p.host, port: p.port, data: hex(p.data) }));
      }
      expect({ step, got }).toEqual({ step, got: expected });
    }
  });

  test("bytes that are not UDP frames are an error", () => {
    expect(() => new UdpFrameReader().push(Uint8Array.of(9, 0, 0), () => {})).toThrow("unknown address type 9");
    const noCrlf = Buffer.from("017f00000100350002aaaa6869", "hex");
    expect(() => new UdpFrameReader().push(noCrlf, () => {})).toThrow("no CRLF");
  });
});

describe("option checks at load", () => {
  const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };
  const issuesOf = async (entry: string) => {
    const registry = new Registry();
    for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);
    return buildConfig(`proxies:\n  - ${entry}\n`, registry).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
  };
  const base = "name: t, type: trojan, server: 192.0.2.1, port: 443, password: p";

  test("a well-formed entry has no findings", async () => {
    expect(await issuesOf(`{${base}, sni: a.example, alpn: [h2], network: ws, ws-opts: {path: /x, headers: {Host: a.example}}, udp: true}`)).toEqual([]);
  });

  test("bad fingerprint, network and ss-opts are errors; REALITY and ss-opts are warned about", async () => {
    expect(await issuesOf(`{${base}, fingerprint: abc}`)).toEqual([
      'error proxies[0].fingerprint: fingerprint: expected a SHA-256 digest (64 hex digits, ":" allowed), got "abc"',
    ]);
    expect((await issuesOf(`{${base}, network: h2}`))[0]).toStartWith("error proxies[0].network: expected one of , tcp, ws, grpc");
    expect(await issuesOf(`{${base}, ss-opts: {enabled: true}}`)).toEqual([
      "error proxies[0].ss-opts.password: required when ss-opts is enabled",
      "warning proxies[0].ss-opts: trojan-go's shadowsocks layer is not supported yet: connections through this proxy will fail",
    ]);
    expect(await issuesOf(`{${base}, reality-opts: {public-key: k}}`)).toEqual([
      "warning proxies[0].reality-opts: REALITY is not supported yet: connections through this proxy will fail",
    ]);
  });
});

describe("trojan over gRPC", () => {
  const dir = tempDir();
  const certs = makeCerts(join(dir.path, "certs"));
  const seen: { authority: string; path: string; request: string }[] = [];

  /** gun server side: gRPC messages carrying Hunk{bytes data = 1}; written apart from the client. */
  const hunk = (data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from([0x0a, ...varint(data.length)]), data]);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    return Buffer.concat([head, body]);
  };
  function varint(n: number): number[] {
    const out: number[] = [];
    for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
    out.push(n);
    return out;
  }

  const server = createSecureServer({ cert: readFileSync(certs.fullchain), key: readFileSync(certs.key), ALPNProtocols: ["h2"] });
  server.on("stream", (stream: ServerHttp2Stream, headers) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    let buf = Buffer.alloc(0);
    let request: Buffer | undefined;
    stream.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const msg = buf.subarray(5, 5 + buf.readUInt32BE(1));
        buf = buf.subarray(5 + msg.length);
        let at = 1;
        while (msg[at]! >= 128) at++;
        const data = msg.subarray(at + 1);
        if (!request) {
          // The first message carries the trojan request: key CRLF CMD ADDR CRLF.
          request = data;
          seen.push({ authority: String(headers[":authority"]), path: String(headers[":path"]), request: hex(request) });
        } else {
          stream.write(hunk(data));
        }
      }
    });
  });
  const listening = new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  afterAll(() => {
    server.close();
    dir.remove();
  });

  test("TLS with ALPN h2, POST /<service>/Tun to the SNI, then the trojan request and payload", async () => {
    const port = await listening;
    const ferry = await startRuntime(
      [
        "proxies:",
        `  - {name: g, type: trojan, server: 127.0.0.1, port: ${port}, password: pw, sni: grpc.example.test, skip-cert-verify: true, network: grpc, grpc-opts: {grpc-service-name: svc}}`,
      ].join("\n"),
    );
    try {
      const s = await ferry.engine.outbounds
        .get("g")!
        .dialTcp(createMetadata({ network: "tcp", type: "Inner", destinationIP: "127.0.0.1", destinationPort: 7 }));
      const echoed = new Promise<string>((resolve) => {
        s.onData = (c) => resolve(Buffer.from(c).toString());
      });
      s.resume();
      s.write(Buffer.from("over grpc"));
      expect(await echoed).toBe("over grpc");
      s.close();
      expect(seen).toEqual([
        { authority: "grpc.example.test", path: "/svc/Tun", request: hex(requestHeader(passwordKey("pw"), CMD_CONNECT, "127.0.0.1", 7)) },
      ]);
    } finally {
      await ferry.stop();
    }
  });
});
