/**
 * The server name of a TLS ClientHello, read from the client's first bytes. The hello usually
 * fits one record and is parsed in place; one split over several handshake records (allowed by
 * RFC 8446 §5.1, and what some clients and middleboxes do) is joined first.
 */
import { hostText, NEED_MORE, NO_HOST, type Sniffed } from "./result.ts";

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
/** Largest plaintext record body (RFC 8446 §5.1). */
const MAX_RECORD = 1 << 14;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;

/**
 * SNI from TLS records at the start of `b`: the name; NEED_MORE while the bytes are a prefix of a
 * ClientHello; NO_HOST when they are not TLS, not a ClientHello, malformed, or carry no name.
 */
export function sniffTls(b: Uint8Array): Sniffed {
  if (b.length === 0) return NEED_MORE;
  if (b[0] !== HANDSHAKE) return NO_HOST;
  // Any TLS version's record header says major 3 (mihomo checks only that too).
  if (b.length >= 2 && b[1] !== 3) return NO_HOST;
  if (b.length < 5) return NEED_MORE;
  const recordLen = (b[3]! << 8) | b[4]!;
  if (recordLen === 0 || recordLen > MAX_RECORD) return NO_HOST;
  if (b.length > 5 && b[5] !== CLIENT_HELLO) return NO_HOST;
  if (recordLen >= 4 && b.length >= 9) {
    const helloLen = (b[6]! << 16) | (b[7]! << 8) | b[8]!;
    // The common case: the whole hello is in the first record.
    if (4 + helloLen <= recordLen) return b.length >= 5 + recordLen ? clientHelloName(b, 9, 9 + helloLen) : NEED_MORE;
  }
  return fragmented(b);
}

/** A hello split over records: gather the record bodies until the hello is whole. */
function fragmented(b: Uint8Array): Sniffed {
  const bodies: Uint8Array[] = [];
  let have = 0;
  let need = -1;
  let at = 0;
  while (need < 0 || have < need) {
    if (at + 5 > b.length) return NEED_MORE;
    if (b[at] !== HANDSHAKE || b[at + 1] !== 3) return NO_HOST;
    const len = (b[at + 3]! << 8) | b[at + 4]!;
    if (len === 0 || len > MAX_RECORD) return NO_HOST;
    if (at + 5 + len > b.length) return NEED_MORE;
    bodies.push(b.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need < 0 && have >= 4) {
      const head = join(bodies, 4);
      if (head[0] !== CLIENT_HELLO) return NO_HOST;
      need = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
    }
  }
  const hello = join(bodies, need);
  return clientHelloName(hello, 4, need);
}

/** The first `n` bytes of the concatenated bodies. */
function join(bodies: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const body of bodies) {
    if (o >= n) break;
    const take = Math.min(body.length, n - o);
    out.set(take === body.length ? body : body.subarray(0, take), o);
    o += take;
  }
  return out;
}

/**
 * The host_name of the server_name extension in a ClientHello body h[p, end) (after the 4-byte
 * handshake header), or NO_HOST. As in mihomo (after Go's crypto/tls): the extensions must fill
 * the body exactly, and a name with a trailing dot is refused (RFC 6066 §3).
 */
export function clientHelloName(h: Uint8Array, p: number, end: number): Sniffed {
  // legacy_version (2) + random (32)
  p += 34;
  if (p + 1 > end) return NO_HOST;
  const sessionLen = h[p]!;
  if (sessionLen > 32) return NO_HOST;
  p += 1 + sessionLen;
  if (p + 2 > end) return NO_HOST;
  const suitesLen = (h[p]! << 8) | h[p + 1]!;
  if (suitesLen % 2 === 1) return NO_HOST;
  p += 2 + suitesLen;
  if (p + 1 > end) return NO_HOST;
  p += 1 + h[p]!;
  if (p + 2 > end) return NO_HOST;
  const extLen = (h[p]! << 8) | h[p + 1]!;
  p += 2;
  if (p + extLen !== end) return NO_HOST;
  while (p < end) {
    if (p + 4 > end) return NO_HOST;
    const type = (h[p]! << 8) | h[p + 1]!;
    const len = (h[p + 2]! << 8) | h[p + 3]!;
    p += 4;
    if (p + len > end) return NO_HOST;
    if (type === EXT_SERVER_NAME) return serverName(h, p, p + len);
    p += len;
  }
  return NO_HOST;
}

function serverName(h: Uint8Array, p: number, end: number): Sniffed {
  if (p + 2 > end) return NO_HOST;
  const listLen = (h[p]! << 8) | h[p + 1]!;
  p += 2;
  if (p + listLen !== end) return NO_HOST;
  while (p < end) {
    if (p + 3 > end) return NO_HOST;
    const type = h[p]!;
    const len = (h[p + 1]! << 8) | h[p + 2]!;
    p += 3;
    if (p + len > end) return NO_HOST;
    if (type === NAME_TYPE_HOST) return hostText(h, p, p + len) ?? NO_HOST;
    p += len;
  }
  return NO_HOST;
}
