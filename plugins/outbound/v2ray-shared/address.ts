/**
 * Pieces VMess and VLESS share on the wire: user IDs and the "port, then address" destination
 * (v2ray's AddressFamilyByte 0x01 IPv4, 0x02 domain, 0x03 IPv6).
 */
import { createHash } from "node:crypto";
import { parseIp, UserError } from "../../../src/sdk/index.ts";

const CANONICAL = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** A UUID's 16 bytes, or undefined when `s` is not a UUID (with or without dashes, braces or `urn:uuid:`). */
export function uuidBytes(s: string): Uint8Array | undefined {
  let t = s.trim();
  if (t.toLowerCase().startsWith("urn:uuid:")) t = t.slice(9);
  if (t.startsWith("{") && t.endsWith("}")) t = t.slice(1, -1);
  if (!CANONICAL.test(t)) return undefined;
  return Uint8Array.from(Buffer.from(t.replaceAll("-", ""), "hex"));
}

/** Name-based UUID (version 5) in the nil namespace, as Xray and mihomo map non-UUID ids. */
export function uuidV5Nil(name: string): Uint8Array {
  const h = createHash("sha1").update(new Uint8Array(16)).update(name).digest();
  const out = Uint8Array.from(h.subarray(0, 16));
  out[6] = (out[6]! & 0x0f) | 0x50;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}

/**
 * The user ID of a config `uuid`. VMess (sing-vmess) maps anything that is not a UUID, and the nil
 * UUID, to a v5 UUID; VLESS (mihomo's UUIDMap) does so only for 1-30 characters and rejects the rest.
 */
export function userId(s: string, protocol: "vmess" | "vless"): Uint8Array {
  if (protocol === "vless") {
    if (s.length >= 1 && s.length <= 30) return uuidV5Nil(s);
    const id = uuidBytes(s);
    if (!id) throw new UserError(`uuid: "${s}" is not a UUID`);
    return id;
  }
  const id = uuidBytes(s);
  return id?.some((b) => b !== 0) ? id : uuidV5Nil(s);
}

const words = new Uint32Array(4);

/** Bytes `encodeDestination` writes for `host`. */
export function destinationLength(host: string): number {
  const family = parseIp(host, words);
  if (family === 4) return 2 + 1 + 4;
  if (family === 6) return 2 + 1 + 16;
  return 2 + 1 + 1 + Buffer.byteLength(host);
}

/** Write port (big-endian) then address into `out` at `offset`; returns the offset after it. */
export function encodeDestination(out: Uint8Array, offset: number, host: string, port: number): number {
  out[offset++] = port >>> 8;
  out[offset++] = port & 0xff;
  const family = parseIp(host, words);
  if (family === 4) {
    out[offset++] = 0x01;
    const w = words[0]!;
    out[offset++] = w >>> 24;
    out[offset++] = (w >>> 16) & 0xff;
    out[offset++] = (w >>> 8) & 0xff;
    out[offset++] = w & 0xff;
    return offset;
  }
  if (family === 6) {
    out[offset++] = 0x03;
    for (let i = 0; i < 4; i++) {
      const w = words[i]!;
      out[offset++] = w >>> 24;
      out[offset++] = (w >>> 16) & 0xff;
      out[offset++] = (w >>> 8) & 0xff;
      out[offset++] = w & 0xff;
    }
    return offset;
  }
  const name = Buffer.from(host);
  if (name.length === 0 || name.length > 255) throw new UserError(`destination "${host}": a domain must be 1-255 bytes`);
  out[offset++] = 0x02;
  out[offset++] = name.length;
  out.set(name, offset);
  return offset + name.length;
}
