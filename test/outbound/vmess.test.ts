/**
 * The vmess outbound's pieces against published vectors and a captured v2ray client request, the
 * chunk stream round trip across arbitrary splits, response-head checks, the connection wrapper's
 * error handling, and the option checks at load. Interop with v2ray itself: test/interop/vmess.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { builtinPlugins } from "../../plugins/index.ts";
import { chacha20Poly1305, nodeAesGcm } from "../../plugins/outbound/ss/aead.ts";
import { userId, uuidBytes, uuidV5Nil } from "../../plugins/outbound/v2ray-shared/address.ts";
import { type Codec, ProxyConn } from "../../plugins/outbound/v2ray-shared/conn.ts";
import { ByteQueue } from "../../plugins/outbound/v2ray-shared/queue.ts";
import { ChunkOpener, ChunkSealer, type ChunkOptions } from "../../plugins/outbound/vmess/body.ts";
import { aes128Gcm } from "../../plugins/outbound/vmess/gcm.ts";
import {
  authIdKey,
  cmdKey,
  encodeHeader,
  firstAlterId,
  kdf,
  type RequestParams,
  ResponseHead,
  randomRequest,
  responseKeys,
  sealAeadHeader,
  sealLegacyHeader,
} from "../../plugins/outbound/vmess/protocol.ts";
import { Shake128Stream } from "../../plugins/outbound/vmess/shake.ts";
import { buildConfig } from "../../src/config/build.ts";
import { Registry } from "../../src/core/registry.ts";
import type { Duplex, Logger } from "../../src/sdk/index.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const chacha = await chacha20Poly1305();
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

/**
 * A request captured from a v2ray client (published with vmess-aead-python's tests): user
 * b831381d-…, AES-128-GCM with chunk masking and global padding, TCP to 104.26.12.31:80, then
 * one chunk carrying an HTTP GET.
 */
const CAPTURED = unhex(
  "62365f27d7d46c8c7afa1e47b3e7ae44f8c74911f48249306adc6c79224243239902c77fd3c0ece0852a777d2600e848c7eb3e625ec0febb94b8ce63c58868c0dfe419255317b03121484c3ee79604f248c78d21408b69108feacafbc2f5d42b559857222d73f1e48e66d09daae8a2d1048436b9b96fa9ce3f101acc69affc11eccc11492ee0abe27a1e827ceebeedd0ed4b9eeb64442227dee06c6d5e6c49a61c2985d7fc466472228ee578a71efe2bb67b2069dd0c776df4097ea697263ef3d336bdd3be6fb863c0b9c9907283c47d6dd54e637ff99408ac1ea9dc3600d3b1062fdcd04714",
);
const CAPTURED_PARAMS: RequestParams = {
  command: 1,
  security: "aes-128-gcm",
  options: 0x0d,
  host: "104.26.12.31",
  port: 80,
  time: 1703242529,
  bodyIv: unhex("b0e0372ed1becf2988cdbf592d29a374"),
  bodyKey: unhex("ec5190231ac5e588c38dca4d7700a04c"),
  responseByte: 120,
  paddingLength: 0,
  authRandom: unhex("2a308d1a"),
  connectionNonce: unhex("c77fd3c0ece0852a"),
};

