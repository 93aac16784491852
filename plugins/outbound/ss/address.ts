/**
 * Target addresses on the Shadowsocks wire: SOCKS5 form (ATYP 1 IPv4, 3 domain, 4 IPv6, then a
 * big-endian port), and the same with sing's UDP-over-TCP family bytes (0 IPv4, 1 IPv6, 2 domain).
 */
import { type Metadata, parseIp } from "../../../src/sdk/index.ts";

export interface AddressCodes {
  ipv4: number;
  domain: number;
  ipv6: number;
}

export const SOCKS: AddressCodes = { ipv4: 1, domain: 3, ipv6: 4 };
export const UOT: AddressCodes = { ipv4: 0, domain: 2, ipv6: 1 };

const words = new Uint32Array(4);
const encoder = new TextEncoder();

/** The destination of a connection as the proxy server should see it: the name if there is one. */
export function targetOf(m: Metadata): string {
  return m.host || m.destinationIP;
}

/** `host:port` in wire form. Throws for a name longer than 255 bytes. */
export function encodeAddress(host: string, port: number, codes: AddressCodes = SOCKS): Uint8Array {
  const family = parseIp(host, words);
  if (family === 4) {
    const b = new Uint8Array(7);
    b[0] = codes.ipv4;
    new DataView(b.buffer).setUint32(1, words[0]!);
    b[5] = port >> 8;
    b[6] = port & 0xff;
    return b;
  }
  if (family === 6) {
    const b = new Uint8Array(19);
    const v = new DataView(b.buffer);
    b[0] = codes.ipv6;
    for (let i = 0; i < 4; i++) v.setUint32(1 + i * 4, words[i]!);
    b[17] = port >> 8;
    b[18] = port & 0xff;
    return b;
  }
  const name = encoder.encode(host);
  if (name.length > 255) throw new Error(`destination name is longer than 255 bytes: ${host.slice(0, 40)}…`);
  const b = new Uint8Array(4 + name.length);
  b[0] = codes.domain;
  b[1] = name.length;
  b.set(name, 2);
  b[2 + name.length] = port >> 8;
  b[3 + name.length] = port & 0xff;
  return b;
}

export interface DecodedAddress {
  host: string;
  port: number;
  /** Offset just past the address. */
  end: number;
}

/** Read an address at `b[off]`; undefined when it is truncated or has an unknown type. */
export function decodeAddress(b: Uint8Array, off: number, codes: AddressCodes = SOCKS): DecodedAddress | undefined {
  const type = b[off];
  let host: string;
  let p: number;
  if (type === codes.ipv4) {
    p = off + 5;
    if (b.length < p + 2) return undefined;
    host = `${b[off + 1]}.${b[off + 2]}.${b[off + 3]}.${b[off + 4]}`;
  } else if (type === codes.ipv6) {
    p = off + 17;
    if (b.length < p + 2) return undefined;
    host = formatIPv6(b, off + 1);
  } else if (type === codes.domain) {
    const n = b[off + 1];
    if (n === undefined) return undefined;
    p = off + 2 + n;
    if (b.length < p + 2) return undefined;
    host = Buffer.from(b.buffer, b.byteOffset + off + 2, n).toString("utf8");
  } else {
    return undefined;
  }
  return { host, port: (b[p]! << 8) | b[p + 1]!, end: p + 2 };
}

/** 16 bytes → RFC 5952 text (longest run of zero groups as `::`, lower-case hex). */
function formatIPv6(b: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
