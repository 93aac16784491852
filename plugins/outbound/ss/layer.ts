import type { Duplex } from "../../../src/sdk/index.ts";
import { WrappedStream } from "../../transport/wrapped-stream.ts";

/**
 * A stream that transforms bytes on their way to and from the inner stream. Closed as soon as
 * `close()` is called (onClose fires then), not only once the inner stream reports it.
 */
export abstract class Layer extends WrappedStream {
  onData: ((chunk: Uint8Array) => void) | undefined;
  private done = false;

  constructor(inner: Duplex) {
    super(inner);
    inner.onData = (d) => this.fromServer(d);
  }

  protected abstract fromServer(data: Uint8Array): void;

  override get closed(): boolean {
    return this.done || this.inner.closed;
  }

  override close(err?: Error): void {
    if (this.done) return;
    this.inner.close(err);
    this.fireClose(err);
  }

  protected override fireClose(err?: Error): void {
    if (this.done) return;
    this.done = true;
    super.fireClose(err);
  }
}
