/**
 * HTTP/1.x heads and body framing on bytes. Hand-written hot path (bun-probe §4): the head is
 * scanned once for line ends, header fields are kept as offsets, and only the fields the proxy acts
 * on are decoded (latin1, the cheapest decode). No `new URL()`.
 */
import { latin1, parsePort } from "../address.ts";

/** Longest request or response head accepted (a longer one gets 431 / closes the connection). */
export const MAX_HEAD_BYTES = 64 * 1024;

export const NEED_MORE = -1;
export const MALFORMED = -2;

/**
 * Offset just past the empty line that ends a head in b[from, end), or NEED_MORE. Bare LF line
 * ends are accepted as RFC 9112 §2.2 allows. To resume after a partial read, pass from = the
 * previously scanned length minus 3.
 */
export function findHeadEnd(b: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const lf = b.indexOf(10, i);
    if (lf < 0 || lf >= end) return NEED_MORE;
    if (lf >= 1 && b[lf - 1] === 10) return lf + 1;
    if (lf >= 2 && b[lf - 1] === 13 && b[lf - 2] === 10) return lf + 1;
    i = lf + 1;
  }
  return NEED_MORE;
}

/** Header fields as flat offsets: nameStart, nameEnd, valueStart, valueEnd, lineNext (after LF). */
export const FIELD = 5;

/**
 * Split the header section b[from, end) (from = start of the first field line, end = head end)
 * into fields. Undefined for a malformed section: no colon, whitespace before the colon, an empty
 * name, or obs-fold continuation lines (RFC 9112 §5 allows rejecting those).
 */
export function parseFields(b: Uint8Array, from: number, end: number): number[] | undefined {
  const fields: number[] = [];
  let p = from;
  while (p < end) {
    const c = b[p]!;
    if (c === 13 || c === 10) break;
    if (c === 32 || c === 9) return undefined;
    const lf = b.indexOf(10, p);
    if (lf < 0 || lf >= end) return undefined;
    const lineEnd = b[lf - 1] === 13 ? lf - 1 : lf;
    const colon = b.indexOf(58, p);
    if (colon <= p || colon >= lineEnd) return undefined;
    if (b[colon - 1] === 32 || b[colon - 1] === 9) return undefined;
    let vs = colon + 1;
    while (vs < lineEnd && (b[vs] === 32 || b[vs] === 9)) vs++;
    let ve = lineEnd;
    while (ve > vs && (b[ve - 1] === 32 || b[ve - 1] === 9)) ve--;
    fields.push(p, colon, vs, ve, lf + 1);
    p = lf + 1;
  }
  return fields;
}

