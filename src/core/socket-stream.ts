import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Duplex } from "../sdk/stream.ts";
import type { TrackedConnection, Tracker } from "./tracker.ts";

/**
 * A Bun socket behind our Duplex interface. Bun sockets, not node:net, carry the bytes: measured
 * here at ~0.22 s user CPU per GiB relayed and ~1.9 KB per idle connection, 3.5x less memory than
 * node:net (research/bun-probe.md §1, §3). Backpressure by hand: the unwritten tail of a chunk is
 * queued (by reference, no copy) and flushed on `drain`.
 */
export class SocketStream implements Duplex {
  socket: Socket<SocketStream> | undefined;
  onData: ((chunk: Uint8Array) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  private pending: Uint8Array[] | undefined;
  private endRequested = false;
  private pausedBeforeOpen = false;
  private closeWhenFlushed = false;
  /** Piped mode (two sockets relayed by `pipe`): the other side and the tracked connection. */
  private peer: SocketStream | undefined;
  private tracked: TrackedConnection | undefined;
  private tracker: Tracker | undefined;
  /** The client side of a pipe: its bytes count as upload. */
  private upstream = false;
  private readEnded = false;

  get remoteAddress(): string {
    return unmapIPv4(this.socket?.remoteAddress ?? "");
  }
  get remotePort(): number {
    return this.socket?.remotePort ?? 0;
  }
  get localAddress(): string {
    return unmapIPv4(this.socket?.localAddress ?? "");
  }
  get localPort(): number {
    return this.socket?.localPort ?? 0;
  }

  get isPiped(): boolean {
    return this.peer !== undefined;
  }

  attach(socket: Socket<SocketStream>): void {
    this.socket = socket;
    if (this.pausedBeforeOpen) socket.pause();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed || this.endRequested || !this.socket) return false;
    if (this.pending) {
      this.pending.push(chunk);
      return false;
    }
    const n = this.socket.write(chunk);
    if (n === chunk.length) return true;
    if (n < 0) return false;
    this.pending = [n === 0 ? chunk : chunk.subarray(n)];
    return false;
  }

  /** Called on `drain`: push the queue out, then tell the writer to go on. */
  flush(): void {
    const q = this.pending;
    const s = this.socket;
    if (!q || !s) return;
    while (q.length > 0) {
      const head = q[0]!;
      const n = s.write(head);
      if (n < 0) return;
      if (n < head.length) {
        q[0] = head.subarray(n);
        return;
      }
      q.shift();
    }
    this.pending = undefined;
    if (this.closeWhenFlushed) this.close();
    else if (this.endRequested) s.shutdown();
    else if (this.peer) this.peer.resume();
    else this.onDrain?.();
  }

  /**
   * Half-close: send FIN and keep reading. Measured on Bun 1.4.5, `socket.end()` closes the read
   * side too (a reply after the client's FIN was lost); `shutdown()` is the half-close.
   */
  end(): void {
    if (this.closed || this.endRequested) return;
    this.endRequested = true;
    if (!this.pending) this.socket?.shutdown();
  }

  close(err?: Error): void {
    if (this.closed) return;
    if (!err && this.pending) {
      this.closeWhenFlushed = true;
      this.endRequested = true;
      return;
    }
    this.closed = true;
    this.pending = undefined;
    // end() before terminate(): measured, terminate() alone drops bytes Bun has accepted but not sent.
    if (!err) this.socket?.end();
    this.socket?.terminate();
    this.notifyClosed(err);
  }

  pause(): void {
    if (this.socket) this.socket.pause();
    else this.pausedBeforeOpen = true;
  }

  resume(): void {
    this.pausedBeforeOpen = false;
    this.socket?.resume();
  }

  /**
   * Relay this socket and `remote` both ways inside the shared socket handlers, without per-connection
   * closures; counts bytes on `conn` and drops it from `tracker` when both sides are done.
   */
  pipe(remote: SocketStream, conn: TrackedConnection, tracker: Tracker): void {
    this.peer = remote;
    remote.peer = this;
    this.tracked = remote.tracked = conn;
    this.tracker = remote.tracker = tracker;
    this.upstream = true;
    this.onData = this.onEnd = this.onDrain = this.onClose = undefined;
    remote.onData = remote.onEnd = remote.onDrain = remote.onClose = undefined;
    if (this.closed || remote.closed) {
      this.unpipe();
      return;
    }
    this.resume();
    remote.resume();
  }

