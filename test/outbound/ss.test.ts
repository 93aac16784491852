/**
 * The ss outbound without outside peers: AEAD backends against known answers and against each
 * other, key derivation and SIP022 vectors, chunk reassembly over arbitrary splits, replay and
 * header checks, config validation (config.md §23 #11–12), and SIP022 / UDP-over-TCP end to end
 * through ferry's engine against the test-only server (ss-server.ts). Interop with
 * shadowsocks-libev is in test/interop/ss.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { builtinPlugins } from "../../plugins/index.ts";
import { type Aead, chachaBackend, hchacha20, nodeAesGcm, TAG_SIZE, xchacha } from "../../plugins/outbound/ss/aead.ts";
import { aeadSubkey, evpBytesToKey, method, parsePsks, sessionSubkey } from "../../plugins/outbound/ss/cipher.ts";
import { AEAD_MAX_PAYLOAD, ChunkReader, ChunkWriter, SS2022_MAX_PAYLOAD } from "../../plugins/outbound/ss/codec.ts";
import { clientSession } from "../../plugins/outbound/ss/session.ts";
import { ReplayWindow } from "../../plugins/outbound/ss/udp-codec.ts";
import { buildConfig } from "../../src/config/build.ts";
import type { ConfigIssue } from "../../src/config/issues.ts";
import { connectTcp } from "../../src/core/socket-stream.ts";
import { Registry } from "../../src/core/registry.ts";
import { onLog } from "../../src/log.ts";
import type { Logger } from "../../src/sdk/index.ts";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";
import { socksConnect, socksUdp } from "../interop/socks5-client.ts";
import { SaltPool, startTestServer, type TestServer } from "./ss-server.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

function seal(aead: Aead, key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(plain.length + TAG_SIZE);
  aead.seal(key, nonce, plain, out, 0);
  return out;
}

let ffi: Aead;
let wasm: Aead;
beforeAll(async () => {
  const f = await chachaBackend("libcrypto");
  const w = await chachaBackend("wasm");
  if (!f || !w) throw new Error("both ChaCha20-Poly1305 backends must load on this machine");
  ffi = f;
  wasm = w;
});

describe("AEAD backends", () => {
  test("AES-GCM (node:crypto): GCM spec test cases 2, 8 and 14 (zero key, IV and block)", () => {
    const cases = [
      ["aes-128-gcm", 16, "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"],
      ["aes-192-gcm", 24, "98e7247c07f0fe411c267e4384b0f6002ff58d80033927ab8ef4d4587514f0fb"],
      ["aes-256-gcm", 32, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"],
    ] as const;
    for (const [name, size, expected] of cases) {
      const aead = nodeAesGcm(name);
      const sealed = seal(aead, new Uint8Array(size), new Uint8Array(12), new Uint8Array(16));
      expect(hex(sealed)).toBe(expected);
      const back = new Uint8Array(16);
      expect(aead.open(new Uint8Array(size), new Uint8Array(12), sealed, back, 0)).toBe(true);
      sealed[3]! ^= 1;
      expect(aead.open(new Uint8Array(size), new Uint8Array(12), sealed, back, 0)).toBe(false);
    }
  });

  test("ChaCha20-Poly1305: known answers for the libcrypto and WASM backends", () => {
    // RFC 8439 key and nonce: the empty message (Tink's self-test) and the RFC's first 20
    // plaintext bytes without AAD (ciphertext = the RFC's, tag from python-cryptography).
    const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
    const nonce = unhex("070000004041424344454647");
    for (const aead of [ffi, wasm]) {
      expect(hex(seal(aead, key, nonce, new Uint8Array(0)))).toBe("a0784d7a4716f3feb4f64e7f4b39bf04");
      expect(hex(seal(aead, key, nonce, Buffer.from("Ladies and Gentlemen")))).toBe(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51dbf3a3a6d05a122619b0d634be6b3475",
      );
    }
  });

  test("ChaCha20-Poly1305: libcrypto and WASM agree on 200 random messages and both refuse a forged tag", () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const plain = randomBytes(i === 0 ? 0 : Math.floor(Math.random() * 20000));
      const a = seal(ffi, key, nonce, plain);
      expect(hex(seal(wasm, key, nonce, plain))).toBe(hex(a));
      for (const aead of [ffi, wasm]) {
        const back = new Uint8Array(plain.length);
        expect(aead.open(key, nonce, a, back, 0)).toBe(true);
        expect(Buffer.from(back).equals(plain)).toBe(true);
      }
      a[a.length - 1]! ^= 0x80;
      expect([ffi.open(key, nonce, a, new Uint8Array(plain.length), 0), wasm.open(key, nonce, a, new Uint8Array(plain.length), 0)]).toEqual([false, false]);
    }
  });

  test("HChaCha20: draft-irtf-cfrg-xchacha §2.2.1", () => {
    const out = new Uint8Array(32);
    hchacha20(
      Uint8Array.from({ length: 32 }, (_, i) => i),
      unhex("000000090000004a0000000031415927"),
      out,
    );
    expect(hex(out)).toBe("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
  });

  test("XChaCha20-Poly1305 over both backends equals libsodium's own XChaCha20-Poly1305", async () => {
    const { default: sodium } = await import("libsodium-wrappers");
    await sodium.ready;
    for (let i = 0; i < 50; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(24);
      const plain = randomBytes(i * 97);
      const expected = hex(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, null, null, nonce, key));
      expect(hex(seal(xchacha(ffi), key, nonce, plain))).toBe(expected);
      expect(hex(seal(xchacha(wasm), key, nonce, plain))).toBe(expected);
    }
  });
});

describe("keys", () => {
  test("EVP_BytesToKey: the first block is MD5(password), the next MD5(first ‖ password)", () => {
    const key = evpBytesToKey("foobar", 32);
    const first = createHash("md5").update("foobar").digest();
    const second = createHash("md5").update(first).update("foobar").digest();
    expect(hex(key)).toBe(hex(Buffer.concat([first, second])));
    expect(hex(key.subarray(0, 16))).toBe("3858f62230ac3c915f300c664312c63f");
    expect(evpBytesToKey("foobar", 24).length).toBe(24);
  });

  test("AEAD subkey: HKDF-SHA1 with info ss-subkey, as long as the key", () => {
    const master = evpBytesToKey("x", 16);
    expect(aeadSubkey(master, new Uint8Array(16)).length).toBe(16);
    expect(hex(aeadSubkey(master, new Uint8Array(16)))).not.toBe(hex(aeadSubkey(master, new Uint8Array(16).fill(1))));
  });

  test("SIP022 session subkey: BLAKE3 derive_key vector (urban-spork's AEAD2022 test case)", () => {
    const key = b64("Lc3tTx0BY6ZJ/fCwOx3JvF0I/anhwJBO5p2+FA5Vce4=");
    const salt = b64("3oFO0VyLyGI4nFN0M9P+62vPND/L6v8IingaPJWTbJA=");
    expect(Buffer.from(sessionSubkey(key, salt)).toString("base64")).toBe("EdNE+4U8dVnHT0+poAFDK2bdlwfrHT61sUNr9WYPh+E=");
  });

  test("SIP022 PSKs: base64, the method's length; longer keys are hashed down; errors say what is needed", () => {
    const m = method("2022-blake3-aes-128-gcm");
    expect(parsePsks(Buffer.alloc(16, 1).toString("base64"), m)[0]!.length).toBe(16);
    const long = parsePsks(Buffer.alloc(32, 1).toString("base64"), m)[0]!;
    expect(hex(long)).toBe(hex(createHash("sha256").update(Buffer.alloc(32, 1)).digest().subarray(0, 16)));
    expect(() => parsePsks("not base64!", m)).toThrow("not base64; 2022-blake3-aes-128-gcm needs a 16-byte key");
    expect(() => parsePsks(Buffer.alloc(8).toString("base64"), m)).toThrow("a 8-byte key; 2022-blake3-aes-128-gcm needs a 16-byte key");
    expect(parsePsks(`${Buffer.alloc(16, 1).toString("base64")}:${Buffer.alloc(16, 2).toString("base64")}`, m)).toHaveLength(2);
    expect(() => parsePsks(`${Buffer.alloc(32).toString("base64")}:${Buffer.alloc(32).toString("base64")}`, method("2022-blake3-chacha20-poly1305"))).toThrow(
      "takes one key",
    );
  });
});

describe("chunk stream", () => {
  const cases = [
    { name: "AEAD-2017 aes-128-gcm", aead: () => nodeAesGcm("aes-128-gcm"), key: 16, max: AEAD_MAX_PAYLOAD },
    { name: "AEAD-2017 chacha20 (libcrypto)", aead: () => ffi, key: 32, max: AEAD_MAX_PAYLOAD },
    { name: "SIP022 chunks (0xFFFF) xchacha (WASM)", aead: () => xchacha(wasm), key: 32, max: SS2022_MAX_PAYLOAD },
  ];
  for (const c of cases) {
    test(`${c.name}: any split of the stream decrypts to the same bytes`, () => {
      const aead = c.aead();
      const salt = randomBytes(c.key);
      const key = randomBytes(c.key);
      const writer = new ChunkWriter(aead, key, c.max);
      const plain = randomBytes(200_000);
      const pieces = [plain.subarray(0, 1), plain.subarray(1, 70_000), plain.subarray(70_000, 70_000), plain.subarray(70_000)];
      const parts: Uint8Array[] = [salt];
      for (const p of pieces) {
        const out = new Uint8Array(writer.size(p.length));
        expect(writer.sealChunks(p, out, 0)).toBe(out.length);
        parts.push(out);
      }
      const wire = Buffer.concat(parts);
      for (const split of [1, 7, 18, 19, 1000, 16_401, 65_536, wire.length]) {
        const reader = new ChunkReader(aead, { saltSize: c.key, subkey: (s) => (Buffer.from(s).equals(salt) ? key : new Uint8Array(c.key)), maxPayload: c.max });
        const got: Uint8Array[] = [];
        for (let at = 0; at < wire.length; at += split) {
          const r = reader.feed(wire.subarray(at, at + split));
          if (r instanceof Error) throw r;
          got.push(r);
        }
        expect({ split, equal: Buffer.concat(got).equals(plain) }).toEqual({ split, equal: true });
      }
      // Random splits, including empty reads.
      const reader = new ChunkReader(aead, { saltSize: c.key, subkey: () => key, maxPayload: c.max });
      const got: Uint8Array[] = [];
      for (let at = 0; at < wire.length; ) {
        const n = Math.floor(Math.random() * 5000);
        const r = reader.feed(wire.subarray(at, at + n));
        if (r instanceof Error) throw r;
        got.push(r);
        at += n;
      }
      expect(Buffer.concat(got).equals(plain)).toBe(true);
    });
  }

  test("a forged chunk, a wrong key and an oversize length are errors, not exceptions", () => {
    const aead = nodeAesGcm("aes-256-gcm");
    const key = randomBytes(32);
    const writer = new ChunkWriter(aead, key, AEAD_MAX_PAYLOAD);
    const out = new Uint8Array(32 + writer.size(100));
    writer.sealChunks(randomBytes(100), out, 32);
    const forged = out.slice();
    forged[32 + 18 + 5]! ^= 1;
    const open = (wire: Uint8Array, k: Uint8Array, max = AEAD_MAX_PAYLOAD) => new ChunkReader(aead, { saltSize: 32, subkey: () => k, maxPayload: max }).feed(wire);
    expect(open(out, key)).toBeInstanceOf(Uint8Array);
    expect(String(open(forged, key))).toContain("failed authentication");
    expect(String(open(out, randomBytes(32)))).toContain("wrong password or cipher");
    expect(String(open(out, key, 50))).toContain("chunk length 100 exceeds 50");
  });
});

describe("replay protection", () => {
  test("UDP packet ids: a sliding window refuses repeats and ids too far behind", () => {
    const w = new ReplayWindow();
    for (const id of [0, 1, 5, 3, 2000]) {
      expect(w.check(id)).toBe(true);
      w.record(id);
    }
    // The window holds the 1024 ids up to the highest seen: 977..2000.
    expect([w.check(0), w.check(5), w.check(2000), w.check(976), w.check(977), w.check(1999), w.check(4)]).toEqual([false, false, false, false, true, true, false]);
  });

  test("the salt pool refuses a salt seen within its TTL and forgets it afterwards", () => {
    const pool = new SaltPool(60_000);
    const salt = randomBytes(16);
    expect(pool.add(salt, 1000)).toBe(true);
    expect(pool.add(salt, 2000)).toBe(false);
    expect(pool.add(salt, 61_001)).toBe(true);
  });

  test("SIP022 response checks: the request salt must be echoed and the timestamp fresh", async () => {
    const m = method("2022-blake3-aes-128-gcm");
    const aead = await m.aead();
    const psk = randomBytes(16);
    const session = clientSession({ method: m, aead, edition: 2022, psks: [psk] }, Uint8Array.of(1, 127, 0, 0, 1, 0, 80));
    const request = session.request(new Uint8Array(0));
    const requestSalt = request.subarray(0, 16);
    const response = (salt: Uint8Array, seconds: number) => {
      const s = randomBytes(16);
      const w = new ChunkWriter(aead, sessionSubkey(psk, s), SS2022_MAX_PAYLOAD);
      const fixed = new Uint8Array(1 + 8 + 16 + 2);
      fixed[0] = 1;
      new DataView(fixed.buffer).setUint32(5, seconds);
      fixed.set(salt, 9);
      fixed[26] = 2;
      const out = new Uint8Array(16 + fixed.length + 2 + 2 * TAG_SIZE);
      out.set(s);
      w.sealChunk(Uint8Array.of(104, 105), out, w.sealChunk(fixed, out, 16));
      return out;
    };
    const now = Math.floor(Date.now() / 1000);
    expect(String(clientSession({ method: m, aead, edition: 2022, psks: [psk] }, new Uint8Array(7)).reader.feed(response(requestSalt, now)))).toContain(
      "request salt differs",
    );
    expect(String(session.reader.feed(response(requestSalt, now - 120)))).toContain("more than 30 s off");
    const fresh = clientSession({ method: m, aead, edition: 2022, psks: [psk] }, new Uint8Array(7));
    const salt = fresh.request(new Uint8Array(0)).subarray(0, 16);
    expect(Buffer.from(fresh.reader.feed(response(salt, now)) as Uint8Array).toString()).toBe("hi");
  });
});

let registry: Registry;
const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };
beforeAll(async () => {
  registry = new Registry();
  for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);
});

function check(entry: string): ConfigIssue[] {
  return buildConfig(`proxies:\n  - ${entry}\n`, registry).issues.filter((i) => i.severity === "error");
}

describe("config validation (config.md §23 #11, #12)", () => {
  const base = "name: s, type: ss, server: 127.0.0.1, port: 8388";
  const key16 = Buffer.alloc(16, 7).toString("base64");
  test("valid entries load without errors", () => {
    for (const e of [
      `{${base}, cipher: aes-128-gcm, password: p}`,
      `{${base}, cipher: xchacha20-ietf-poly1305, password: p, udp: true, udp-over-tcp: true, udp-over-tcp-version: 2}`,
      `{${base}, cipher: 2022-blake3-aes-128-gcm, password: '${key16}:${key16}'}`,
      `{${base}, cipher: chacha20-ietf-poly1305, password: p, plugin: obfs, plugin-opts: {mode: tls, host: example.test}}`,
      `{${base}, cipher: aes-256-gcm, password: p, plugin: v2ray-plugin, plugin-opts: {mode: websocket, tls: true, path: /x, mux: false}}`,
    ]) {
      expect({ e, errors: check(e).map((i) => i.message) }).toEqual({ e, errors: [] });
    }
  });

  const invalid: [string, string, string][] = [
    [`{${base}, cipher: aes-128-cfb, password: p}`, "proxies[0].cipher", "expected one of aes-128-gcm, aes-192-gcm, aes-256-gcm, chacha20-ietf-poly1305"],
    [`{${base}, password: p}`, "proxies[0].cipher", "missing required key"],
    [`{${base}, cipher: aes-128-gcm}`, "proxies[0].password", "missing required key"],
    [`{${base}, cipher: aes-128-gcm, password: p, udp-over-tcp-version: 3}`, "proxies[0].udp-over-tcp-version", "expected one of 0, 1, 2"],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: shadow-tls}`, "proxies[0].plugin", 'expected one of obfs, v2ray-plugin, got "shadow-tls"'],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: obfs}`, "proxies[0].plugin-opts.mode", "obfs needs mode http or tls"],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: obfs, plugin-opts: {mode: websocket}}`, "proxies[0].plugin-opts.mode", 'obfs needs mode http or tls, got "websocket"'],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: v2ray-plugin, plugin-opts: {mode: grpc}}`, "proxies[0].plugin-opts.mode", "expected one of http, tls, websocket"],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: v2ray-plugin, plugin-opts: {mode: tls}}`, "proxies[0].plugin-opts.mode", "v2ray-plugin needs mode websocket"],
    [`{${base}, cipher: aes-128-gcm, password: p, plugin: v2ray-plugin, plugin-opts: {mode: websocket, fingerprint: abc}}`, "proxies[0].plugin-opts.fingerprint", "SHA-256"],
    [`{${base}, cipher: 2022-blake3-aes-256-gcm, password: ${key16}}`, "proxies[0].password", "a 16-byte key; 2022-blake3-aes-256-gcm needs a 32-byte key"],
    [`{${base}, cipher: 2022-blake3-aes-128-gcm, password: hunter2}`, "proxies[0].password", "not base64"],
  ];
  for (const [entry, path, message] of invalid) {
    test(`${path}: ${message}`, () => {
      const errors = check(entry);
      expect(errors.find((e) => e.path === path)?.message ?? errors.map((e) => `${e.path}: ${e.message}`).join("\n")).toContain(message);
    });
  }
});

// ----------------------------------------------------------------------------- end to end

/** A UDP echo in this process (keeps datagram boundaries, unlike socat under load). */
async function udpEcho() {
  return Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(s, d, port, address) {
        s.send(d, port, address);
      },
    },
  });
}

