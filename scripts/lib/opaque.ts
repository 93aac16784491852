/** A Duplex behind a plain object, for the bench and the transport tests. */
import type { Duplex } from "../../src/sdk/index.ts";

/**
 * The same stream behind a plain object, so a transport cannot recognise the Bun socket under it
 * and takes its general path (the TLS transport: node:tls over our Duplex).
 */
export function opaque(inner: Duplex): Duplex {
  const d: Duplex = {
    onData: undefined,
    onEnd: undefined,
    onDrain: undefined,
    onClose: undefined,
    get closed() {
      return inner.closed;
    },
    get remoteAddress() {
      return inner.remoteAddress;
    },
    write: (c) => inner.write(c),
    end: () => inner.end(),
    close: (e) => inner.close(e),
    pause: () => inner.pause(),
    resume: () => inner.resume(),
  };
  inner.onData = (c) => d.onData?.(c);
  inner.onEnd = () => d.onEnd?.();
  inner.onDrain = () => d.onDrain?.();
  inner.onClose = (e) => d.onClose?.(e);
  return d;
}