  /** Data in piped mode (hot path). */
  pipeData(chunk: Uint8Array): void {
    if (this.upstream) this.tracked!.upload += chunk.length;
    else this.tracked!.download += chunk.length;
    if (!this.peer!.write(chunk)) this.pause();
  }

  /** The peer half-closed in piped mode: pass the FIN on; both ways done ends the pipe. */
  pipeEnd(): void {
    this.readEnded = true;
    const peer = this.peer!;
    peer.end();
    if (peer.readEnded) this.unpipe();
  }

  /** End of a pipe: close both sides (gracefully unless `err`) and untrack, once. */
  private unpipe(err?: Error): void {
    const peer = this.peer;
    if (!peer) return;
    this.peer = peer.peer = undefined;
    this.close(err);
    peer.close(err);
    this.tracker!.remove(this.tracked!);
  }

  /** The socket closed underneath us (peer, error, or our own terminate). */
  handleClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    this.notifyClosed(err);
  }

  /** After either close path: end the pipe, or tell the owner once. */
  private notifyClosed(err: Error | undefined): void {
    if (this.peer) {
      this.unpipe(err);
      return;
    }
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}

/** The handlers that drive a SocketStream (also used for TLS sockets upgraded from one). */
export const socketHandlers: SocketHandler<SocketStream> = {
  open(socket) {
    socket.data.attach(socket);
  },
  data(socket, chunk) {
    const s = socket.data;
    if (s.isPiped) s.pipeData(chunk);
    else s.onData?.(chunk);
  },
  drain(socket) {
    socket.data.flush();
  },
  end(socket) {
    const s = socket.data;
    if (s.isPiped) s.pipeEnd();
    else if (s.onEnd) s.onEnd();
    else s.close();
  },
  close(socket, err) {
    socket.data.handleClose(err);
  },
  error(socket, err) {
    socket.data.close(err);
  },
};

export interface ListenOptions {
  hostname: string;
  port: number;
  onAccept(stream: SocketStream): void;
}

/** Listen on TCP; each accepted connection arrives as a SocketStream, not yet read from. */
export function listenTcp(options: ListenOptions): TCPSocketListener<SocketStream> {
  const accept = options.onAccept;
  return Bun.listen<SocketStream>({
    hostname: options.hostname,
    port: options.port,
    allowHalfOpen: true,
    socket: {
      ...socketHandlers,
      open(socket) {
        const stream = new SocketStream();
        socket.data = stream;
        stream.attach(socket);
        try {
          accept(stream);
        } catch (err) {
          stream.close(err instanceof Error ? err : new Error(String(err)));
        }
      },
    },
  });
}

/** Connect over TCP. Resolves once connected; rejects with the OS error (ECONNREFUSED, …). */
export async function connectTcp(hostname: string, port: number, signal?: AbortSignal): Promise<SocketStream> {
  signal?.throwIfAborted();
  const stream = new SocketStream();
  const connecting = Bun.connect<SocketStream>({ hostname, port, data: stream, allowHalfOpen: true, socket: socketHandlers }).catch(
    (err: Error & { code?: string }) => {
      // Bun says only "Failed to connect"; name the address and the OS error code.
      const wrapped = new Error(`connect ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}: ${err.code ?? err.message}`);
      // Inbounds map the OS code to their protocol's reply (SOCKS 0x05 for ECONNREFUSED, …).
      throw Object.assign(wrapped, { code: err.code });
    },
  );
  if (!signal) {
    await connecting;
    return stream;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason ?? new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([connecting, aborted]);
    return stream;
  } catch (err) {
    // A connect that completes after the abort must not leak its socket.
    connecting.then((s) => s.terminate()).catch(() => {});
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4` (mihomo shows IPv4-mapped addresses unmapped). */
export function unmapIPv4(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