/** Feed `bytes` to a queue in pieces of random sizes (1..max). */
function pieces(bytes: Uint8Array, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(Math.random() * max);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe("keys and KDF", () => {
  test("the VMess AEAD KDF matches published vectors", () => {
    const key = Buffer.from("Demo Key for Auth ID Test");
    expect(Buffer.from(kdf(key)).toString("base64")).toBe("e50sLh+rC0B6LsALqzcblmfKNfZnQIbvOEJRgh9gBfg=");
    expect(Buffer.from(kdf(key, "Demo Path for Auth ID Test").subarray(0, 16)).toString("base64")).toBe("ZuQa1H+nRfv9HpcyXpPb9A==");
    const three = kdf(Buffer.from("Demo Key for KDF Value Test"), "Demo Path for KDF Value Test", "Demo Path for KDF Value Test2", "Demo Path for KDF Value Test3");
    expect(hex(three)).toBe("53e9d7e1bd7bd25022b71ead07d8a596efc8a845c7888652fd684b4903dc8892");
  });

  test("cmdKey = MD5(uuid ‖ fixed string), as a published vector", () => {
    expect(hex(cmdKey(uuidBytes("450bae28-b9da-67d0-16bc-4918dc8d79b5")!))).toBe("da8b7df4396329ebe7a74afc62a9e7c8");
  });

  test("uuids: canonical, no dashes, braces; other strings become v5 UUIDs in the nil namespace", () => {
    const id = "b831381d-6324-4d53-ad4f-8cda48b30811";
    expect(hex(uuidBytes(id)!)).toBe(id.replaceAll("-", ""));
    expect(uuidBytes(`{${id.toUpperCase().replaceAll("-", "")}}`)).toEqual(uuidBytes(id)!);
    expect(uuidBytes("not a uuid")).toBeUndefined();
    // uuid.NewV5(uuid.Nil, "example") as gofrs/uuid computes it: SHA-1 over 16 zero bytes ‖ name.
    const v5 = createHash("sha1").update(Buffer.alloc(16)).update("example").digest().subarray(0, 16);
    v5[6] = (v5[6]! & 0x0f) | 0x50;
    v5[8] = (v5[8]! & 0x3f) | 0x80;
    expect(hex(uuidV5Nil("example"))).toBe(hex(v5));
    expect(userId("example", "vmess")).toEqual(uuidV5Nil("example"));
    expect(userId("00000000-0000-0000-0000-000000000000", "vmess")).toEqual(uuidV5Nil("00000000-0000-0000-0000-000000000000"));
    expect(userId("short name", "vless")).toEqual(uuidV5Nil("short name"));
    expect(() => userId("a string that is much too long to be a name", "vless")).toThrow("is not a UUID");
  });

  test("the first alter ID is MD5(id ‖ fixed string)", () => {
    const id = uuidBytes("b831381d-6324-4d53-ad4f-8cda48b30811")!;
    const expected = createHash("md5").update(id).update("16167dc8-16b6-4e6d-b8bb-65dd68113a81").digest();
    expect(hex(firstAlterId(id))).toBe(hex(expected));
  });

  test("SHAKE128 streams the same bytes as node's fixed-length shake128", () => {
    for (const len of [0, 16, 100, 167]) {
      const seed = randomBytes(len);
      const reference = createHash("shake128", { outputLength: 4000 }).update(seed).digest();
      const s = new Shake128Stream(seed);
      const got = Buffer.alloc(4000);
      for (let i = 0; i < 4000; i += 2) got.writeUInt16BE(s.next16(), i);
      expect(hex(got)).toBe(hex(reference));
    }
  });
});

describe("request header", () => {
  const id = uuidBytes("b831381d-6324-4d53-ad4f-8cda48b30811")!;
  const key = cmdKey(id);

  test("the AEAD header equals a v2ray client's, byte for byte", () => {
    const head = sealAeadHeader(key, authIdKey(key), CAPTURED_PARAMS);
    expect(head.length).toBe(107);
    expect(hex(head)).toBe(hex(CAPTURED.subarray(0, 107)));
  });

  test("header fields: version, IV, key, response byte, options, padding|security, command, port, address, FNV-1a", () => {
    const p = { ...CAPTURED_PARAMS, paddingLength: 3, host: "example.test", port: 443, command: 2 };
    const h = encodeHeader(p);
    expect(h[0]).toBe(1);
    expect(h.subarray(1, 17)).toEqual(p.bodyIv);
    expect(h.subarray(17, 33)).toEqual(p.bodyKey);
    expect([h[33], h[34], h[35], h[36], h[37]]).toEqual([120, 0x0d, (3 << 4) | 3, 0, 2]);
    expect(hex(h.subarray(38, 38 + 2 + 1 + 1 + 12))).toBe(`01bb020c${Buffer.from("example.test").toString("hex")}`);
    let fnv = 0x811c9dc5;
    for (const b of h.subarray(0, h.length - 4)) fnv = Math.imul(fnv ^ b, 0x01000193);
    expect(Buffer.from(h).readUInt32BE(h.length - 4)).toBe(fnv >>> 0);
    const v6 = encodeHeader({ ...p, host: "2001:db8::1", paddingLength: 0 });
    expect(hex(v6.subarray(38, 38 + 19))).toBe("01bb0320010db8000000000000000000000001");
  });

  test("the legacy header: HMAC-MD5(alter ID, time), then the header under AES-128-CFB(cmdKey, MD5(time x 4))", () => {
    const alter = firstAlterId(id);
    const p = { ...CAPTURED_PARAMS, paddingLength: 5 };
    const head = sealLegacyHeader(key, alter, p);
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(p.time));
    expect(hex(head.subarray(0, 16))).toBe(createHmac("md5", alter).update(time).digest("hex"));
    const iv = createHash("md5").update(Buffer.concat([time, time, time, time])).digest();
    const plain = createDecipheriv("aes-128-cfb", key, iv).update(head.subarray(16));
    expect(plain.subarray(0, 38 + 7)).toEqual(Buffer.from(encodeHeader(p)).subarray(0, 38 + 7));
    expect(plain.length).toBe(encodeHeader(p).length);
  });
});

