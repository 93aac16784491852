import type { Duplex } from "../../src/sdk/index.ts";

/**
 * What every Duplex that wraps another (transports, outbound framings) does the same way: the
 * callback fields, onDrain and onClose handed up (onClose once), the peer's end handed on or the
 * stream closed when nobody listens for it, and end / close / pause / resume passed down. A subclass
 * writes its framing, takes `inner.onData`, and overrides what it does differently. Nothing here is
 * on the per-chunk path.
 */
export abstract class WrappedStream implements Duplex {
  /** Abstract so a subclass may make it an accessor (reading only once someone listens). */
  abstract onData: ((chunk: Uint8Array) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;

  constructor(protected readonly inner: Duplex) {
    inner.onEnd = () => this.peerEnded();
    inner.onDrain = () => this.onDrain?.();
    inner.onClose = (err) => this.innerClosed(err);
  }

  abstract write(chunk: Uint8Array): boolean;

  get closed(): boolean {
    return this.inner.closed;
  }

  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }

  end(): void {
    this.inner.end();
  }

  close(err?: Error): void {
    this.inner.close(err);
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  /** The peer half-closed (by default: the inner stream ended). */
  protected peerEnded(): void {
    this.handOnEnd();
  }

  /** The inner stream closed. */
  protected innerClosed(err?: Error): void {
    this.fireClose(err);
  }

  /** The end to whoever listens; with nobody listening the stream has no use left. */
  protected handOnEnd(): void {
    if (this.onEnd) this.onEnd();
    else this.close();
  }

  /** Calls onClose at most once. */
  protected fireClose(err?: Error): void {
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}
