import { API_VERSION, definePlugin, type Duplex, type PacketConn, t } from "../../../src/sdk/index.ts";

/** How long REJECT-DROP holds a connection before closing it (mihomo: ~60 s). */
const DROP_HOLD_MS = 60_000;

/**
 * A stream that answers nothing. REJECT ends it at once (the client sees EOF); REJECT-DROP swallows
 * writes and closes after a minute, so the client waits as if the packets were dropped.
 */
class NullStream implements Duplex {
  onData: ((chunk: Uint8Array) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  readonly remoteAddress = "";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;

  constructor(private readonly drop: boolean) {
    if (drop) this.timer = setTimeout(() => this.close(), DROP_HOLD_MS);
  }
  write(): boolean {
    return !this.closed;
  }
  end(): void {}
  pause(): void {}
  /** The relay resumes a stream once its callbacks are set: that is when REJECT's EOF can be seen. */
  resume(): void {
    if (this.drop || this.ended) return;
    this.ended = true;
    queueMicrotask(() => (this.onEnd ? this.onEnd() : this.close()));
  }
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}

function nullPackets(): PacketConn {
  const conn: PacketConn = {
    closed: false,
    onPacket: undefined,
    onClose: undefined,
    send() {},
    close() {
      if (conn.closed) return;
      conn.closed = true;
      conn.onClose?.();
    },
  };
  return conn;
}

export default definePlugin({
  name: "outbound-reject",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("reject", {
      options: t.Object({}),
      create: (o) => ({
        name: o.name,
        type: "Reject",
        supportsUdp: true,
        addr: "",
        dialTcp: async () => new NullStream(false),
        dialUdp: async () => nullPackets(),
      }),
    });
    host.registerOutbound("reject-drop", {
      options: t.Object({}),
      create: (o) => ({
        name: o.name,
        type: "RejectDrop",
        supportsUdp: true,
        addr: "",
        dialTcp: async () => new NullStream(true),
        dialUdp: async () => nullPackets(),
      }),
    });
    // PASS is never dialled: the tunnel skips rules whose target unwraps to it.
    host.registerOutbound("pass", {
      options: t.Object({}),
      create: (o) => ({
        name: o.name,
        type: "Pass",
        supportsUdp: true,
        addr: "",
        dialTcp: async () => {
          throw new Error("PASS cannot carry a connection");
        },
      }),
    });
  },
});
