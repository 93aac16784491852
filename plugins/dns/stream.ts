/**
 * DNS over a byte stream (TCP, TLS): two-byte length framing (RFC 1035 §4.2.2) and pipelining
 * (RFC 7766 §6.2.1): one kept connection per server carries every query at once, each under an id
 * of our own so that callers may reuse ids, and answers may come back in any order. A connection
 * is opened on first use, closed after IDLE_MS without queries, and replaced when the server
 * closes it; a query that finds a kept connection closed under it is sent once more on a new one.
 */
import { frameTcp, idOf, setId, TcpFramer } from "../../src/dns/message.ts";
import type { CreateContext, DialOptions, Duplex, Resolver } from "../../src/sdk/index.ts";
import { bounded, ConnectionLost, EXCHANGE_TIMEOUT_MS, ExchangeTimeout, IDLE_MS, named } from "./common.ts";
import { checkReply } from "./wire.ts";

interface Pending {
  /** The query as sent (our id), to check the answer against. */
  query: Uint8Array;
  callerId: number;
  /** When it was written (performance.now()); 0 while the connection is still opening. */
  sentAt: number;
  signal: AbortSignal;
  onAbort: () => void;
  resolve(reply: Uint8Array): void;
  reject(err: Error): void;
}

export type Dial = (signal: AbortSignal) => Promise<Duplex>;

/** TCP to the server: through the proxy or group of `#NAME` (routed by rules for `#RULES`, by the core), else direct. */
export function tcpDial(ctx: CreateContext, host: string, port: number, proxy: string): Dial {
  const dialerProxy = proxy || undefined;
  return (signal) => ctx.dialServer(host, port, { dialerProxy, signal });
}

export class StreamResolver implements Resolver {
  private conn: Connection | undefined;
  private closed = false;

  constructor(
    private readonly what: string,
    private readonly dial: Dial,
  ) {}

  exchange(message: Uint8Array, options?: DialOptions): Promise<Uint8Array> {
    return bounded(this.what, options?.signal, (signal) => this.send(message, signal));
  }

  /** One exchange under a signal the caller bounds (udp's TC retry runs inside its own deadline). */
  async send(message: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error(`${this.what}: resolver closed`);
      if (!this.conn || this.conn.dead) this.conn = new Connection(this.what, this.dial);
      const conn = this.conn;
      const reused = conn.answered > 0;
      try {
        return await conn.query(message, signal);
      } catch (err) {
        if (!(err instanceof ConnectionLost) || !reused || attempt > 0 || signal.aborted) throw err;
      }
    }
  }

  close(): void {
    this.closed = true;
    this.conn?.fail(new Error(`${this.what}: resolver closed`));
  }
}

class Connection {
  dead = false;
  /** Answers received: a connection that has answered before may have been closed by the server since. */
  answered = 0;
  private stream: Duplex | undefined;
  private readonly ready: Promise<Duplex>;
  private readonly pending = new Map<number, Pending>();
  private readonly dialing = new AbortController();
  private readonly framer = new TcpFramer();
  private lastRead = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly what: string,
    dial: Dial,
  ) {
    const timer = setTimeout(() => this.dialing.abort(new ExchangeTimeout(`${what}: no connection within ${EXCHANGE_TIMEOUT_MS / 1000} s`)), EXCHANGE_TIMEOUT_MS);
    this.ready = dial(this.dialing.signal).then(
      (s) => {
        clearTimeout(timer);
        if (this.dead) {
          s.close();
          throw new ConnectionLost(`${what}: connection closed`);
        }
        this.attach(s);
        return s;
      },
      (err: unknown) => {
        clearTimeout(timer);
        const e = named(what, err);
        this.fail(e);
        throw e;
      },
    );
    // Failures reach the queries through fail(); nobody else awaits this promise.
    this.ready.catch(() => {});
  }

  query(message: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (message.length < 12 || message.length > 0xffff) return Promise.reject(new Error(`${this.what}: cannot send a ${message.length}-byte message`));
    if (this.dead) return Promise.reject(new ConnectionLost(`${this.what}: connection closed`));
    const id = this.freeId();
    if (id < 0) return Promise.reject(new Error(`${this.what}: 65536 queries in flight`));
    const frame = frameTcp(message);
    const query = frame.subarray(2);
    setId(query, id);
    this.stopIdle();
    return new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = {
        query,
        callerId: idOf(message),
        sentAt: 0,
        signal,
        onAbort: () => {
          if (this.pending.get(id) !== p) return;
          this.settle(id, p);
          reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
          // Our own deadline passed and the server has sent nothing since this query: the
          // connection is presumed dead (not merely slow), so the next query opens a new one.
          if (signal.reason instanceof ExchangeTimeout && p.sentAt > 0 && this.lastRead < p.sentAt) {
            this.fail(new ConnectionLost(`${this.what}: no reply on the connection; reconnecting`));
          }
        },
        resolve,
        reject,
      };
      signal.addEventListener("abort", p.onAbort, { once: true });
      this.pending.set(id, p);
      if (this.stream) this.write(frame, p);
      else this.ready.then(() => this.pending.get(id) === p && this.write(frame, p), () => {});
    });
  }

  /** Reject everything in flight with `err` and close; the resolver opens a new connection next time. */
  fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.stopIdle();
    this.dialing.abort(err);
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(err);
    }
    this.stream?.close();
  }

  private freeId(): number {
    if (this.pending.size >= 0x10000) return -1;
    let id = (Math.random() * 0x10000) | 0;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    return id;
  }

  private write(frame: Uint8Array, p: Pending): void {
    p.sentAt = performance.now();
    this.stream!.write(frame);
  }

  private attach(s: Duplex): void {
    this.stream = s;
    s.onData = (chunk) => this.read(chunk);
    s.onEnd = () => this.fail(new ConnectionLost(`${this.what}: the server closed the connection`));
    s.onClose = (err) => this.fail(new ConnectionLost(`${this.what}: connection closed${err ? `: ${err.message}` : ""}`));
    // Callbacks are set: let it flow (a stream may hold data or its EOF until resumed, e.g. REJECT's).
    s.resume();
    if (this.pending.size === 0) this.startIdle();
  }

  private read(chunk: Uint8Array): void {
    this.lastRead = performance.now();
    this.framer.push(chunk, (reply) => this.deliver(reply));
  }

  private deliver(reply: Uint8Array): void {
    const id = idOf(reply);
    const p = this.pending.get(id);
    // No such query (any more): a late answer to one that was abandoned.
    if (!p) return;
    const problem = checkReply(p.query, reply);
    if (problem === "foreign") return;
    this.settle(id, p);
    if (problem) {
      p.reject(new Error(`${this.what}: ${problem}`));
      return;
    }
    this.answered++;
    setId(reply, p.callerId);
    p.resolve(reply);
  }

  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    p.signal.removeEventListener("abort", p.onAbort);
    if (this.pending.size === 0 && this.stream && !this.dead) this.startIdle();
  }

  private startIdle(): void {
    this.stopIdle();
    this.idle = setTimeout(() => this.fail(new ConnectionLost(`${this.what}: idle connection closed`)), IDLE_MS);
  }

  private stopIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }
}
