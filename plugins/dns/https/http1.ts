/**
 * The HTTP/1.1 side of DoH, for servers that do not offer HTTP/2 and for `http://`: keep-alive
 * connections, one request at a time each, at most MAX_CONNS per server (mihomo's DoH transport
 * allows 2 connections per host; further requests wait for one to come free).
 */
import type { Duplex } from "../../../src/sdk/index.ts";
import { ConnectionLost, IDLE_MS } from "../common.ts";
import type { Dial } from "../stream.ts";

const MAX_CONNS = 2;
const MAX_HEAD = 16 * 1024;
/** A DNS message is at most 65535 bytes; anything longer is not a DoH answer. */
export const MAX_BODY = 0xffff;

export interface HttpReply {
  status: number;
  body: Uint8Array;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** One keep-alive connection. */
class Conn {
  /** Responses read on it: a connection that has answered may have been closed by the server since. */
  served = 0;
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private onBytes: (() => void) | undefined;
  private onGone: ((err: Error) => void) | undefined;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly what: string,
    readonly stream: Duplex,
    private readonly gone: (c: Conn) => void,
  ) {
    stream.onData = (chunk) => {
      // Bytes while no request is out cannot belong to any answer: the connection is unusable.
      if (!this.onBytes) {
        stream.close();
        return;
      }
      this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
      this.onBytes();
    };
    stream.onEnd = () => stream.close();
    stream.onClose = (err) => {
      this.closed = true;
      this.stopIdle();
      this.onGone?.(new ConnectionLost(`${what}: connection closed${err ? `: ${err.message}` : ""}`));
      this.gone(this);
    };
    stream.resume();
  }

  /** Send `head` and read one response; `keepAlive` says whether the connection can take another. */
  request(head: string, signal: AbortSignal): Promise<HttpReply & { keepAlive: boolean }> {
    this.stopIdle();
    if (this.closed) return Promise.reject(new ConnectionLost(`${this.what}: connection closed`));
    const reused = this.served > 0;
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, reply?: HttpReply & { keepAlive: boolean }) => {
        this.onBytes = this.onGone = undefined;
        signal.removeEventListener("abort", onAbort);
        if (!err) {
          resolve(reply!);
          return;
        }
        this.close();
        reject(err);
      };
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      this.onBytes = () => {
        try {
          const r = parseResponse(this.buf, false);
          if (!r) return;
          this.served++;
          this.buf = this.buf.subarray(r.used);
          // Bytes past the response would be read as the next one: such a connection is not kept.
          finish(undefined, { ...r, keepAlive: r.keepAlive && this.buf.length === 0 });
        } catch (err) {
          finish(new Error(`${this.what}: ${(err as Error).message}`));
        }
      };
      this.onGone = (err) => {
        // Closed before a byte of the answer, on a connection kept from before: worth one retry.
        if (this.buf.length === 0) {
          finish(reused ? err : new Error(err.message));
          return;
        }
        // A body without a length ends with the connection.
        const r = endOfBody(this.buf);
        if (r) finish(undefined, { ...r, keepAlive: false });
        else finish(new Error(`${this.what}: connection closed in the middle of the response`));
      };
      this.stream.write(Buffer.from(head, "latin1"));
    });
  }

  startIdle(): void {
    this.stopIdle();
    this.idle = setTimeout(() => this.close(), IDLE_MS);
  }

  close(): void {
    this.stopIdle();
    this.stream.close();
  }

  private stopIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }
}