describe("chunk stream", () => {
  test("a captured v2ray request body opens (masking, padding, AES-128-GCM), however it is cut", () => {
    for (let round = 0; round < 20; round++) {
      const opener = new ChunkOpener({ aead: aes128Gcm(), key: CAPTURED_PARAMS.bodyKey, iv: CAPTURED_PARAMS.bodyIv, masking: true, padding: true });
      const q = new ByteQueue();
      const got: Uint8Array[] = [];
      for (const piece of pieces(CAPTURED.subarray(107), 9)) {
        q.push(piece);
        const { data, end } = opener.openAll(q);
        if (data) got.push(data);
        expect(end).toBe(false);
      }
      expect(Buffer.concat(got).toString()).toBe("GET / HTTP/1.1\r\nHost: ip.sb\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n");
      expect(q.length).toBe(0);
      expect(opener.midChunk()).toBe(false);
    }
  });

  const variants: [string, Omit<ChunkOptions, "key" | "iv">][] = [
    [`${aes128Gcm().name}, masking`, { aead: aes128Gcm(), masking: true, padding: false }],
    [`${aes128Gcm().name}, masking + padding`, { aead: aes128Gcm(), masking: true, padding: true }],
    ["aes-128-gcm (node:crypto), masking + padding", { aead: nodeAesGcm("aes-128-gcm"), masking: true, padding: true }],
    ["chacha20-poly1305, masking + padding", { aead: chacha, masking: true, padding: true }],
    ["none, bare chunks", { aead: undefined, masking: false, padding: false }],
  ];
  for (const [name, v] of variants) {
    test(`${name}: writes of any size round-trip across arbitrary splits, then the end chunk`, () => {
      const key = randomBytes(v.aead === chacha ? 32 : 16);
      const iv = randomBytes(16);
      const sealer = new ChunkSealer({ ...v, key, iv });
      const opener = new ChunkOpener({ ...v, key, iv });
      const writes = [1, 100, 16 * 1024, 16 * 1024 + 1, 70_000, 3].map((n) => randomBytes(n));
      const wire = Buffer.concat([...writes.map((w, i) => sealer.seal(w, i === 0 ? Buffer.from("HEAD") : undefined)), sealer.seal(new Uint8Array(0), undefined)]);
      expect(wire.subarray(0, 4).toString()).toBe("HEAD");
      const q = new ByteQueue();
      const got: Uint8Array[] = [];
      let ended = false;
      for (const piece of pieces(wire.subarray(4), 5000)) {
        expect(ended).toBe(false);
        q.push(piece);
        const { data, end } = opener.openAll(q);
        if (data) got.push(data);
        ended = end;
      }
      expect(ended).toBe(true);
      expect(hex(Buffer.concat(got))).toBe(hex(Buffer.concat(writes)));
    });
  }

  test("datagrams: one chunk each, whatever their size, then the end chunk", () => {
    const key = randomBytes(16);
    const iv = randomBytes(16);
    const o = { aead: aes128Gcm(), key, iv, masking: true, padding: true };
    const sealer = new ChunkSealer(o);
    const opener = new ChunkOpener(o);
    const datagrams = [10, 1400, 30_000].map((n) => randomBytes(n));
    const q = new ByteQueue();
    for (const d of datagrams) q.push(sealer.seal(d, undefined, Number.POSITIVE_INFINITY));
    q.push(sealer.seal(new Uint8Array(0), undefined));
    for (const d of datagrams) expect(hex(opener.openOne(q)!)).toBe(hex(d));
    expect(opener.openOne(q)).toBeNull();
  });

  test("the AES-128-GCM in use agrees with node:crypto, also on views at odd offsets", () => {
    const fast = aes128Gcm();
    const node = nodeAesGcm("aes-128-gcm");
    const key = randomBytes(16);
    const nonce = randomBytes(12);
    const plain = randomBytes(3001).subarray(7);
    const a = new Uint8Array(3100);
    const b = new Uint8Array(3100);
    fast.seal(key, nonce, plain, a, 5);
    node.seal(key, nonce, plain, b, 5);
    expect(hex(a)).toBe(hex(b));
    const back = new Uint8Array(3000);
    expect(fast.open(key, nonce, b.subarray(5, 5 + plain.length + 16), back, 3)).toBe(true);
    expect(hex(back.subarray(3, 3 + plain.length))).toBe(hex(plain));
    b[9] = b[9]! ^ 1;
    expect(fast.open(key, nonce, b.subarray(5, 5 + plain.length + 16), back, 3)).toBe(false);
  });

  test("a flipped bit fails authentication; a mangled length is refused", () => {
    const key = randomBytes(16);
    const iv = randomBytes(16);
    const o = { aead: aes128Gcm(), key, iv, masking: true, padding: false };
    const wire = Buffer.from(new ChunkSealer(o).seal(Buffer.from("hello"), undefined));
    wire[5] = wire[5]! ^ 1;
    const q = new ByteQueue();
    q.push(wire);
    expect(() => new ChunkOpener(o).openAll(q)).toThrow("chunk failed authentication");
    const short = new ByteQueue();
    // A size (after unmasking) smaller than the tag cannot be a chunk.
    const mask = new Shake128Stream(iv).next16();
    short.push(Uint8Array.of((3 ^ mask) >>> 8, (3 ^ mask) & 0xff, 0, 0, 0));
    expect(() => new ChunkOpener(o).openAll(short)).toThrow("bad chunk length 3");
  });
});

