/**
 * The server name of a QUIC client's TLS ClientHello, read from its Initial packets (RFC 9000
 * §17.2.2, RFC 9001 §5). Initial packets are encrypted with keys anyone can derive from the
 * Destination Connection ID: HKDF-SHA256 for the secrets, AES-128-ECB to lift the header
 * protection, AES-128-GCM for the payload, all through node:crypto. The ClientHello travels in
 * CRYPTO frames that may come in any order and, with large key shares, span several packets and
 * datagrams: one reader per flow collects them until the hello is whole.
 */
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
import { NEED_MORE, NO_HOST, type Sniffed } from "./result.ts";
import { clientHelloName } from "./tls.ts";

const VERSION_1 = 0x00000001;
/** draft-29, still sent by some clients; mihomo reads it too. */
const VERSION_DRAFT_29 = 0xff00001d;
const SALT_V1 = Buffer.from("38762cf7f55934b34d179ae6a4c80cadccbb7f0a", "hex");
const SALT_DRAFT_29 = Buffer.from("afbfec289993d24c9e9786f19c6111e04390a899", "hex");
/** Most CRYPTO stream bytes a reader keeps: far above any ClientHello seen in practice. */
const MAX_CRYPTO = 64 * 1024;
const TAG_LEN = 16;

const FRAME_PADDING = 0x00;
const FRAME_PING = 0x01;
const FRAME_ACK = 0x02;
const FRAME_ACK_ECN = 0x03;
const FRAME_CRYPTO = 0x06;
const FRAME_CONNECTION_CLOSE = 0x1c;
const CLIENT_HELLO = 1;

interface InitialKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context; one HMAC block covers every length used here. */
function expandLabel(secret: Uint8Array, label: string, length: number): Buffer {
  const full = `tls13 ${label}`;
  const info = Buffer.alloc(5 + full.length);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  info.write(full, 3, "latin1");
  info[3 + full.length] = 0;
  info[4 + full.length] = 1;
  return createHmac("sha256", secret).update(info).digest().subarray(0, length);
}

/** The client's Initial keys for a Destination Connection ID (RFC 9001 §5.2). */
export function initialKeys(dcid: Uint8Array, version: number): InitialKeys {
  const initial = createHmac("sha256", version === VERSION_1 ? SALT_V1 : SALT_DRAFT_29)
    .update(dcid)
    .digest();
  const client = expandLabel(initial, "client in", 32);
  return { key: expandLabel(client, "quic key", 16), iv: expandLabel(client, "quic iv", 12), hp: expandLabel(client, "quic hp", 16) };
}

/**
 * Reads one flow's datagrams until its ClientHello is whole. `push` returns the name, NEED_MORE
 * while CRYPTO data is missing, or NO_HOST when the first datagram is not a QUIC Initial or the
 * hello is unusable; datagrams after the first that do not decrypt are ignored.
 */
export class QuicSniffer {
  private version = 0;
  private dcid: Buffer | undefined;
  private keys: InitialKeys | undefined;
  private crypto = new Uint8Array(0);
  /** Received CRYPTO ranges, merged and sorted: flat [start, end) pairs. */
  private ranges: number[] = [];
  private done: Sniffed = NEED_MORE;
  /** Read position of the varint reader over the current buffer. */
  private pos = 0;

  push(datagram: Uint8Array): Sniffed {
    if (this.done !== NEED_MORE) return this.done;
    const first = this.keys === undefined;
    const accepted = this.packets(datagram);
    if (!accepted) {
      if (first) this.done = NO_HOST;
      return this.done;
    }
    this.done = this.hello();
    return this.done;
  }

  /** Decrypt every Initial packet of the datagram (coalesced packets included); true if one took. */
  private packets(d: Uint8Array): boolean {
    let took = false;
    let p = 0;
    while (p + 7 <= d.length) {
      const b0 = d[p]!;
      // Long header with the fixed bit; a short header ends the datagram's long-header packets.
      if ((b0 & 0xc0) !== 0xc0) break;
      const version = ((d[p + 1]! << 24) | (d[p + 2]! << 16) | (d[p + 3]! << 8) | d[p + 4]!) >>> 0;
      if (version !== VERSION_1 && version !== VERSION_DRAFT_29) break;
      let q = p + 5;
      const dcidLen = d[q]!;
      if (dcidLen > 20 || q + 1 + dcidLen + 1 > d.length) break;
      const dcid = d.subarray(q + 1, q + 1 + dcidLen);
      q += 1 + dcidLen;
      const scidLen = d[q]!;
      q += 1 + scidLen;
      const type = (b0 & 0x30) >> 4;
      // Retry (3) has no length field and nothing after it is ours to read.
      if (type === 3 || q > d.length) break;
      this.pos = q;
      if (type === 0) {
        const tokenLen = this.varint(d);
        if (tokenLen < 0) break;
        this.pos += tokenLen;
      }
      const length = this.varint(d);
      const pnOffset = this.pos;
      if (length < 0 || pnOffset + length > d.length) break;
      if (type === 0 && this.initial(d, p, pnOffset, pnOffset + length, version, dcid)) took = true;
      p = pnOffset + length;
    }
    return took;
  }