/** The response in `buf` once the connection has closed (a body without a length ends there). */
function endOfBody(buf: Buffer): HttpReply | undefined {
  try {
    return parseResponse(buf, true) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * A complete response at the start of `buf`, or undefined while more bytes are needed. `atEnd`:
 * the connection has closed, so a body without a length ends here.
 */
function parseResponse(buf: Buffer, atEnd: boolean): (HttpReply & { keepAlive: boolean; used: number }) | undefined {
  const headEnd = buf.indexOf(CRLFCRLF);
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD) throw new Error("response head too large");
    return undefined;
  }
  const lines = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? "");
  if (!m) throw new Error(`not an HTTP/1.x response: "${(lines[0] ?? "").slice(0, 60)}"`);
  const status = Number(m[2]);
  let length = -1;
  let chunked = false;
  let keepAlive = m[1] === "1";
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding") chunked = value.includes("chunked");
    else if (name === "connection") keepAlive = value.includes("keep-alive") || (keepAlive && !value.includes("close"));
  }
  let at = headEnd + 4;
  if (chunked) {
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const n = Number.parseInt(buf.subarray(at, eol).toString("latin1"), 16);
      if (!Number.isFinite(n) || n < 0) throw new Error("bad chunk size");
      size += n;
      if (size > MAX_BODY) throw new Error("response body too large for a DNS message");
      if (buf.length < eol + 2 + n + 2) return undefined;
      if (n === 0) {
        // The last chunk; trailers are not expected from a DoH server, so the empty line ends it.
        const end = buf.indexOf(CRLFCRLF.subarray(2), eol + 2);
        if (end < 0) return undefined;
        return { status, body: new Uint8Array(Buffer.concat(parts)), keepAlive, used: end + 2 };
      }
      parts.push(buf.subarray(eol + 2, eol + 2 + n));
      at = eol + 2 + n + 2;
    }
  }
  if (length >= 0) {
    if (!Number.isSafeInteger(length) || length > MAX_BODY) throw new Error("response body too large for a DNS message");
    if (buf.length < at + length) return undefined;
    return { status, body: new Uint8Array(buf.subarray(at, at + length)), keepAlive, used: at + length };
  }
  if (buf.length - at > MAX_BODY) throw new Error("response body too large for a DNS message");
  if (!atEnd) return undefined;
  return { status, body: new Uint8Array(buf.subarray(at)), keepAlive: false, used: buf.length };
}

interface Waiter {
  signal: AbortSignal;
  /** Hand over a connection; false when the waiter has given up meanwhile. */
  give(c: Conn): boolean;
  fail(err: Error): void;
}

export class Http1Pool {
  private readonly idle: Conn[] = [];
  /** Connections handed out or being opened. */
  private busy = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;

  constructor(
    private readonly what: string,
    private readonly open: Dial,
  ) {}

  /** Send `head` (a complete request head) on a free connection; a kept one the server closed is retried once. */
  async request(head: string, signal: AbortSignal): Promise<HttpReply> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.acquire(signal);
      if (signal.aborted) {
        this.release(conn, true);
        throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
      }
      try {
        const r = await conn.request(head, signal);
        this.release(conn, r.keepAlive);
        return r;
      } catch (err) {
        this.release(conn, false);
        if (!(err instanceof ConnectionLost) || attempt > 0 || signal.aborted) throw err;
      }
    }
  }

  /** A connection opened elsewhere (the ALPN probe) joins the pool. */
  adopt(stream: Duplex): void {
    this.busy++;
    this.release(new Conn(this.what, stream, (gone) => this.forget(gone)), true);
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
    for (const w of this.waiters.splice(0)) w.fail(new Error(`${this.what}: resolver closed`));
  }

  private acquire(signal: AbortSignal): Promise<Conn> {
    if (this.closed) return Promise.reject(new Error(`${this.what}: resolver closed`));
    const kept = this.idle.pop();
    if (kept) {
      this.busy++;
      return Promise.resolve(kept);
    }
    if (this.busy + this.idle.length < MAX_CONNS) {
      this.busy++;
      return this.connect(signal);
    }
    return new Promise<Conn>((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        done = true;
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      const w: Waiter = {
        signal,
        give: (c) => {
          if (done) return false;
          done = true;
          signal.removeEventListener("abort", onAbort);
          resolve(c);
          return true;
        },
        fail: (err) => {
          if (done) return;
          done = true;
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  private async connect(signal: AbortSignal): Promise<Conn> {
    try {
      return new Conn(this.what, await this.open(signal), (gone) => this.forget(gone));
    } catch (err) {
      this.busy--;
      this.wakeOne();
      throw err;
    }
  }

  /** Back from a request: kept for the next one, or closed (and its slot given to a waiter). */
  private release(c: Conn, reusable: boolean): void {
    if (reusable && !c.closed && !this.closed) {
      for (let w = this.waiters.shift(); w; w = this.waiters.shift()) if (w.give(c)) return;
      this.busy--;
      this.idle.push(c);
      c.startIdle();
      return;
    }
    this.busy--;
    c.close();
    this.wakeOne();
  }

  /** A slot came free: open a connection for the first waiter. */
  private wakeOne(): void {
    const w = this.waiters.shift();
    if (!w) return;
    this.busy++;
    this.connect(w.signal).then(
      (c) => {
        if (!w.give(c)) this.release(c, true);
      },
      (err: Error) => w.fail(err),
    );
  }

  /** A connection the server closed while idle leaves the pool. */
  private forget(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