/** A TCP echo in this process. */
function tcpEcho() {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        s.write(d);
      },
    },
  });
}

async function pingPongTcp(mixed: number, echoPort: number, rounds = 3): Promise<string[]> {
  const { stream } = await socksConnect(mixed, "127.0.0.1", echoPort);
  const got: string[] = [];
  let pending: ((s: string) => void) | undefined;
  stream.onData = (c) => pending?.(Buffer.from(c).toString());
  stream.resume();
  for (let i = 0; i < rounds; i++) {
    const reply = new Promise<string>((resolve, reject) => {
      pending = resolve;
      stream.onClose = () => reject(new Error("closed"));
    });
    stream.write(Buffer.from(`ping ${i}`));
    got.push(await reply);
  }
  stream.close();
  return got;
}

async function pingPongUdp(mixed: number, echoPort: number, rounds = 3): Promise<string[]> {
  const udp = await socksUdp(mixed);
  const got: string[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const reply = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no UDP reply to ping ${i} within 5 s`)), 5000);
        udp.onPacket = (d, ip, port) => {
          clearTimeout(timer);
          resolve(`${Buffer.from(d).toString()} from ${ip}:${port}`);
        };
      });
      udp.send(Buffer.from(`ping ${i}`), "127.0.0.1", echoPort);
      got.push(await reply);
    }
  } finally {
    udp.close();
  }
  return got;
}

describe("SIP022 and UDP-over-TCP through ferry's engine, against the test server", () => {
  const origin = startOrigin();
  const echo = tcpEcho();
  let udpEchoSocket: Awaited<ReturnType<typeof udpEcho>>;
  const servers: TestServer[] = [];
  afterAll(() => {
    origin.stop();
    echo.stop(true);
    udpEchoSocket?.close();
    for (const s of servers) s.close();
  });
  beforeAll(async () => {
    udpEchoSocket = await udpEcho();
  });

  const key = (n: number, fill: number) => Buffer.alloc(n, fill).toString("base64");
  const rows: { label: string; cipher: Parameters<typeof startTestServer>[0]["cipher"]; server: string; users?: string[]; client: string; extra?: string }[] = [
    { label: "2022-blake3-aes-128-gcm", cipher: "2022-blake3-aes-128-gcm", server: key(16, 1), client: key(16, 1) },
    { label: "2022-blake3-aes-256-gcm", cipher: "2022-blake3-aes-256-gcm", server: key(32, 2), client: key(32, 2) },
    { label: "2022-blake3-chacha20-poly1305", cipher: "2022-blake3-chacha20-poly1305", server: key(32, 3), client: key(32, 3) },
    {
      label: "2022-blake3-aes-256-gcm, second of two users (identity header)",
      cipher: "2022-blake3-aes-256-gcm",
      server: key(32, 4),
      users: [key(32, 5), key(32, 6)],
      client: `${key(32, 4)}:${key(32, 6)}`,
    },
    { label: "aes-256-gcm, UDP over TCP v1", cipher: "aes-256-gcm", server: "pass", client: "pass", extra: "udp-over-tcp: true" },
    { label: "2022-blake3-aes-128-gcm, UDP over TCP v2", cipher: "2022-blake3-aes-128-gcm", server: key(16, 7), client: key(16, 7), extra: "udp-over-tcp: true, udp-over-tcp-version: 2" },
    { label: "chacha20-ietf-poly1305 through a dialer-proxy (TCP and UDP)", cipher: "chacha20-ietf-poly1305", server: "pass", client: "pass", extra: "dialer-proxy: hop" },
  ];

  for (const row of rows) {
    test(`${row.label}: HTTP download, TCP and UDP ping-pong`, async () => {
      const server = await startTestServer({ cipher: row.cipher, password: row.server, users: row.users });
      servers.push(server);
      const mixed = freePort();
      const ferry = await startRuntime(
        [
          `mixed-port: ${mixed}`,
          "log-level: warning",
          "proxies:",
          `  - {name: s, type: ss, server: 127.0.0.1, port: ${server.port}, cipher: ${row.cipher}, password: '${row.client}', udp: true${row.extra ? `, ${row.extra}` : ""}}`,
          "  - {name: hop, type: direct}",
          "rules:",
          "  - MATCH,s",
        ].join("\n"),
      );
      try {
        const r = await curl(["-x", `http://127.0.0.1:${mixed}`, `http://127.0.0.1:${origin.port}/big`]);
        expect({ stderr: r.stderr, length: r.stdout.length }).toEqual({ stderr: "", length: 4 * 1024 * 1024 });
        expect(await pingPongTcp(mixed, echo.port)).toEqual(["ping 0", "ping 1", "ping 2"]);
        const from = `127.0.0.1:${udpEchoSocket.port}`;
        expect(await pingPongUdp(mixed, udpEchoSocket.port)).toEqual([`ping 0 from ${from}`, `ping 1 from ${from}`, `ping 2 from ${from}`]);
        expect(server.refusals).toEqual([]);
        if (row.extra?.includes("udp-over-tcp")) expect(server.targets).toContain(row.extra.includes("version: 2") ? "sp.v2.udp-over-tcp.arpa:0" : "sp.udp-over-tcp.arpa:0");
      } finally {
        await ferry.stop();
      }
    }, 30_000);
  }

  test("a wrong SIP022 key: the server refuses, the client connection closes, ferry keeps serving", async () => {
    const server = await startTestServer({ cipher: "2022-blake3-aes-128-gcm", password: key(16, 8) });
    servers.push(server);
    const [good, bad] = [freePort(), freePort()];
    const ferry = await startRuntime(
      [
        `mixed-port: ${good}`,
        "log-level: silent",
        "proxies:",
        `  - {name: ok, type: ss, server: 127.0.0.1, port: ${server.port}, cipher: 2022-blake3-aes-128-gcm, password: '${key(16, 8)}'}`,
        `  - {name: wrong, type: ss, server: 127.0.0.1, port: ${server.port}, cipher: 2022-blake3-aes-128-gcm, password: '${key(16, 9)}'}`,
        "listeners:",
        `  - {name: w, type: mixed, listen: 127.0.0.1, port: ${bad}, proxy: wrong}`,
        "rules:",
        "  - MATCH,ok",
      ].join("\n"),
    );
    try {
      const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", "-x", `http://127.0.0.1:${bad}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("502");
      expect(server.refusals.some((w) => w.includes("failed authentication"))).toBe(true);
      const ok = await curl(["-x", `http://127.0.0.1:${good}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(ok.stdout).toBe("hello from origin\n");
    } finally {
      await ferry.stop();
    }
  }, 30_000);

  test("a dial that fails names the proxy and the reason", async () => {
    const closed = freePort();
    const mixed = freePort();
    const lines: string[] = [];
    const stop = onLog((e) => lines.push(e.payload));
    const ferry = await startRuntime(
      [`mixed-port: ${mixed}`, "log-level: warning", "proxies:", `  - {name: gone, type: ss, server: 127.0.0.1, port: ${closed}, cipher: aes-128-gcm, password: p}`, "rules:", "  - MATCH,gone"].join("\n"),
    );
    try {
      const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", "-x", `http://127.0.0.1:${mixed}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("502");
      expect(lines.find((l) => l.includes("dial gone"))).toContain(`"gone": connect 127.0.0.1:${closed}: ECONNREFUSED`);
    } finally {
      stop();
      await ferry.stop();
    }
  });

  test("a replayed SIP022 request is refused by the server's salt pool", async () => {
    const psk = key(32, 10);
    const server = await startTestServer({ cipher: "2022-blake3-aes-256-gcm", password: psk });
    servers.push(server);
    const m = method("2022-blake3-aes-256-gcm");
    const session = clientSession({ method: m, aead: await m.aead(), edition: 2022, psks: parsePsks(psk, m) }, Uint8Array.of(1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255));
    const request = session.request(Buffer.from("hello"));
    /** Send the same request bytes on a new connection: "data" when answered, "closed" when refused. */
    const send = async () => {
      const s = await connectTcp("127.0.0.1", server.port);
      const outcome = new Promise<"data" | "closed">((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no answer within 5 s")), 5000);
        s.onData = () => {
          clearTimeout(timer);
          resolve("data");
          s.close();
        };
        s.onEnd = () => s.close();
        s.onClose = () => {
          clearTimeout(timer);
          resolve("closed");
        };
      });
      s.write(request);
      return outcome;
    };
    expect(await send()).toBe("data");
    expect(await send()).toBe("closed");
    expect(server.refusals).toEqual(["replayed salt"]);
  }, 10_000);
});
