/**
 * The trojan wire format (trojan-gfw docs/protocol.md): after the TLS handshake the client sends
 * hex(SHA224(password)) CRLF CMD ATYP DST.ADDR DST.PORT CRLF, then the payload. For UDP ASSOCIATE
 * the payload is a stream of frames: ATYP DST.ADDR DST.PORT LENGTH(u16) CRLF DATA.
 */
import { createHash } from "node:crypto";
import type { Packet } from "../../../src/sdk/index.ts";
import { BAD_ATYP, NEED_MORE, readSocksAddress, socksAddressLength, writeSocksAddress } from "../../inbound/address.ts";

export const CMD_CONNECT = 0x01;
export const CMD_UDP_ASSOCIATE = 0x03;

/**
 * Largest payload per UDP frame. mihomo splits bigger datagrams into frames of this size and
 * refuses longer frames when reading; we split the same way and read up to the u16 limit.
 */
export const MAX_UDP_FRAME = 8192;

const CR = 0x0d;
const LF = 0x0a;

/** The 56 ASCII bytes that authenticate a user: hex(SHA224(password)). */
export function passwordKey(password: string): Uint8Array {
  return Buffer.from(createHash("sha224").update(password, "utf8").digest("hex"), "latin1");
}

/** The request that opens a trojan session for `cmd` to `host:port`. */
export function requestHeader(key: Uint8Array, cmd: number, host: string, port: number): Uint8Array {
  const out = new Uint8Array(key.length + 3 + socksAddressLength(host) + 2);
  out.set(key, 0);
  let p = key.length;
  out[p++] = CR;
  out[p++] = LF;
  out[p++] = cmd;
  p = writeSocksAddress(out, p, host, port);
  out[p++] = CR;
  out[p++] = LF;
  return out.subarray(0, p);
}

/** One UDP frame; `data` must be at most 65535 bytes (callers split at MAX_UDP_FRAME). */
export function udpFrame(host: string, port: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(socksAddressLength(host) + 4 + data.length);
  let p = writeSocksAddress(out, 0, host, port);
  out[p++] = data.length >>> 8;
  out[p++] = data.length & 0xff;
  out[p++] = CR;
  out[p++] = LF;
  out.set(data, p);
  return out.subarray(0, p + data.length);
}

/** Reassembles UDP frames from stream chunks of any size. */
export class UdpFrameReader {
  private rest: Uint8Array | undefined;

  /** Feed bytes; `emit` gets each complete datagram. Throws on bytes that are not trojan UDP frames. */
  push(chunk: Uint8Array, emit: (packet: Packet) => void): void {
    let b = chunk;
    if (this.rest) {
      b = new Uint8Array(this.rest.length + chunk.length);
      b.set(this.rest, 0);
      b.set(chunk, this.rest.length);
    }
    let at = 0;
    for (;;) {
      const a = readSocksAddress(b, at, b.length);
      if (a === NEED_MORE) break;
      if (a === BAD_ATYP || typeof a === "number") throw new Error(`malformed UDP frame: unknown address type ${b[at]}`);
      if (a.end + 4 > b.length) break;
      if (b[a.end + 2] !== CR || b[a.end + 3] !== LF) throw new Error("malformed UDP frame: no CRLF after the length");
      const end = a.end + 4 + ((b[a.end]! << 8) | b[a.end + 1]!);
      if (end > b.length) break;
      emit({ data: b.subarray(a.end + 4, end), host: a.host || a.ip, port: a.port });
      at = end;
    }
    this.rest = at < b.length ? b.subarray(at) : undefined;
  }
}
