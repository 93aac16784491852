/**
 * The vless outbound's wire format against a server written here from the protocol description
 * (request head, response head with addons, length-prefixed UDP), flow/REALITY handling, and the
 * option checks at load. Interop with v2ray itself: test/interop/vless.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../plugins/index.ts";
import { buildConfig } from "../../src/config/build.ts";
import { Registry } from "../../src/core/registry.ts";
import { createMetadata, type Logger, type Packet } from "../../src/sdk/index.ts";
import { startRuntime } from "../helpers.ts";

const UUID = "b831381d-6324-4d53-ad4f-8cda48b30811";
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * A VLESS server that records each request head and echoes the payload behind a response head
 * with a 2-byte addons blob: as is for TCP, frame by frame for UDP. The first response bytes go
 * out one at a time, so the client must reassemble the head.
 */
function startServer() {
  const heads: string[] = [];
  const server = Bun.listen<{ buf: Buffer; udp: boolean; headDone: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: Buffer.alloc(0), udp: false, headDone: false };
      },
      data(s, chunk) {
        const st = s.data;
        st.buf = Buffer.concat([st.buf, chunk]);
        if (!st.headDone) {
          if (st.buf.length < 22) return;
          const atyp = st.buf[21]!;
          const len = 22 + (atyp === 1 ? 4 : atyp === 3 ? 16 : 1 + st.buf[22]!);
          if (st.buf.length < len) return;
          heads.push(hex(st.buf.subarray(0, len)));
          st.udp = st.buf[18] === 2;
          st.headDone = true;
          st.buf = st.buf.subarray(len);
          for (const b of [0, 2, 0xaa, 0xbb]) s.write(Uint8Array.of(b));
        }
        if (!st.udp) {
          s.write(st.buf);
          st.buf = Buffer.alloc(0);
          return;
        }
        while (st.buf.length >= 2 && st.buf.length >= 2 + st.buf.readUInt16BE(0)) {
          const n = st.buf.readUInt16BE(0);
          s.write(st.buf.subarray(0, 2 + n));
          st.buf = st.buf.subarray(2 + n);
        }
      },
    },
  });
  return { port: server.port, heads, stop: () => server.stop(true) };
}

describe("wire format against a test server", async () => {
  const server = startServer();
  const ferry = await startRuntime(
    `proxies:\n  - {name: v, type: vless, server: 127.0.0.1, port: ${server.port}, uuid: ${UUID}, udp: true}\n` +
      `  - {name: vision, type: vless, server: 127.0.0.1, port: ${server.port}, uuid: ${UUID}, flow: xtls-rprx-vision}\n` +
      `rules:\n  - MATCH,v\n`,
  );
  afterAll(async () => {
    await ferry.stop();
    server.stop();
  });
  const out = (name: string) => ferry.engine.outbounds.get(name)!;

  test("TCP: version 0, uuid, no addons, command 1, port, address; the response head is skipped", async () => {
    const s = await out("v").dialTcp(createMetadata({ network: "tcp", type: "Inner", host: "example.test", destinationPort: 443 }));
    const got = new Promise<string>((resolve) => {
      let text = "";
      s.onData = (c) => {
        text += Buffer.from(c).toString();
        if (text.endsWith("\n")) resolve(text);
      };
    });
    s.write(Buffer.from("hello vless\n"));
    expect(await got).toBe("hello vless\n");
    s.close();
    const domain = Buffer.from("example.test").toString("hex");
    expect(server.heads.at(-1)).toBe(`00${UUID.replaceAll("-", "")}000101bb020c${domain}`);
    expect(out("v").type).toBe("Vless");
  });

  test("UDP: command 2, then 2-byte length-prefixed datagrams both ways", async () => {
    const pc = await out("v").dialUdp!(createMetadata({ network: "udp", type: "Inner", destinationIP: "127.0.0.1", destinationPort: 53 }));
    const got: Packet[] = [];
    const all = new Promise<void>((resolve) => {
      pc.onPacket = (p) => {
        got.push(p);
        if (got.length === 3) resolve();
      };
    });
    const sent = [Buffer.from("one"), Buffer.alloc(0), Buffer.alloc(3000, 7)];
    for (const data of sent) pc.send({ data, host: "127.0.0.1", port: 53 });
    await all;
    pc.close();
    expect(got.map((p) => hex(p.data))).toEqual(sent.map(hex));
    expect(got.map((p) => `${p.host}:${p.port}`)).toEqual(["127.0.0.1:53", "127.0.0.1:53", "127.0.0.1:53"]);
    expect(server.heads.at(-1)).toBe(`00${UUID.replaceAll("-", "")}0002003501${"7f000001"}`);
  });

  test("flow xtls-rprx-vision loads but fails to dial, saying why", async () => {
    await expect(out("vision").dialTcp(createMetadata({ network: "tcp", type: "Inner", destinationIP: "127.0.0.1", destinationPort: 80 }))).rejects.toThrow(
      'vless "vision": flow xtls-rprx-vision is not supported yet',
    );
  });
});

describe("option checks at load", () => {
  const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };
  const issuesOf = async (entry: string) => {
    const registry = new Registry();
    for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);
    return buildConfig(`proxies:\n  - ${entry}\n`, registry).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
  };
  const base = `name: v, type: vless, server: 192.0.2.1, port: 443, uuid: ${UUID}`;

  test("well-formed entries have no findings (legacy ws-path too; flow is ignored with ws)", async () => {
    expect(await issuesOf(`{${base}, tls: true, servername: a.example, udp: true}`)).toEqual([]);
    expect(await issuesOf(`{${base}, network: ws, ws-path: /x, ws-headers: {Host: a.example}}`)).toEqual([]);
    expect(await issuesOf(`{${base}, network: ws, flow: xtls-rprx-vision}`)).toEqual([]);
  });

  test("flow: only xtls-rprx-vision (a longer flow is cut to 16 characters first); it is warned about", async () => {
    expect(await issuesOf(`{${base}, tls: true, flow: xtls-rprx-vision-udp443}`)).toEqual([
      "warning proxies[0].flow: xtls-rprx-vision is not supported yet: connections through this proxy will fail",
    ]);
    expect(await issuesOf(`{${base}, tls: true, flow: xtls-rprx-direct}`)).toEqual(['error proxies[0].flow: unsupported flow "xtls-rprx-direct" (only xtls-rprx-vision is)']);
    expect(await issuesOf(`{${base}, flow: vision}`)).toEqual(['error proxies[0].flow: unsupported flow "vision" (only xtls-rprx-vision is)']);
  });

  test("uuid: a name of up to 30 characters maps to a UUID; anything longer must be a UUID", async () => {
    expect(await issuesOf(`{name: v, type: vless, server: 192.0.2.1, port: 443, uuid: my-user}`)).toEqual([]);
    expect(await issuesOf(`{name: v, type: vless, server: 192.0.2.1, port: 443, uuid: this-is-not-a-uuid-and-it-is-long}`)).toEqual([
      'error proxies[0].uuid: uuid: "this-is-not-a-uuid-and-it-is-long" is not a UUID',
    ]);
  });

  test("a bad REALITY key is an error", async () => {
    expect(await issuesOf(`{${base}, tls: true, reality-opts: {public-key: "!!"}}`)).toEqual([
      'error proxies[0].reality-opts.public-key: invalid REALITY public key "!!" (want 32 bytes, base64url)',
    ]);
  });
});
