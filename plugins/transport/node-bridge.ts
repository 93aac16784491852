/**
 * Bridges between our Duplex and Node streams, for the libraries that demand Node streams
 * (`node:tls` over a stream that is not a plain socket, `node:http2`). Only used at that edge; the
 * common case (TLS straight on a Bun socket) never touches them.
 */
import { Duplex as NodeDuplex } from "node:stream";
import type { Duplex } from "../../src/sdk/index.ts";

/** Our Duplex seen as a Node Duplex: backpressure maps onto pause()/resume() and onDrain. */
export class NodeDuplexAdapter extends NodeDuplex {
  private writeDone: ((err?: Error | null) => void) | undefined;

  constructor(private readonly inner: Duplex) {
    super({ allowHalfOpen: true });
    inner.onData = (chunk) => {
      if (!this.push(chunk)) inner.pause();
    };
    inner.onEnd = () => {
      this.push(null);
    };
    inner.onDrain = () => {
      const done = this.writeDone;
      this.writeDone = undefined;
      done?.();
    };
    inner.onClose = (err) => {
      const done = this.writeDone;
      this.writeDone = undefined;
      done?.(err ?? new Error("stream closed"));
      this.destroy(err);
    };
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.inner.closed) {
      done(new Error("stream closed"));
      return;
    }
    if (this.inner.write(chunk)) done();
    else this.writeDone = done;
  }

  override _final(done: (err?: Error | null) => void): void {
    this.inner.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.inner.close(err ?? undefined);
    done(err);
  }
}

/**
 * A Node Duplex (a TLSSocket, an HTTP/2 stream) seen as our Duplex. Node may emit data as soon as
 * the stream exists (node:http2 delivers the first window with the response headers), before the
 * caller had a chance to set onData: until it does, chunks and the end are kept and then replayed.
 */
export class NodeStreamDuplex implements Duplex {
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  private sink: ((chunk: Uint8Array) => void) | undefined;
  private backlog: Uint8Array[] | undefined = [];
  private endSeen = false;
  private error: Error | undefined;

  constructor(
    readonly node: NodeDuplex,
    readonly remoteAddress: string,
  ) {
    node.on("data", (chunk: Uint8Array) => {
      if (this.backlog) this.backlog.push(chunk);
      else this.sink?.(chunk);
    });
    node.on("end", () => {
      if (this.backlog) this.endSeen = true;
      else this.ended();
    });
    node.on("drain", () => this.onDrain?.());
    node.on("error", (err: Error) => {
      this.error ??= err;
    });
    node.on("close", () => {
      // A close after kept data or a kept end waits until those have been replayed.
      if (!this.backlog || (this.backlog.length === 0 && !this.endSeen)) this.finish(this.error);
    });
  }

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.sink;
  }

  set onData(fn: ((chunk: Uint8Array) => void) | undefined) {
    this.sink = fn;
    if (!fn || !this.backlog) return;
    const kept = this.backlog;
    queueMicrotask(() => {
      if (this.backlog !== kept) return;
      this.backlog = undefined;
      for (const c of kept) this.sink?.(c);
      if (this.endSeen) this.ended();
      if (this.node.destroyed) this.finish(this.error);
    });
  }

  private ended(): void {
    if (this.onEnd) this.onEnd();
    else this.close();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    return this.node.write(chunk);
  }

  end(): void {
    if (!this.closed) this.node.end();
  }

  close(err?: Error): void {
    if (this.closed) return;
    if (err || this.node.destroyed) {
      this.node.destroy(err);
      this.finish(err);
      return;
    }
    // Flush what is queued, then close; destroy() alone would drop it.
    this.node.end(() => this.node.destroy());
  }

  pause(): void {
    this.node.pause();
  }

  resume(): void {
    this.node.resume();
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.backlog = undefined;
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}
