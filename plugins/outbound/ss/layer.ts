import type { Duplex } from "../../../src/sdk/index.ts";

/** A stream that transforms bytes on their way to and from the inner stream. */
export abstract class Layer implements Duplex {
  onData: ((chunk: Uint8Array) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  private done = false;

  constructor(protected readonly inner: Duplex) {
    inner.onData = (d) => this.fromServer(d);
    inner.onEnd = () => {
      if (this.onEnd) this.onEnd();
      else this.close();
    };
    inner.onDrain = () => this.onDrain?.();
    inner.onClose = (err) => this.finish(err);
  }

  abstract write(chunk: Uint8Array): boolean;
  protected abstract fromServer(data: Uint8Array): void;

  get closed(): boolean {
    return this.done || this.inner.closed;
  }

  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }

  end(): void {
    this.inner.end();
  }

  close(err?: Error): void {
    if (this.done) return;
    this.inner.close(err);
    this.finish(err);
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  private finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}
