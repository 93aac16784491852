/**
 * The one byte-stream interface used everywhere: accepted connections, outbound dials and every
 * transport that wraps one stream into another. Callback properties (not EventEmitter) keep the hot
 * path free of per-chunk allocations.
 */
export interface Duplex {
  /**
   * Send bytes. Returns true when the chunk was taken by the kernel whole; false when part of it is
   * queued (by reference — do not reuse its memory): the caller should pause its source until
   * `onDrain` fires.
   */
  write(chunk: Uint8Array): boolean;
  /** Half-close: nothing more will be written. */
  end(): void;
  /**
   * Tear down both directions. Idempotent; `onClose` fires once. Without an error, bytes already
   * queued after `end()` are flushed first.
   */
  close(err?: Error): void;
  /** Stop delivering `onData` until `resume()`. */
  pause(): void;
  resume(): void;
  /**
   * Bytes from the peer. The chunk belongs to the receiver (it may be queued by reference on
   * another stream): a stream must not reuse a chunk's memory after delivering it.
   */
  onData: ((chunk: Uint8Array) => void) | undefined;
  /** The peer half-closed its side. */
  onEnd: (() => void) | undefined;
  /** A queued write has been flushed completely. */
  onDrain: (() => void) | undefined;
  /** Closed, once, with the error that closed it if any. */
  onClose: ((err?: Error) => void) | undefined;
  readonly closed: boolean;
  /** Address actually connected to, without port (the tracker's `remoteDestination`). */
  readonly remoteAddress: string;
}

/** One datagram with its peer address (the destination on send, the source on receive). */
export interface Packet {
  data: Uint8Array;
  host: string;
  port: number;
}

/** A UDP association through an outbound: datagrams to and from many destinations. */
export interface PacketConn {
  send(packet: Packet): void;
  onPacket: ((packet: Packet) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  close(err?: Error): void;
  closed: boolean;
}
