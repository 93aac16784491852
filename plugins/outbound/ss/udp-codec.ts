/**
 * Shadowsocks UDP packets, client side. One codec per UDP association (a PacketConn).
 *
 * AEAD-2017: `salt ‖ seal(subkey(salt), nonce 0, address ‖ payload)`, both directions.
 * SIP022 AES (spec §3.2): `AES(psk₀, session id ‖ packet id) ‖ identity headers ‖ seal(session
 * subkey, header[4..16], type, timestamp, [client session id,] padding, address ‖ payload)`.
 * SIP022 ChaCha (spec §4.1): `nonce ‖ XChaCha20-Poly1305(psk, nonce, session id ‖ packet id ‖ …)`.
 * Replies from the server are checked against a sliding window of packet ids per server session.
 */
import { randomBytes, randomInt } from "node:crypto";
import type { Packet } from "../../../src/sdk/index.ts";
import { decodeAddress, encodeAddress } from "./address.ts";
import { type Aead, TAG_SIZE, xchacha } from "./aead.ts";
import { aeadSubkey, aesBlock, pskHash, sessionSubkey } from "./cipher.ts";
import { type Keys, MAX_PADDING, timestampFresh, writeTimestamp } from "./session.ts";

export interface UdpCodec {
  /** Seal one datagram for `host:port`. */
  encode(data: Uint8Array, host: string, port: number): Uint8Array;
  /** Open one datagram from the server, or say why it was dropped. */
  decode(packet: Uint8Array): Packet | string;
}

export function udpCodec(keys: Keys): UdpCodec {
  if (keys.edition === 2017) return aeadCodec(keys.aead, keys.master, keys.method.keySize);
  return keys.method.aesBlock ? ss2022AesCodec(keys.aead, keys.psks) : ss2022ChachaCodec(xchacha(keys.aead), keys.psks[0]!);
}

function aeadCodec(aead: Aead, master: Uint8Array, saltSize: number): UdpCodec {
  const zero = new Uint8Array(aead.nonceSize);
  return {
    encode(data, host, port) {
      const addr = encodeAddress(host, port);
      const plain = new Uint8Array(addr.length + data.length);
      plain.set(addr);
      plain.set(data, addr.length);
      const salt = randomBytes(saltSize);
      const out = new Uint8Array(saltSize + plain.length + TAG_SIZE);
      out.set(salt);
      aead.seal(aeadSubkey(master, salt), zero, plain, out, saltSize);
      return out;
    },
    decode(packet) {
      if (packet.length < saltSize + TAG_SIZE) return "packet too short";
      const plain = new Uint8Array(packet.length - saltSize - TAG_SIZE);
      if (!aead.open(aeadSubkey(master, packet.subarray(0, saltSize)), zero, packet.subarray(saltSize), plain, 0)) return "packet failed authentication";
      return payloadAfterAddress(plain, 0);
    },
  };
}

function payloadAfterAddress(plain: Uint8Array, off: number): Packet | string {
  const a = decodeAddress(plain, off);
  if (!a) return "bad address in packet";
  return { data: plain.subarray(a.end), host: a.host, port: a.port };
}

/**
 * Sliding-window replay filter over 64-bit packet ids (WireGuard-style, 1024 ids wide). `check`
 * does not record: the spec records an id only once the packet is fully validated.
 */
export class ReplayWindow {
  private static readonly SIZE = 1024;
  private readonly bits = new Uint8Array(ReplayWindow.SIZE);
  private top = -1;

  check(id: number): boolean {
    if (id > this.top) return true;
    if (this.top - id >= ReplayWindow.SIZE) return false;
    return this.bits[id % ReplayWindow.SIZE] === 0;
  }

  record(id: number): void {
    const size = ReplayWindow.SIZE;
    if (id > this.top) {
      for (let i = Math.max(this.top + 1, id - size + 1); i < id; i++) this.bits[i % size] = 0;
      this.top = id;
    }
    this.bits[id % size] = 1;
  }
}

/** Server sessions seen by one client session: at most two, as SIP022 §3.2.4 allows. */
class ServerSessions<K> {
  private readonly sessions = new Map<string, { key: K; window: ReplayWindow; seen: number }>();

  constructor(private readonly makeKey: (id: Uint8Array) => K) {}

  /** The session for this id; undefined when a third one appears while the older two are both recent. */
  get(id: Uint8Array): { key: K; window: ReplayWindow; seen: number } | undefined {
    const name = Buffer.from(id.buffer, id.byteOffset, 8).toString("hex");
    let s = this.sessions.get(name);
    if (s) return s;
    const now = Date.now();
    if (this.sessions.size >= 2) {
      const [oldName, old] = [...this.sessions].sort((a, b) => a[1].seen - b[1].seen)[0]!;
      if (now - old.seen < 60_000) return undefined;
      this.sessions.delete(oldName);
    }
    s = { key: this.makeKey(id), window: new ReplayWindow(), seen: now };
    this.sessions.set(name, s);
    return s;
  }
}

const readU64 = (b: Uint8Array, off: number) => {
  const v = new DataView(b.buffer, b.byteOffset);
  return v.getUint32(off) * 2 ** 32 + v.getUint32(off + 4);
};