/** The server side of a response head, written here from the protocol description. */
function aeadResponse(p: RequestParams, responseByte: number, extra: Uint8Array = new Uint8Array(0)): Buffer {
  const { key, iv } = responseKeys(p, false);
  const seal = (k: Uint8Array, n: Uint8Array, plain: Uint8Array) => {
    const c = createCipheriv("aes-128-gcm", k, n);
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  };
  const head = Uint8Array.of(responseByte, 0, 0, 0);
  const len = seal(kdf(key, "AEAD Resp Header Len Key").subarray(0, 16), kdf(iv, "AEAD Resp Header Len IV").subarray(0, 12), Uint8Array.of(0, 4));
  const body = seal(kdf(key, "AEAD Resp Header Key").subarray(0, 16), kdf(iv, "AEAD Resp Header IV").subarray(0, 12), head);
  return Buffer.concat([len, body, extra]);
}

describe("response head", () => {
  const p = randomRequest({ command: 1, security: "aes-128-gcm", options: 0x05, host: "127.0.0.1", port: 80 });

  test("AEAD: accepted however it is cut; the bytes after it stay queued", () => {
    const wire = aeadResponse(p, p.responseByte, Buffer.from("rest"));
    for (let round = 0; round < 10; round++) {
      const head = new ResponseHead(p.responseByte, responseKeys(p, false), false);
      const q = new ByteQueue();
      let state: ReturnType<ResponseHead["feed"]> = "more";
      for (const piece of pieces(wire, 7)) {
        q.push(piece);
        if (state === "more") state = head.feed(q);
      }
      expect(state).toBe("done");
      expect(Buffer.from(q.drain()).toString()).toBe("rest");
    }
  });

  test("AEAD: another response byte, or bytes that are not a response, are errors", () => {
    const q = new ByteQueue();
    q.push(aeadResponse(p, (p.responseByte + 1) & 0xff));
    expect(new ResponseHead(p.responseByte, responseKeys(p, false), false).feed(q)).toEqual({
      error: `response header does not match the request (${(p.responseByte + 1) & 0xff} != ${p.responseByte})`,
    });
    const junk = new ByteQueue();
    junk.push(randomBytes(40));
    expect(new ResponseHead(p.responseByte, responseKeys(p, false), false).feed(junk)).toEqual({
      error: "response header failed authentication (wrong uuid, or not a VMess server)",
    });
  });

  test("legacy: AES-128-CFB under MD5 of the request keys; a command after it is skipped", () => {
    const { key, iv } = responseKeys(p, true);
    expect(key).toEqual(createHash("md5").update(p.bodyKey).digest());
    const c = createCipheriv("aes-128-cfb", key, iv);
    const wire = Buffer.concat([c.update(Uint8Array.of(p.responseByte, 0, 1, 3, 9, 9, 9)), c.final(), Buffer.from("body")]);
    const q = new ByteQueue();
    q.push(wire);
    expect(new ResponseHead(p.responseByte, { key, iv }, true).feed(q)).toBe("done");
    expect(Buffer.from(q.drain()).toString()).toBe("body");
  });
});

