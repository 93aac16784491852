/**
 * VMess request and response headers (v2ray-core proxy/vmess/encoding, as mihomo sends them
 * through sing-vmess):
 *
 * - alterId 0, AEAD header: auth ID = AES-128-ECB(KDF16(cmdKey, "AES Auth ID Encryption"),
 *   time ‖ rand4 ‖ crc32), then the header length and the header, each sealed with AES-128-GCM
 *   under keys derived from (cmdKey, auth ID, 8-byte connection nonce), the auth ID as AAD.
 * - alterId > 0, legacy header: HMAC-MD5(first alter ID, time) then the header under
 *   AES-128-CFB(cmdKey, MD5(time x 4)). The server accepts the main ID and every alter ID; mihomo
 *   always uses the first alter ID, v2ray a random one.
 *
 * Header: version 1, body IV, body key, response byte, options, padding length << 4 | security,
 * 0, command, port, address, padding, FNV-1a of all that. The body keys of the response are
 * SHA-256 (AEAD) or MD5 (legacy) of the request's.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomInt } from "node:crypto";
import { destinationLength, encodeDestination } from "../v2ray-shared/address.ts";
import type { ByteQueue } from "../v2ray-shared/queue.ts";

const SECURITY = { "aes-128-gcm": 3, "chacha20-poly1305": 4, none: 5 } as const;
export type Security = keyof typeof SECURITY;

export const OPTION_CHUNK_STREAM = 0x01;
export const OPTION_CHUNK_MASKING = 0x04;
export const OPTION_GLOBAL_PADDING = 0x08;

export const COMMAND_TCP = 0x01;
export const COMMAND_UDP = 0x02;

const md5 = (...parts: (Uint8Array | string)[]) => {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The key that encrypts headers: MD5(id ‖ a fixed UUID string). */
export function cmdKey(id: Uint8Array): Uint8Array {
  return md5(id, "c48619fe-8f02-49e0-b9e9-edf763e17e21");
}

/** The first alter ID derived from `id` (v2ray's nextID). */
export function firstAlterId(id: Uint8Array): Uint8Array {
  const h = createHash("md5").update(id).update("16167dc8-16b6-4e6d-b8bb-65dd68113a81");
  // A collision with `id` itself is astronomically unlikely; the loop bounds it all the same.
  for (let i = 0; i < 16; i++) {
    const next = h.copy().digest();
    if (!next.equals(id)) return next;
    h.update("533eff8a-4113-4b10-b5ce-0f5d76b98cd2");
  }
  throw new Error("vmess: cannot derive an alter ID");
}

type Hash = (data: Uint8Array) => Uint8Array;

/** HMAC over an arbitrary hash with a 64-byte block (the KDF nests HMACs as hash functions). */
function hmacOver(hash: Hash, key: Uint8Array): Hash {
  const k = key.length > 64 ? hash(key) : key;
  const inner = new Uint8Array(64).fill(0x36);
  const outer = new Uint8Array(64).fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    inner[i] = inner[i]! ^ k[i]!;
    outer[i] = outer[i]! ^ k[i]!;
  }
  return (data) => hash(Buffer.concat([outer, hash(Buffer.concat([inner, data]))]));
}

const KDF_ROOT: Hash = (data) => createHmac("sha256", "VMess AEAD KDF").update(data).digest();

/** VMess AEAD KDF: HMAC-SHA256 keyed "VMess AEAD KDF", then one nested HMAC per path element. */
export function kdf(key: Uint8Array, ...path: (string | Uint8Array)[]): Uint8Array {
  let h = KDF_ROOT;
  for (const p of path) h = hmacOver(h, typeof p === "string" ? Buffer.from(p) : p);
  return h(key);
}

const kdf16 = (key: Uint8Array, ...path: (string | Uint8Array)[]) => kdf(key, ...path).subarray(0, 16);
const kdf12 = (key: Uint8Array, ...path: (string | Uint8Array)[]) => kdf(key, ...path).subarray(0, 12);

/** What a request header is made of; every random field is drawn by `randomRequest`. */
export interface RequestParams {
  command: number;
  security: Security;
  options: number;
  host: string;
  port: number;
  /** Unix seconds. */
  time: number;
  bodyIv: Uint8Array;
  bodyKey: Uint8Array;
  responseByte: number;
  paddingLength: number;
  /** AEAD only: 4 random bytes of the auth ID and the 8-byte connection nonce. */
  authRandom: Uint8Array;
  connectionNonce: Uint8Array;
}

export function randomRequest(
  fields: Pick<RequestParams, "command" | "security" | "options" | "host" | "port">,
): RequestParams {
  const r = randomBytes(16 + 16 + 1 + 4 + 8);
  return {
    ...fields,
    time: Math.floor(Date.now() / 1000),
    bodyIv: r.subarray(0, 16),
    bodyKey: r.subarray(16, 32),
    responseByte: r[32]!,
    paddingLength: randomInt(16),
    authRandom: r.subarray(33, 37),
    connectionNonce: r.subarray(37, 45),
  };
}

/** FNV-1a, 32 bits. */
function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

