/**
 * SOCKS4/4a (de-facto spec), SOCKS5 (RFC 1928) and username/password auth (RFC 1929) on bytes.
 * Parsers take the bytes received so far and return NEED_MORE until a message is complete, so the
 * handshake can accumulate partial reads.
 */
import {
  ATYP_IPV4,
  ATYP_IPV6,
  BAD_ATYP,
  formatIPv4,
  latin1,
  NEED_MORE,
  parseIPv4,
  parseIPv6,
  readSocksAddress,
  type SocksAddress,
} from "../address.ts";

export { BAD_ATYP, NEED_MORE };
/** A message that violates the protocol. */
export const MALFORMED = -3;

export const SOCKS4 = 4;
export const SOCKS5 = 5;

export const CMD_CONNECT = 1;
export const CMD_UDP_ASSOCIATE = 3;

export const METHOD_NO_AUTH = 0;
export const METHOD_USER_PASS = 2;
export const METHOD_NONE_ACCEPTABLE = 0xff;

/** RFC 1928 §6 reply codes. */
export const REP_SUCCEEDED = 0;
export const REP_GENERAL_FAILURE = 1;
export const REP_NETWORK_UNREACHABLE = 3;
export const REP_HOST_UNREACHABLE = 4;
export const REP_CONNECTION_REFUSED = 5;
export const REP_COMMAND_NOT_SUPPORTED = 7;
export const REP_ADDRESS_NOT_SUPPORTED = 8;

/** SOCKS4 reply codes. */
export const SOCKS4_GRANTED = 90;
export const SOCKS4_REJECTED = 91;
/** mihomo answers a SOCKS4 user-id that fails authentication with this one. */
export const SOCKS4_IDENT_MISMATCH = 93;

export interface Greeting {
  noAuth: boolean;
  userPass: boolean;
  end: number;
}

/** VER NMETHODS METHODS… (VER already checked by the caller). */
export function parseGreeting(b: Uint8Array, end: number): Greeting | number {
  if (end < 2) return NEED_MORE;
  const n = b[1]!;
  if (n === 0) return MALFORMED;
  if (end < 2 + n) return NEED_MORE;
  let noAuth = false;
  let userPass = false;
  for (let i = 2; i < 2 + n; i++) {
    if (b[i] === METHOD_NO_AUTH) noAuth = true;
    else if (b[i] === METHOD_USER_PASS) userPass = true;
  }
  return { noAuth, userPass, end: 2 + n };
}

export interface Credentials {
  user: string;
  pass: string;
  end: number;
}

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. Names are bytes; decoded as UTF-8 to compare with the config. */
export function parseUserPass(b: Uint8Array, end: number): Credentials | number {
  if (end < 2) return NEED_MORE;
  if (b[0] !== 1) return MALFORMED;
  const ulen = b[1]!;
  if (end < 3 + ulen) return NEED_MORE;
  const plen = b[2 + ulen]!;
  const stop = 3 + ulen + plen;
  if (end < stop) return NEED_MORE;
  const text = Buffer.from(b.buffer, b.byteOffset, stop);
  return { user: text.toString("utf8", 2, 2 + ulen), pass: text.toString("utf8", 3 + ulen, stop), end: stop };
}

export interface Request5 {
  command: number;
  address: SocksAddress;
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest5(b: Uint8Array, end: number): Request5 | number {
  if (end < 4) return NEED_MORE;
  if (b[0] !== SOCKS5) return MALFORMED;
  const address = readSocksAddress(b, 3, end);
  if (typeof address === "number") return address;
  return { command: b[1]!, address };
}

export interface Request4 {
  command: number;
  port: number;
  /** The destination IP; "" for SOCKS4a, where `host` carries a name. */
  ip: string;
  host: string;
  user: string;
  end: number;
}

/**
 * VN CD DSTPORT DSTIP USERID NUL, plus HOST NUL for SOCKS4a (DSTIP 0.0.0.x, x ≠ 0). User id and host
 * are capped at `maxField` bytes so a client cannot make us buffer without bound.
 */
export function parseRequest4(b: Uint8Array, end: number, maxField: number): Request4 | number {
  if (end < 9) return NEED_MORE;
  const userEnd = indexOfZero(b, 8, end);
  if (userEnd < 0) return end - 8 > maxField ? MALFORMED : NEED_MORE;
  const port = (b[2]! << 8) | b[3]!;
  const user = Buffer.from(b.buffer, b.byteOffset, userEnd).toString("utf8", 8, userEnd);
  const is4a = b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] !== 0;
  if (!is4a) return { command: b[1]!, port, ip: formatIPv4(b, 4), host: "", user, end: userEnd + 1 };
  const hostEnd = indexOfZero(b, userEnd + 1, end);
  if (hostEnd < 0) return end - userEnd - 1 > maxField ? MALFORMED : NEED_MORE;
  if (hostEnd === userEnd + 1) return MALFORMED;
  return { command: b[1]!, port, ip: "", host: latin1(b, userEnd + 1, hostEnd), user, end: hostEnd + 1 };
}

function indexOfZero(b: Uint8Array, from: number, end: number): number {
  const i = b.indexOf(0, from);
  return i >= 0 && i < end ? i : -1;
}

/**
 * VER REP RSV ATYP BND.ADDR BND.PORT. The bind address comes from the socket layer (always an IP);
 * anything else is sent as 0.0.0.0.
 */
export function reply5(code: number, bindIP: string, bindPort: number): Uint8Array {
  const v6 = bindIP.includes(":");
  const out = new Uint8Array(v6 ? 22 : 10);
  out[0] = SOCKS5;
  out[1] = code;
  out[3] = v6 ? ATYP_IPV6 : ATYP_IPV4;
  if (!(v6 ? parseIPv6(bindIP, out, 4) : parseIPv4(bindIP, out, 4))) out.fill(0, 4);
  const p = v6 ? 20 : 8;
  out[p] = bindPort >> 8;
  out[p + 1] = bindPort & 255;
  return out;
}

/** VN(0) CD DSTPORT DSTIP. */
export function reply4(code: number, port: number, ip: string): Uint8Array {
  const out = new Uint8Array(8);
  out[1] = code;
  out[2] = port >> 8;
  out[3] = port & 255;
  if (!parseIPv4(ip, out, 4)) out.fill(0, 4);
  return out;
}

export const AUTH_OK = new Uint8Array([1, 0]);
export const AUTH_FAILED = new Uint8Array([1, 1]);

export function methodReply(method: number): Uint8Array {
  return new Uint8Array([SOCKS5, method]);
}

/**
 * The RFC 1928 reply code for a failed dial: refused → 5, unreachable network/host → 3/4,
 * timeouts → 4 (host unreachable, as curl and browsers read it), anything else → 1. (A REJECT rule
 * is not a failed dial: as in mihomo the client sees success, then the connection end.)
 */
export function failureCode(error: Error): number {
  switch (errorCode(error)) {
    case "ECONNREFUSED":
      return REP_CONNECTION_REFUSED;
    case "ENETUNREACH":
    case "ENETDOWN":
      return REP_NETWORK_UNREACHABLE;
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
    case "ETIMEDOUT":
    case "ENOTFOUND":
    case "EAI_NONAME":
      return REP_HOST_UNREACHABLE;
    default:
      return REP_GENERAL_FAILURE;
  }
}

/** The OS error code of a dial error: its `code`, or an `E…` code named in its message (wrapped errors). */
function errorCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") return code;
  return /\b(E[A-Z]{3,})\b/.exec(error.message)?.[1];
}