  /** Unprotect, decrypt and read the frames of one Initial packet d[start, end). */
  private initial(d: Uint8Array, start: number, pnOffset: number, end: number, version: number, dcid: Uint8Array): boolean {
    if (pnOffset + 4 + TAG_LEN > end) return false;
    if (!this.keys) {
      this.version = version;
      this.dcid = Buffer.from(dcid);
      this.keys = initialKeys(dcid, version);
    } else if (version !== this.version || !this.dcid!.equals(dcid)) {
      // Another connection attempt (a Retry's new DCID, or a stranger): not the hello being read.
      return false;
    }
    const { key, iv, hp } = this.keys;
    const ecb = createCipheriv("aes-128-ecb", hp, null).setAutoPadding(false);
    const mask = ecb.update(d.subarray(pnOffset + 4, pnOffset + 4 + 16));
    const b0 = d[start]! ^ (mask[0]! & 0x0f);
    const pnLen = (b0 & 0x03) + 1;
    const header = Buffer.from(d.subarray(start, pnOffset + pnLen));
    header[0] = b0;
    const nonce = Buffer.from(iv);
    for (let i = 0; i < pnLen; i++) {
      const pn = d[pnOffset + i]! ^ mask[1 + i]!;
      header[pnOffset - start + i] = pn;
      nonce[12 - pnLen + i]! ^= pn;
    }
    let plain: Buffer;
    try {
      const gcm = createDecipheriv("aes-128-gcm", key, nonce);
      gcm.setAAD(header);
      gcm.setAuthTag(d.subarray(end - TAG_LEN, end));
      const body = gcm.update(d.subarray(pnOffset + pnLen, end - TAG_LEN));
      gcm.final();
      plain = body;
    } catch {
      return false;
    }
    return this.frames(plain);
  }

  /** The frames an Initial packet may carry (RFC 9000 §17.2.2); CRYPTO data is kept. */
  private frames(f: Uint8Array): boolean {
    this.pos = 0;
    while (this.pos < f.length) {
      const type = this.varint(f);
      switch (type) {
        case FRAME_PADDING:
        case FRAME_PING:
          break;
        case FRAME_ACK:
        case FRAME_ACK_ECN: {
          if (this.varint(f) < 0 || this.varint(f) < 0) return false;
          const count = this.varint(f);
          if (count < 0 || this.varint(f) < 0) return false;
          for (let i = 0; i < count; i++) if (this.varint(f) < 0 || this.varint(f) < 0) return false;
          if (type === FRAME_ACK_ECN && (this.varint(f) < 0 || this.varint(f) < 0 || this.varint(f) < 0)) return false;
          break;
        }
        case FRAME_CRYPTO: {
          const offset = this.varint(f);
          const length = this.varint(f);
          if (offset < 0 || length < 0 || this.pos + length > f.length) return false;
          this.store(offset, f.subarray(this.pos, this.pos + length));
          this.pos += length;
          break;
        }
        case FRAME_CONNECTION_CLOSE: {
          if (this.varint(f) < 0 || this.varint(f) < 0) return false;
          const reason = this.varint(f);
          if (reason < 0) return false;
          this.pos += reason;
          break;
        }
        default:
          return false;
      }
    }
    return this.pos === f.length;
  }

  /** A QUIC variable-length integer at `pos` (RFC 9000 §16), or -1 when truncated. */
  private varint(b: Uint8Array): number {
    const p = this.pos;
    if (p >= b.length) return -1;
    const len = 1 << (b[p]! >> 6);
    if (p + len > b.length) return -1;
    let v = b[p]! & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + b[p + i]!;
    this.pos = p + len;
    return v;
  }

  private store(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (data.length === 0 || end > MAX_CRYPTO) return;
    if (end > this.crypto.length) {
      const grown = new Uint8Array(Math.min(MAX_CRYPTO, Math.max(end, this.crypto.length * 2)));
      grown.set(this.crypto);
      this.crypto = grown;
    }
    this.crypto.set(data, offset);
    this.addRange(offset, end);
  }

  private addRange(start: number, end: number): void {
    const r = this.ranges;
    const merged: number[] = [];
    let placed = false;
    for (let i = 0; i < r.length; i += 2) {
      const s = r[i]!;
      const e = r[i + 1]!;
      if (e < start) merged.push(s, e);
      else if (s > end) {
        if (!placed) merged.push(start, end);
        placed = true;
        merged.push(s, e);
      } else {
        start = Math.min(start, s);
        end = Math.max(end, e);
      }
    }
    if (!placed) merged.push(start, end);
    this.ranges = merged;
  }

  /** The name once the CRYPTO stream holds the whole ClientHello from offset 0. */
  private hello(): Sniffed {
    const have = this.ranges[0] === 0 ? this.ranges[1]! : 0;
    if (have < 4) return NEED_MORE;
    const c = this.crypto;
    if (c[0] !== CLIENT_HELLO) return NO_HOST;
    const need = 4 + ((c[1]! << 16) | (c[2]! << 8) | c[3]!);
    if (need > MAX_CRYPTO) return NO_HOST;
    return have >= need ? clientHelloName(c, 4, need) : NEED_MORE;
  }
}
