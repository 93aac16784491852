/**
 * The Host of a plain HTTP/1.x request, read from the client's first bytes: a request line that
 * starts with a method, then the header lines up to the first `Host:`.
 */
import { isIP } from "node:net";
import { hostText, NEED_MORE, NO_HOST, type Sniffed } from "./result.ts";

/** The methods mihomo recognises (Go's net/http constants), matched case-insensitively. */
const METHODS = ["get", "post", "head", "put", "delete", "options", "connect", "patch", "trace"].map((m) => Buffer.from(m));

const LF = 10;
const CR = 13;
const COLON = 58;

/**
 * Host from an HTTP request at the start of `b` (port and one trailing dot removed): the name;
 * NEED_MORE while the request line or the header section is incomplete; NO_HOST when it is not
 * HTTP, the head ends without a Host, or the Host is an IP address.
 */
export function sniffHttp(b: Uint8Array): Sniffed {
  const method = methodAt(b);
  if (method !== true) return method;
  let p = b.indexOf(LF);
  if (p < 0) return NEED_MORE;
  p++;
  // Only whole lines: a Host cut short by the end of the bytes must not be taken.
  for (let lf = b.indexOf(LF, p); lf >= 0; p = lf + 1, lf = b.indexOf(LF, p)) {
    const end = lf > p && b[lf - 1] === CR ? lf - 1 : lf;
    if (end === p) return NO_HOST;
    if (end - p >= 5 && isHostName(b, p) && b[p + 4] === COLON) return hostValue(b, p + 5, end);
  }
  return NEED_MORE;
}

/** True when `b` starts with a method; NEED_MORE while it could still become one. */
function methodAt(b: Uint8Array): true | typeof NEED_MORE | typeof NO_HOST {
  let prefix = false;
  for (const m of METHODS) {
    const n = Math.min(m.length, b.length);
    let i = 0;
    while (i < n && (b[i]! | 0x20) === m[i]) i++;
    if (i === n) {
      if (n === m.length) return true;
      prefix = true;
    }
  }
  return prefix ? NEED_MORE : NO_HOST;
}

/** `host` in any case, as the field name (mihomo neither trims nor allows space before the colon). */
function isHostName(b: Uint8Array, p: number): boolean {
  return (b[p]! | 0x20) === 104 && (b[p + 1]! | 0x20) === 111 && (b[p + 2]! | 0x20) === 115 && (b[p + 3]! | 0x20) === 116;
}

/** The name in a Host value b[p, end): whitespace trimmed, `:port` dropped; IP literals are no name. */
function hostValue(b: Uint8Array, p: number, end: number): Sniffed {
  while (p < end && (b[p] === 32 || b[p] === 9)) p++;
  while (end > p && (b[end - 1] === 32 || b[end - 1] === 9)) end--;
  // `[v6]`, `[v6]:port`: an address.
  if (b[p] === 91) return NO_HOST;
  const colon = b.indexOf(COLON, p);
  if (colon >= 0 && colon < end) {
    // Go's SplitHostPort refuses a second colon outside brackets.
    const again = b.indexOf(COLON, colon + 1);
    if (again >= 0 && again < end) return NO_HOST;
    end = colon;
  }
  if (end > p && b[end - 1] === 46) end--;
  const host = hostText(b, p, end);
  if (host === undefined || isIP(host) !== 0) return NO_HOST;
  return host;
}
