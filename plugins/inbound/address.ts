/**
 * Addresses as inbound protocols carry them: text (`host:port`, IP literals) and SOCKS binary form.
 * Hand-written parsers: they run once per connection (or per datagram) and ipaddr.js costs 3–6× more
 * (research/bun-probe.md §8).
 */
import { type Metadata, normalizeHost } from "../../src/sdk/index.ts";

interface Latin1Slicer {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
}
const { latin1Slice } = Buffer.prototype as unknown as Latin1Slicer;

/** Bytes [start, end) as a latin1 string: the cheapest decode Bun has (bun-probe §4), works on any Uint8Array. */
export function latin1(b: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(b, start, end);
}

export const ATYP_IPV4 = 1;
export const ATYP_DOMAIN = 3;
export const ATYP_IPV6 = 4;

/** Dotted-quad IPv4 to its 4 bytes, or undefined (no leading zeros, like Go's netip). */
export function parseIPv4(text: string, out?: Uint8Array, at = 0): Uint8Array | undefined {
  const bytes = out ?? new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      bytes[at + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined;
      value = value * 10 + (c - 48);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return part === 4 ? bytes : undefined;
}

/** IPv6 text (no brackets, no zone) to its 16 bytes, or undefined. Accepts an embedded IPv4 tail. */
export function parseIPv6(text: string, out?: Uint8Array, at = 0): Uint8Array | undefined {
  const bytes = out ?? new Uint8Array(16);
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.startsWith("::")) {
    gap = 0;
    i = 2;
  }
  while (i < text.length) {
    if (groups.length >= 8) return undefined;
    let j = i;
    let v = 0;
    while (j < text.length && j - i < 5) {
      const c = text.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      j++;
    }
    if (j < text.length && text.charCodeAt(j) === 46) {
      // IPv4 tail: the last 32 bits.
      const v4 = parseIPv4(text.slice(i));
      if (!v4 || groups.length > 6) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      i = text.length;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups.push(v);
    i = j;
    if (i === text.length) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i++;
    } else if (i === text.length) {
      return undefined;
    }
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return undefined;
  const fill = 8 - groups.length;
  for (let g = 0, k = 0; g < 8; g++) {
    const v = gap >= 0 && g >= gap && g < gap + fill ? 0 : groups[k++]!;
    bytes[at + g * 2] = v >> 8;
    bytes[at + g * 2 + 1] = v & 255;
  }
  return bytes;
}

export function formatIPv4(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text of 16 bytes; IPv4-mapped addresses come out as plain IPv4 (mihomo unmaps them). */
export function formatIPv6(b: Uint8Array, at = 0): string {
  let mapped = b[at + 10] === 255 && b[at + 11] === 255;
  for (let i = 0; i < 10 && mapped; i++) if (b[at + i] !== 0) mapped = false;
  if (mapped) return formatIPv4(b, at + 12);
  // Longest run of zero groups (length ≥ 2) becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let g = 0; g < 8; ) {
    if (b[at + g * 2] === 0 && b[at + g * 2 + 1] === 0) {
      let e = g;
      while (e < 8 && b[at + e * 2] === 0 && b[at + e * 2 + 1] === 0) e++;
      if (e - g > bestLen) {
        bestAt = g;
        bestLen = e - g;
      }
      g = e;
    } else {
      g++;
    }
  }
  let s = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestAt) {
      s += "::";
      g += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(":")) s += ":";
    s += (((b[at + g * 2]! << 8) | b[at + g * 2 + 1]!) >>> 0).toString(16);
  }
  return s;
}

/** Canonical text of an IP literal (brackets allowed around IPv6), or undefined for a name. */
export function canonicalIP(text: string): string | undefined {
  if (text.length === 0) return undefined;
  const first = text.charCodeAt(0);
  if (first >= 48 && first <= 57 && !text.includes(":")) {
    return parseIPv4(text) ? text : undefined;
  }
  const inner = first === 91 && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!inner.includes(":")) return undefined;
  const bytes = parseIPv6(inner);
  return bytes ? formatIPv6(bytes) : undefined;
}

/** Put a requested host (name or IP literal) into metadata: names normalised, IPs canonical. */
export function setDestination(m: Metadata, host: string, port: number): void {
  const ip = canonicalIP(host);
  if (ip) m.destinationIP = ip;
  else m.host = normalizeHost(host);
  m.destinationPort = port;
}

/** `host:port` / `[v6]:port` → parts; undefined when malformed or the port is not 0–65535. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return undefined;
    host = host.slice(1, -1);
  } else if (host.includes(":")) {
    return undefined;
  }
  const port = parsePort(text, colon + 1, text.length);
  if (port < 0 || host.length === 0) return undefined;
  return { host, port };
}

/** Decimal port in text[start, end), or -1. */
export function parsePort(text: string, start: number, end: number): number {
  if (end <= start || end - start > 5) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v <= 65535 ? v : -1;
}

/** `host:port` for display and listener addresses, bracketing IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A SOCKS address read from bytes: a domain (host) or an IP (ip), and the port. */
export interface SocksAddress {
  host: string;
  ip: string;
  port: number;
  /** Offset just past the address. */
  end: number;
}

export const NEED_MORE = -1;
export const BAD_ATYP = -2;

/** Read ATYP ADDR PORT at `at`; NEED_MORE when truncated, BAD_ATYP for an unknown type. */
export function readSocksAddress(b: Uint8Array, at: number, end: number): SocksAddress | number {
  if (at >= end) return NEED_MORE;
  const atyp = b[at]!;
  let host = "";
  let ip = "";
  let p: number;
  if (atyp === ATYP_IPV4) {
    p = at + 5;
    if (p + 2 > end) return NEED_MORE;
    ip = formatIPv4(b, at + 1);
  } else if (atyp === ATYP_IPV6) {
    p = at + 17;
    if (p + 2 > end) return NEED_MORE;
    ip = formatIPv6(b, at + 1);
  } else if (atyp === ATYP_DOMAIN) {
    if (at + 1 >= end) return NEED_MORE;
    p = at + 2 + b[at + 1]!;
    if (p + 2 > end) return NEED_MORE;
    host = latin1(b, at + 2, p);
  } else {
    return BAD_ATYP;
  }
  return { host, ip, port: (b[p]! << 8) | b[p + 1]!, end: p + 2 };
}

/** Write ATYP ADDR PORT for `host` (IP literal or name) at `at`; returns the end offset. */
export function writeSocksAddress(out: Uint8Array, at: number, host: string, port: number): number {
  let p: number;
  if (parseIPv4(host, out, at + 1)) {
    out[at] = ATYP_IPV4;
    p = at + 5;
  } else if (host.includes(":") && parseIPv6(host, out, at + 1)) {
    out[at] = ATYP_IPV6;
    p = at + 17;
  } else {
    const n = Math.min(host.length, 255);
    out[at] = ATYP_DOMAIN;
    out[at + 1] = n;
    for (let i = 0; i < n; i++) out[at + 2 + i] = host.charCodeAt(i) & 255;
    p = at + 2 + n;
  }
  out[p] = port >> 8;
  out[p + 1] = port & 255;
  return p + 2;
}

/** Bytes a SOCKS address for `host` takes (upper bound for buffers). */
export function socksAddressLength(host: string): number {
  return 2 + Math.max(16, Math.min(host.length, 255)) + 2;
}