/** An in-memory stream under ProxyConn: records writes, lets the test deliver bytes. */
function memoryStream() {
  const written: Uint8Array[] = [];
  let closedWith: Error | undefined | null = null;
  const d: Duplex & { written: Uint8Array[]; closedWith: () => Error | undefined | null } = {
    written,
    closedWith: () => closedWith,
    onData: undefined,
    onEnd: undefined,
    onDrain: undefined,
    onClose: undefined,
    closed: false,
    remoteAddress: "127.0.0.1",
    write(c) {
      written.push(Uint8Array.from(c));
      return true;
    },
    end() {},
    close(err) {
      if (d.closed) return;
      (d as { closed: boolean }).closed = true;
      closedWith = err;
      d.onClose?.(err);
    },
    pause() {},
    resume() {},
  };
  return d;
}

describe("the connection wrapper", () => {
  const passthrough: Codec = {
    encode: (data, head) => (head ? Buffer.concat([head, data]) : data),
    encodeEnd: () => undefined,
    readHead: (q) => {
      if (q.length < 1) return "more";
      return q.take(1)[0] === 0x2a ? "done" : { error: "bad head" };
    },
    decode: (q, emit) => {
      if (q.length > 0) emit(q.drain());
      return false;
    },
    midFrame: () => false,
  };

  test("the request head leaves with the first write, in one buffer", () => {
    const inner = memoryStream();
    const conn = new ProxyConn(inner, Buffer.from("HEAD"), passthrough, 'vmess "t"');
    conn.write(Buffer.from("data"));
    expect(inner.written.map((w) => Buffer.from(w).toString())).toEqual(["HEADdata"]);
  });

  test("without a write the head goes out by itself at the end of the event-loop turn", async () => {
    const inner = memoryStream();
    new ProxyConn(inner, Buffer.from("HEAD"), passthrough, 'vmess "t"');
    expect(inner.written).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(inner.written.map((w) => Buffer.from(w).toString())).toEqual(["HEAD"]);
  });

  test("a malformed response closes that connection with an error naming the proxy", () => {
    const inner = memoryStream();
    const conn = new ProxyConn(inner, Buffer.from("HEAD"), passthrough, 'vmess "t"');
    let closed: string | undefined;
    conn.onClose = (err) => {
      closed = err?.message;
    };
    inner.onData?.(Uint8Array.of(0x99, 1, 2));
    expect(closed).toBe('vmess "t": bad head');
    expect(conn.closed).toBe(true);
  });

  test("the server closing before it answered is an error; after it, an end", () => {
    const a = memoryStream();
    const early = new ProxyConn(a, Buffer.from("H"), passthrough, 'vmess "t"');
    let why: string | undefined;
    early.onClose = (err) => {
      why = err?.message;
    };
    a.onEnd?.();
    expect(why).toBe('vmess "t": the server closed the connection before answering (wrong uuid, or refused)');
    const b = memoryStream();
    const ok = new ProxyConn(b, Buffer.from("H"), passthrough, 'vmess "t"');
    const got: string[] = [];
    ok.onData = (c) => got.push(Buffer.from(c).toString());
    let ended = false;
    ok.onEnd = () => {
      ended = true;
    };
    b.onData?.(Buffer.from("*hello"));
    b.onEnd?.();
    expect(got).toEqual(["hello"]);
    expect(ended).toBe(true);
  });
});