/** Padding for DNS queries only, as sing-shadowsocks does: hides their sizes. */
function paddingFor(port: number, size: number): number {
  return port === 53 && size < MAX_PADDING ? randomInt(1, MAX_PADDING - size + 1) : 0;
}

/** The client's main header after the session/packet ids: type 0, timestamp, padding, address, payload. */
function clientBody(data: Uint8Array, host: string, port: number, prefix: number): Uint8Array {
  const addr = encodeAddress(host, port);
  const padding = paddingFor(port, data.length);
  const body = new Uint8Array(prefix + 1 + 8 + 2 + padding + addr.length + data.length);
  let off = prefix;
  body[off] = 0;
  writeTimestamp(body, off + 1);
  body[off + 9] = padding >> 8;
  body[off + 10] = padding & 0xff;
  off += 11 + padding;
  body.set(addr, off);
  body.set(data, off + addr.length);
  return body;
}

/** The server's main header at `body[off]`: type 1, timestamp, our session id, padding, address, payload. */
function serverBody(body: Uint8Array, off: number, sessionId: Uint8Array): Packet | string {
  if (body.length < off + 1 + 8 + 8 + 2) return "packet too short";
  if (body[off] !== 1) return `packet header type ${body[off]}, expected 1`;
  if (!timestampFresh(body, off + 1)) return "packet timestamp is more than 30 s off";
  if (!Buffer.from(body.buffer, body.byteOffset + off + 9, 8).equals(sessionId)) return "packet is for another client session";
  const padding = (body[off + 17]! << 8) | body[off + 18]!;
  return payloadAfterAddress(body, off + 19 + padding);
}

function ss2022AesCodec(aead: Aead, psks: Uint8Array[]): UdpCodec {
  const first = psks[0]!;
  const user = psks[psks.length - 1]!;
  const hashes = psks.slice(1).map(pskHash);
  const sessionId = randomBytes(8);
  const sessionKey = sessionSubkey(user, sessionId);
  const servers = new ServerSessions((id) => sessionSubkey(user, id));
  let packetId = 0;
  return {
    encode(data, host, port) {
      const header = new Uint8Array(16);
      header.set(sessionId);
      new DataView(header.buffer).setUint32(8, Math.floor(packetId / 2 ** 32));
      new DataView(header.buffer).setUint32(12, packetId >>> 0);
      packetId++;
      const body = clientBody(data, host, port, 0);
      const eihSize = hashes.length * 16;
      const out = new Uint8Array(16 + eihSize + body.length + TAG_SIZE);
      // SIP023: each identity header is AES(iPSKᵢ, hash(next key) XOR plain separate header).
      hashes.forEach((hash, i) => {
        const block = new Uint8Array(16);
        for (let j = 0; j < 16; j++) block[j] = hash[j]! ^ header[j]!;
        out.set(aesBlock(psks[i]!, block), 16 + i * 16);
      });
      aead.seal(sessionKey, header.subarray(4, 16), body, out, 16 + eihSize);
      out.set(aesBlock(first, header));
      return out;
    },
    decode(packet) {
      if (packet.length < 16 + TAG_SIZE + 19) return "packet too short";
      const header = aesBlock(user, packet.subarray(0, 16), true);
      const server = servers.get(header.subarray(0, 8));
      if (!server) return "a third server session within a minute";
      const id = readU64(header, 8);
      if (!server.window.check(id)) return "replayed packet id";
      const body = new Uint8Array(packet.length - 16 - TAG_SIZE);
      if (!aead.open(server.key, header.subarray(4, 16), packet.subarray(16), body, 0)) return "packet failed authentication";
      const p = serverBody(body, 0, sessionId);
      if (typeof p === "string") return p;
      server.window.record(id);
      server.seen = Date.now();
      return p;
    },
  };
}

function ss2022ChachaCodec(aead: Aead, psk: Uint8Array): UdpCodec {
  const sessionId = randomBytes(8);
  const servers = new ServerSessions(() => undefined);
  let packetId = 0;
  return {
    encode(data, host, port) {
      const body = clientBody(data, host, port, 16);
      body.set(sessionId);
      new DataView(body.buffer).setUint32(8, Math.floor(packetId / 2 ** 32));
      new DataView(body.buffer).setUint32(12, packetId >>> 0);
      packetId++;
      const nonce = randomBytes(24);
      const out = new Uint8Array(24 + body.length + TAG_SIZE);
      out.set(nonce);
      aead.seal(psk, nonce, body, out, 24);
      return out;
    },
    decode(packet) {
      if (packet.length < 24 + TAG_SIZE + 16 + 19) return "packet too short";
      const body = new Uint8Array(packet.length - 24 - TAG_SIZE);
      if (!aead.open(psk, packet.subarray(0, 24), packet.subarray(24), body, 0)) return "packet failed authentication";
      const server = servers.get(body.subarray(0, 8));
      if (!server) return "a third server session within a minute";
      const id = readU64(body, 8);
      if (!server.window.check(id)) return "replayed packet id";
      const p = serverBody(body, 16, sessionId);
      if (typeof p === "string") return p;
      server.window.record(id);
      server.seen = Date.now();
      return p;
    },
  };
}
