/**
 * Helpers for client handshakes on a Duplex (HTTP CONNECT, SOCKS5): read exact byte counts or up
 * to a delimiter with a time bound, then hand the stream on with any bytes read past the
 * handshake delivered first.
 */
import type { Duplex } from "../../src/sdk/index.ts";
import { WrappedStream } from "../transport/wrapped-stream.ts";

/** Default bound on a whole handshake, as mihomo's 5 s TCP timeout doubled for slow links. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

const EMPTY = new Uint8Array(0);

/** Reads a handshake from a stream. Always finish with `release()` (success) or `fail()`. */
export class StreamReader {
  private buf: Uint8Array = EMPTY;
  private wake: (() => void) | undefined;
  private error: Error | undefined;
  private ended = false;
  private readonly timer: Timer;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly what: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ) {
    stream.onData = (c) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.notify();
    };
    stream.onEnd = () => {
      this.ended = true;
      this.notify();
    };
    stream.onClose = (err) => {
      this.error ??= new Error(`${what}: ${err ? err.message : "connection closed by the server"}`);
      this.notify();
    };
    this.timer = setTimeout(() => this.abort(new Error(`${what}: no reply within ${Math.round((options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS) / 1000)} s`)), options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    const signal = options.signal;
    if (signal) {
      this.onAbort = () => this.abort(signal.reason instanceof Error ? signal.reason : new Error(`${what}: aborted`));
      signal.addEventListener("abort", this.onAbort, { once: true });
      this.signal = signal;
    }
    stream.resume();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private abort(err: Error): void {
    this.error ??= err;
    this.notify();
  }

  private async more(): Promise<void> {
    if (this.error) throw this.error;
    if (this.ended) throw new Error(`${this.what}: connection closed by the server`);
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    if (this.error) throw this.error;
  }

  /** Exactly `n` bytes. */
  async exactly(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) await this.more();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Bytes up to and including the first `delim`; fails past `limit` bytes. */
  async until(delim: Uint8Array, limit: number): Promise<Uint8Array> {
    let from = 0;
    for (;;) {
      const i = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length).indexOf(delim, from);
      if (i >= 0) {
        const out = this.buf.subarray(0, i + delim.length);
        this.buf = this.buf.subarray(i + delim.length);
        return out;
      }
      if (this.buf.length > limit) throw new Error(`${this.what}: reply head longer than ${limit} bytes`);
      from = Math.max(0, this.buf.length - delim.length + 1);
      await this.more();
    }
  }

  private detach(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    this.stream.onData = undefined;
    this.stream.onEnd = undefined;
    this.stream.onClose = undefined;
  }

  /** The handshake is done: the stream, with bytes read past it delivered first. */
  release(): Duplex {
    this.detach();
    const rest = this.buf;
    this.buf = EMPTY;
    // A server that already ended or closed: hand on what it sent, then let the caller see that.
    const after = this.error ? "closed" : this.ended ? "ended" : "open";
    return rest.length > 0 || after !== "open" ? new PrefixedStream(this.stream, rest, after) : this.stream;
  }

  /** The handshake failed: close the stream and return the error to throw. */
  fail(err: unknown): Error {
    this.detach();
    const e = err instanceof Error ? err : new Error(String(err));
    this.stream.close();
    return e;
  }
}

/**
 * A stream whose first bytes were already read: they are delivered once someone sets `onData`
 * (after the other handlers set with it), then everything passes straight through.
 */
export class PrefixedStream extends WrappedStream {
  private sink: ((chunk: Uint8Array) => void) | undefined;
  private head: Uint8Array | undefined;

  constructor(
    inner: Duplex,
    head: Uint8Array,
    /** What already happened to `inner` after the head: replayed after it. */
    private readonly after: "open" | "ended" | "closed",
  ) {
    super(inner);
    this.head = head;
    inner.onData = (c) => this.sink?.(c);
  }

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.sink;
  }

  set onData(fn: ((chunk: Uint8Array) => void) | undefined) {
    this.sink = fn;
    const head = this.head;
    if (!fn || head === undefined) return;
    this.head = undefined;
    queueMicrotask(() => {
      if (head.length > 0) this.sink?.(head);
      if (this.after === "open") return;
      if (this.onEnd) this.onEnd();
      if (this.after === "closed") this.fireClose();
      else if (!this.onEnd) this.close();
    });
  }

  write(chunk: Uint8Array): boolean {
    return this.inner.write(chunk);
  }
}