describe("option checks at load", () => {
  const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };
  const issuesOf = async (entry: string) => {
    const registry = new Registry();
    for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);
    return buildConfig(`proxies:\n  - ${entry}\n`, registry).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
  };
  const base = "name: v, type: vmess, server: 192.0.2.1, port: 443, uuid: b831381d-6324-4d53-ad4f-8cda48b30811";

  test("well-formed entries have no findings; cipher is case-insensitive and alterId matches any case", async () => {
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto}`)).toEqual([]);
    expect(await issuesOf(`{${base}, alterid: 4, cipher: AES-128-GCM, network: ws, tls: true, ws-opts: {path: /x}, udp: true}`)).toEqual([]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: zero, network: h2, tls: true, h2-opts: {host: [a.example], path: /p}}`)).toEqual([]);
  });

  test("cipher and alterId are required; an unknown cipher is an error", async () => {
    expect((await issuesOf(`{${base}, alterId: 0}`)).join("\n")).toContain("error proxies[0].cipher");
    expect((await issuesOf(`{${base}, cipher: auto}`)).join("\n")).toContain("error proxies[0].alterId");
    expect((await issuesOf(`{${base}, alterId: 0, cipher: rc4}`))[0]).toStartWith("error proxies[0].cipher: expected one of auto, aes-128-gcm");
    expect(await issuesOf(`{${base}, alterId: -1, cipher: auto}`)).toEqual(["error proxies[0].alterId: must not be negative (got -1)"]);
  });

  test("network, fingerprint and REALITY keys are checked; unsupported features are warned about", async () => {
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, network: kcp}`)).toEqual([
      'error proxies[0].network: unsupported network "kcp" (want one of tcp, ws, http, h2, grpc)',
    ]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, tls: true, fingerprint: abc}`)).toEqual([
      'error proxies[0].fingerprint: fingerprint: expected a SHA-256 digest (64 hex digits, ":" allowed), got "abc"',
    ]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, tls: true, reality-opts: {public-key: short, short-id: xyz}}`)).toEqual([
      'error proxies[0].reality-opts.public-key: invalid REALITY public key "short" (want 32 bytes, base64url)',
      'error proxies[0].reality-opts.short-id: invalid REALITY short-id "xyz" (want up to 8 bytes of hex)',
    ]);
    const key = Buffer.alloc(32, 7).toString("base64url");
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, tls: true, reality-opts: {public-key: ${key}, short-id: 0123abcd}}`)).toEqual([
      "warning proxies[0].reality-opts: REALITY is not supported yet: connections through this proxy will fail",
    ]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, packet-encoding: xudp, authenticated-length: true}`)).toEqual([
      "warning proxies[0].packet-encoding: xudp is not supported yet: UDP through this proxy will fail",
      "warning proxies[0].authenticated-length: authenticated length is not supported yet: connections through this proxy will fail",
    ]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, tls: true, skip-cert-verify: true}`)).toEqual([
      "warning proxies[0].skip-cert-verify: the server's certificate is not checked",
    ]);
    expect(await issuesOf(`{${base}, alterId: 0, cipher: auto, network: h2, ws-opts: {path: /x}}`)).toEqual([
      "warning proxies[0].network: h2 always uses TLS (tls: false is ignored)",
      "warning proxies[0].ws-opts: ws-opts is unused with network h2",
    ]);
  });
});
