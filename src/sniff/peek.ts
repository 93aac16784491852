/**
 * Reading a client's first bytes before the connection is routed: the stream is taken over until
 * the bytes decide, the client stops talking, or a deadline passes; then it is paused again with
 * its handlers cleared, ready for the relay, and the bytes read go out first.
 */
import { SocketStream } from "../core/socket-stream.ts";
import type { Duplex } from "../sdk/stream.ts";

/** What was read; `bytes` starts with the head passed in. */
export interface Peeked {
  bytes: Uint8Array | undefined;
  /** The client half-closed while we read: the relay must hear it (see replayEnd). */
  ended: boolean;
  /** The deadline passed before the bytes decided. */
  timedOut: boolean;
}

/** Bytes kept at most: a ClientHello or a request head is far smaller. */
const MAX_PEEK = 64 * 1024;

/**
 * Collect `stream`'s data after `head` until `decided(bytes)`, the end, a close, or a timeout:
 * `firstMs` for the first byte, then `moreMs` from the first byte on (mihomo's two peeks with a
 * deadline each; a non-empty head counts as the first byte). The caller resumes the stream after
 * calling this.
 */
export function peek(stream: Duplex, head: Uint8Array | undefined, decided: (bytes: Uint8Array) => boolean, firstMs: number, moreMs: number): Promise<Peeked> {
  return new Promise((resolve) => {
    let bytes = head !== undefined && head.length > 0 ? head : undefined;
    let ended = false;
    let timer = setTimeout(() => finish(true), bytes ? moreMs : firstMs);
    const finish = (timedOut: boolean) => {
      clearTimeout(timer);
      stream.onData = stream.onEnd = stream.onClose = undefined;
      if (!stream.closed) stream.pause();
      resolve({ bytes, ended, timedOut });
    };
    stream.onData = (chunk) => {
      if (bytes === undefined) {
        clearTimeout(timer);
        timer = setTimeout(() => finish(true), moreMs);
        bytes = chunk;
      } else {
        const joined = new Uint8Array(bytes.length + chunk.length);
        joined.set(bytes, 0);
        joined.set(chunk, bytes.length);
        bytes = joined;
      }
      if (decided(bytes) || bytes.length >= MAX_PEEK) finish(false);
    };
    stream.onEnd = () => {
      ended = true;
      finish(false);
    };
    stream.onClose = () => finish(false);
  });
}

/**
 * Pass on an end the peek swallowed, once the relay runs: two Bun sockets are piped inside
 * SocketStream, any other pair through the relay's onEnd.
 */
export function replayEnd(stream: Duplex): void {
  if (stream instanceof SocketStream && stream.isPiped) stream.pipeEnd();
  else stream.onEnd?.();
}