/** Case-insensitive compare of b[start, end) with a lower-case ASCII name (letters, digits, '-'). */
export function bytesEqualLower(b: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if ((b[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Index (into `fields`) of the first field named `lower`, or -1. */
export function findField(b: Uint8Array, fields: number[], lower: string): number {
  for (let i = 0; i < fields.length; i += FIELD) {
    if (bytesEqualLower(b, fields[i]!, fields[i + 1]!, lower)) return i;
  }
  return -1;
}

export function fieldValue(b: Uint8Array, fields: number[], i: number): string {
  return latin1(b, fields[i + 2]!, fields[i + 3]!);
}

/** Values of every field named `lower`, joined with ", " as a list header (RFC 9110 §5.3). */
export function listValue(b: Uint8Array, fields: number[], lower: string): string {
  let out = "";
  for (let i = 0; i < fields.length; i += FIELD) {
    if (!bytesEqualLower(b, fields[i]!, fields[i + 1]!, lower)) continue;
    out = out ? `${out}, ${fieldValue(b, fields, i)}` : fieldValue(b, fields, i);
  }
  return out;
}

/** True when the comma-separated `list` holds `token` (case-insensitive). */
export function hasToken(list: string, token: string): boolean {
  if (list.length === 0) return false;
  for (const part of list.split(",")) {
    if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** Decimal Content-Length, or MALFORMED (also for differing repeated values). */
export function contentLength(b: Uint8Array, fields: number[]): number {
  let length = NEED_MORE;
  for (let i = 0; i < fields.length; i += FIELD) {
    if (!bytesEqualLower(b, fields[i]!, fields[i + 1]!, "content-length")) continue;
    const vs = fields[i + 2]!;
    const ve = fields[i + 3]!;
    if (ve === vs || ve - vs > 15) return MALFORMED;
    let v = 0;
    for (let k = vs; k < ve; k++) {
      const c = b[k]!;
      if (c < 48 || c > 57) return MALFORMED;
      v = v * 10 + (c - 48);
    }
    if (length !== NEED_MORE && length !== v) return MALFORMED;
    length = v;
  }
  return length;
}

export interface RequestLine {
  method: string;
  target: string;
  /** HTTP/1.x minor version. */
  minor: number;
  /** Offset of the first field line. */
  fieldsStart: number;
}

/** METHOD SP request-target SP HTTP/1.x at b[start, …); undefined if malformed or not HTTP/1.x. */
export function parseRequestLine(b: Uint8Array, start: number, end: number): RequestLine | undefined {
  const lf = b.indexOf(10, start);
  if (lf < 0 || lf >= end) return undefined;
  const lineEnd = b[lf - 1] === 13 ? lf - 1 : lf;
  const sp1 = b.indexOf(32, start);
  if (sp1 <= start || sp1 >= lineEnd) return undefined;
  const sp2 = lineEnd - 9;
  if (sp2 <= sp1 + 1 || b[sp2] !== 32) return undefined;
  // "HTTP/1." then one digit.
  if (b[sp2 + 1] !== 72 || b[sp2 + 2] !== 84 || b[sp2 + 3] !== 84 || b[sp2 + 4] !== 80) return undefined;
  if (b[sp2 + 5] !== 47 || b[sp2 + 6] !== 49 || b[sp2 + 7] !== 46) return undefined;
  const minor = b[sp2 + 8]! - 48;
  if (minor !== 0 && minor !== 1) return undefined;
  const target = latin1(b, sp1 + 1, sp2);
  if (target.includes(" ")) return undefined;
  return { method: latin1(b, start, sp1), target, minor, fieldsStart: lf + 1 };
}

export interface AbsoluteUri {
  host: string;
  port: number;
  /** `host[:port]` as written (for a missing Host header). */
  authority: string;
  /** Path and query for the origin-form request line. */
  path: string;
}

/** `http://[user@]host[:port][/path][?query][#fragment]`; undefined for anything else. */
export function parseAbsoluteUri(target: string): AbsoluteUri | undefined {
  if (target.length < 8 || target.slice(0, 7).toLowerCase() !== "http://") return undefined;
  let stop = target.length;
  for (let i = 7; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      stop = i;
      break;
    }
  }
  let authority = target.slice(7, stop);
  const at = authority.lastIndexOf("@");
  if (at >= 0) authority = authority.slice(at + 1);
  let host: string;
  let port = 80;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return undefined;
    host = authority.slice(1, close);
    if (close + 1 < authority.length) {
      if (authority.charCodeAt(close + 1) !== 58) return undefined;
      port = parsePort(authority, close + 2, authority.length);
    }
  } else {
    const colon = authority.indexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) port = parsePort(authority, colon + 1, authority.length);
  }
  if (host.length === 0 || port <= 0) return undefined;
  const hash = target.indexOf("#", stop);
  let path = target.slice(stop, hash < 0 ? target.length : hash);
  if (path.length === 0 || path.charCodeAt(0) !== 47) path = `/${path}`;
  return { host, port, authority, path };
}

const C_SIZE = 0;
const C_EXT = 1;
const C_SIZE_LF = 2;
const C_DATA = 3;
const C_DATA_CR = 4;
const C_DATA_LF = 5;
const C_TRAILER_START = 6;
const C_TRAILER_LINE = 7;
const C_TRAILER_LF = 8;
const C_DONE = 9;

/** Longest chunk-size line (with extensions) or trailer section we accept. */
const MAX_CHUNK_LINE = 4096;

/**
 * Follows chunked framing (RFC 9112 §7.1) without decoding it, to find where a message ends; the
 * bytes themselves are forwarded untouched. A state machine so chunks may split anywhere.
 */
export class ChunkedScanner {
  private state = C_SIZE;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;

  reset(): void {
    this.state = C_SIZE;
    this.size = 0;
    this.digits = 0;
    this.lineBytes = 0;
  }

  /** Offset just past the end of the chunked body in b[from, end), NEED_MORE, or MALFORMED. */
  scan(b: Uint8Array, from: number, end: number): number {
    let i = from;
    while (i < end) {
      switch (this.state) {
        case C_DATA: {
          const n = Math.min(this.size, end - i);
          this.size -= n;
          i += n;
          if (this.size === 0) this.state = C_DATA_CR;
          continue;
        }
        case C_SIZE: {
          const c = b[i]!;
          const d = c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1;
          if (d >= 0) {
            // 13 hex digits stay within Number's exact integer range.
            if (++this.digits > 13) return MALFORMED;
            this.size = this.size * 16 + d;
          } else if (c === 59 || c === 32 || c === 9) {
            this.state = C_EXT;
          } else if (c === 13) {
            this.state = C_SIZE_LF;
          } else if (c === 10) {
            if (!this.sizeDone()) return MALFORMED;
          } else {
            return MALFORMED;
          }
          break;
        }
        case C_EXT: {
          if (++this.lineBytes > MAX_CHUNK_LINE) return MALFORMED;
          if (b[i] === 10 && !this.sizeDone()) return MALFORMED;
          break;
        }
        case C_SIZE_LF:
          if (b[i] !== 10 || !this.sizeDone()) return MALFORMED;
          break;
        case C_DATA_CR:
          if (b[i] === 13) this.state = C_DATA_LF;
          else if (b[i] === 10) this.state = C_SIZE;
          else return MALFORMED;
          break;
        case C_DATA_LF:
          if (b[i] !== 10) return MALFORMED;
          this.state = C_SIZE;
          break;
        case C_TRAILER_START: {
          const c = b[i]!;
          if (c === 13) this.state = C_TRAILER_LF;
          else if (c === 10) {
            this.state = C_DONE;
            return i + 1;
          } else this.state = C_TRAILER_LINE;
          break;
        }
        case C_TRAILER_LINE:
          if (++this.lineBytes > MAX_CHUNK_LINE) return MALFORMED;
          if (b[i] === 10) this.state = C_TRAILER_START;
          break;
        case C_TRAILER_LF:
          if (b[i] !== 10) return MALFORMED;
          this.state = C_DONE;
          return i + 1;
        default:
          return MALFORMED;
      }
      i++;
    }
    return NEED_MORE;
  }

  /** A chunk-size line ended: the last chunk starts the trailer section, any other its data. */
  private sizeDone(): boolean {
    if (this.digits === 0) return false;
    this.state = this.size === 0 ? C_TRAILER_START : C_DATA;
    this.digits = 0;
    this.lineBytes = 0;
    return true;
  }
}

const R_IDLE = 0;
const R_HEAD = 1;
const R_LENGTH = 2;
const R_CHUNKED = 3;
const R_UNTIL_CLOSE = 4;
const R_RAW = 5;

/**
 * Finds where each response ends so a keep-alive client connection can move on to the next
 * request (possibly on another upstream). Response bytes are never changed: the head is only read.
 */
export class ResponseScanner {
  private state = R_IDLE;
  private remaining = 0;
  private head: Uint8Array | undefined;
  private requestWasHead = false;
  private readonly chunked = new ChunkedScanner();
  /** The upstream will close after this response (Connection: close, HTTP/1.0 without keep-alive). */
  closes = false;

  /** Expect the response to a request just sent. */
  begin(requestWasHead: boolean): void {
    this.state = R_HEAD;
    this.requestWasHead = requestWasHead;
    this.head = undefined;
  }

  /** A close-delimited response ended with the upstream's EOF. */
  complete(): void {
    this.state = R_IDLE;
  }

  /** The response is delimited by the upstream closing its side. */
  get untilClose(): boolean {
    return this.state === R_UNTIL_CLOSE;
  }

  /** A 101 response switched the connection to another protocol: bytes flow untouched from here. */
  get upgraded(): boolean {
    return this.state === R_RAW;
  }

  /** Waiting for a response, or inside one. */
  get active(): boolean {
    return this.state !== R_IDLE;
  }

  /**
   * Offset just past the end of the response in b[0, end), NEED_MORE, or MALFORMED (also for
   * bytes nobody asked for).
   */
  scan(b: Uint8Array, end: number): number {
    let i = 0;
    while (i < end) {
      switch (this.state) {
        case R_HEAD: {
          const r = this.scanHead(b, i, end);
          if (r < 0) return r;
          i = r;
          // A head without a body ends the response here.
          if (!this.active) return i;
          continue;
        }
        case R_LENGTH: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) {
            this.state = R_IDLE;
            return i;
          }
          continue;
        }
        case R_CHUNKED: {
          const r = this.chunked.scan(b, i, end);
          if (r === NEED_MORE) return NEED_MORE;
          if (r === MALFORMED) return MALFORMED;
          this.state = R_IDLE;
          return r;
        }
        case R_UNTIL_CLOSE:
        case R_RAW:
          return NEED_MORE;
        default:
          return MALFORMED;
      }
    }
    return NEED_MORE;
  }

  private scanHead(b: Uint8Array, from: number, end: number): number {
    let bytes = b;
    let start = from;
    let scanFrom = from;
    const prior = this.head;
    if (prior) {
      bytes = new Uint8Array(prior.length + end - from);
      bytes.set(prior, 0);
      bytes.set(b.subarray(from, end), prior.length);
      start = 0;
      scanFrom = Math.max(0, prior.length - 3);
    }
    const stop = bytes === b ? end : bytes.length;
    const headEnd = findHeadEnd(bytes, scanFrom, stop);
    if (headEnd < 0) {
      if (stop - start > MAX_HEAD_BYTES) return MALFORMED;
      this.head = bytes === b ? b.slice(from, end) : bytes;
      return NEED_MORE;
    }
    if (headEnd - start > MAX_HEAD_BYTES) return MALFORMED;
    this.head = undefined;
    if (!this.readHead(bytes, start, headEnd)) return MALFORMED;
    // Offset in `b` where the head ended.
    return prior ? from + headEnd - prior.length : headEnd;
  }

  /** Status line and framing fields of one response head; sets the next state. */
  private readHead(b: Uint8Array, start: number, end: number): boolean {
    // "HTTP/1.x SSS"
    if (end - start < 12 || b[start] !== 72 || b[start + 4] !== 47 || b[start + 8] !== 32) return false;
    const minor = b[start + 7]! - 48;
    const s0 = b[start + 9]! - 48;
    const s1 = b[start + 10]! - 48;
    const s2 = b[start + 11]! - 48;
    if (s0 < 1 || s0 > 5 || s1 < 0 || s1 > 9 || s2 < 0 || s2 > 9) return false;
    const status = s0 * 100 + s1 * 10 + s2;
    const lf = b.indexOf(10, start);
    const fields = parseFields(b, lf + 1, end);
    if (!fields) return false;
    const connection = listValue(b, fields, "connection");
    this.closes = hasToken(connection, "close") || (minor === 0 && !hasToken(connection, "keep-alive"));
    if (status === 101) {
      this.state = R_RAW;
      return true;
    }
    if (status < 200) return true; // informational: the real response follows
    if (this.requestWasHead || status === 204 || status === 304) {
      this.state = R_IDLE;
      return true;
    }
    const te = listValue(b, fields, "transfer-encoding");
    if (te) {
      if (hasLastToken(te, "chunked")) {
        this.chunked.reset();
        this.state = R_CHUNKED;
      } else {
        this.state = R_UNTIL_CLOSE;
      }
      return true;
    }
    const length = contentLength(b, fields);
    if (length === MALFORMED) return false;
    if (length === NEED_MORE) {
      this.state = R_UNTIL_CLOSE;
    } else if (length === 0) {
      this.state = R_IDLE;
    } else {
      this.remaining = length;
      this.state = R_LENGTH;
    }
    return true;
  }
}

/** True when the last coding of a Transfer-Encoding list is `token`. */
export function hasLastToken(list: string, token: string): boolean {
  const comma = list.lastIndexOf(",");
  return list.slice(comma + 1).trim().toLowerCase() === token;
}