/** The plaintext header. */
export function encodeHeader(p: RequestParams): Uint8Array {
  const len = 1 + 16 + 16 + 1 + 1 + 1 + 1 + 1 + destinationLength(p.host) + p.paddingLength + 4;
  const out = new Uint8Array(len);
  let o = 0;
  out[o++] = 1;
  out.set(p.bodyIv, o);
  o += 16;
  out.set(p.bodyKey, o);
  o += 16;
  out[o++] = p.responseByte;
  out[o++] = p.options;
  out[o++] = (p.paddingLength << 4) | SECURITY[p.security];
  out[o++] = 0;
  out[o++] = p.command;
  o = encodeDestination(out, o, p.host, p.port);
  out.set(randomBytes(p.paddingLength), o);
  o += p.paddingLength;
  new DataView(out.buffer).setUint32(o, fnv1a(out.subarray(0, o)));
  return out;
}

function gcmSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, aad?: Uint8Array): Buffer {
  const c = createCipheriv("aes-128-gcm", key, nonce);
  if (aad) c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function gcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  const d = createDecipheriv("aes-128-gcm", key, nonce);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const out = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    d.final();
  } catch {
    return undefined;
  }
  return out;
}

/** Auth ID key per user: derived once (it only depends on the cmdKey). */
export function authIdKey(key: Uint8Array): Uint8Array {
  return kdf16(key, "AES Auth ID Encryption");
}

function authId(authKey: Uint8Array, time: number, random4: Uint8Array): Uint8Array {
  const plain = new Uint8Array(16);
  const view = new DataView(plain.buffer);
  view.setBigUint64(0, BigInt(time));
  plain.set(random4, 8);
  view.setUint32(12, Bun.hash.crc32(plain.subarray(0, 12)));
  const c = createCipheriv("aes-128-ecb", authKey, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]);
}

/** The whole AEAD request head: auth ID, sealed length, connection nonce, sealed header. */
export function sealAeadHeader(key: Uint8Array, authKey: Uint8Array, p: RequestParams): Uint8Array {
  const header = encodeHeader(p);
  const id = authId(authKey, p.time, p.authRandom);
  const n = p.connectionNonce;
  const length = new Uint8Array([header.length >>> 8, header.length & 0xff]);
  const sealedLength = gcmSeal(
    kdf16(key, "VMess Header AEAD Key_Length", id, n),
    kdf12(key, "VMess Header AEAD Nonce_Length", id, n),
    length,
    id,
  );
  const sealedHeader = gcmSeal(kdf16(key, "VMess Header AEAD Key", id, n), kdf12(key, "VMess Header AEAD Nonce", id, n), header, id);
  return Buffer.concat([id, sealedLength, n, sealedHeader]);
}

/** The legacy request head: HMAC-MD5 auth, then the header under AES-128-CFB. */
export function sealLegacyHeader(key: Uint8Array, alterId: Uint8Array, p: RequestParams): Uint8Array {
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(p.time));
  const auth = createHmac("md5", alterId).update(time).digest();
  const iv = md5(time, time, time, time);
  const c = createCipheriv("aes-128-cfb", key, iv);
  return Buffer.concat([auth, c.update(encodeHeader(p)), c.final()]);
}

/** Body keys of the response direction. */
export function responseKeys(p: RequestParams, legacy: boolean): { key: Uint8Array; iv: Uint8Array } {
  if (legacy) return { key: md5(p.bodyKey), iv: md5(p.bodyIv) };
  return {
    key: createHash("sha256").update(p.bodyKey).digest().subarray(0, 16),
    iv: createHash("sha256").update(p.bodyIv).digest().subarray(0, 16),
  };
}

/**
 * Reads the response head off the first bytes the server sends: `feed` takes what it can from the
 * queue and answers "more" (wait for bytes), "done", or what is wrong with it.
 */
export class ResponseHead {
  /** AEAD: the sealed header's length once known; legacy: bytes of command still to skip. */
  private pending = -1;

  constructor(
    private readonly expectedByte: number,
    private readonly keys: { key: Uint8Array; iv: Uint8Array },
    private readonly legacy: boolean,
  ) {}

  feed(q: ByteQueue): "more" | "done" | { error: string } {
    return this.legacy ? this.feedLegacy(q) : this.feedAead(q);
  }

  private feedAead(q: ByteQueue): "more" | "done" | { error: string } {
    const { key, iv } = this.keys;
    if (this.pending < 0) {
      if (q.length < 18) return "more";
      const plain = gcmOpen(kdf16(key, "AEAD Resp Header Len Key"), kdf12(iv, "AEAD Resp Header Len IV"), q.take(18));
      if (!plain) return { error: "response header failed authentication (wrong uuid, or not a VMess server)" };
      this.pending = ((plain[0]! << 8) | plain[1]!) + 16;
      if (this.pending < 4 + 16) return { error: "response header too short" };
    }
    if (q.length < this.pending) return "more";
    const head = gcmOpen(kdf16(key, "AEAD Resp Header Key"), kdf12(iv, "AEAD Resp Header IV"), q.take(this.pending));
    if (!head) return { error: "response header failed authentication" };
    if (head[0] !== this.expectedByte) return { error: `response header does not match the request (${head[0]} != ${this.expectedByte})` };
    return "done";
  }

  private feedLegacy(q: ByteQueue): "more" | "done" | { error: string } {
    if (this.pending < 0) {
      if (q.length < 4) return "more";
      const head = createDecipheriv("aes-128-cfb", this.keys.key, this.keys.iv).update(q.take(4));
      if (head[0] !== this.expectedByte) {
        return { error: `response header does not match the request (wrong uuid, or not a VMess server)` };
      }
      // A command (v2ray's dynamic port switch) may follow; it is skipped, not acted upon.
      this.pending = head[3]!;
    }
    if (q.length < this.pending) return "more";
    q.skip(this.pending);
    return "done";
  }
}
