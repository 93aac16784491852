/**
 * v2ray's Mux.Cool with a single sub-connection, which is what v2ray-plugin's server expects inside
 * its WebSocket (measured against Debian's v2ray-plugin 1.3.1: without it the server fails with
 * "mux: failed to read metadata"). mihomo's `mux: true` default does the same.
 *
 * Frame: `u16 metadata length ‖ metadata (session id u16, status, option[, network, port, address])
 * ‖ [u16 data length ‖ data]` when option has the data bit. The client opens session 0 with a
 * New frame to 127.0.0.1:0 (the plugin server forwards to its Shadowsocks server whatever the
 * address), sends Keep frames, and ends with End.
 */
import type { Duplex } from "../../../src/sdk/index.ts";
import { Layer } from "./layer.ts";

const NEW = 0x01;
const KEEP = 0x02;
const END = 0x03;
const OPTION_DATA = 0x01;
const MAX_DATA = 0xffff;

/** New frame for session 0, TCP, 127.0.0.1:0; sent with the first data. */
const OPEN = Uint8Array.of(0, 12, 0, 0, NEW, 0, 0x01, 0, 0, 0x01, 127, 0, 0, 1);
const CLOSE_FRAME = Uint8Array.of(0, 4, 0, 0, END, 0);

const LENGTH = 0;
const META = 1;
const DATA_LENGTH = 2;
const DATA = 3;

class MuxStream extends Layer {
  private opened = false;
  private state = LENGTH;
  /** Header bytes being collected (metadata length, metadata, data length). */
  private readonly header = new Uint8Array(512);
  private fill = 0;
  private need = 2;
  private deliver = false;
  private ended = false;

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    const frames = Math.max(1, Math.ceil(chunk.length / MAX_DATA));
    const prefix = this.opened ? 0 : OPEN.length;
    const out = new Uint8Array(prefix + frames * 8 + chunk.length);
    if (!this.opened) out.set(OPEN);
    this.opened = true;
    let o = prefix;
    for (let p = 0, i = 0; i < frames; i++) {
      const n = Math.min(MAX_DATA, chunk.length - p);
      out.set([0, 4, 0, 0, KEEP, OPTION_DATA, n >> 8, n & 0xff], o);
      out.set(chunk.subarray(p, p + n), o + 8);
      o += 8 + n;
      p += n;
    }
    return this.inner.write(out);
  }

  override close(err?: Error): void {
    if (!err && this.opened && !this.closed) this.inner.write(CLOSE_FRAME);
    super.close(err);
  }

  protected fromServer(data: Uint8Array): void {
    let p = 0;
    while (p < data.length && !this.ended) {
      if (this.state === DATA) {
        const n = Math.min(this.need, data.length - p);
        if (this.deliver) this.onData?.(data.subarray(p, p + n));
        this.need -= n;
        p += n;
        if (this.need === 0) this.expect(LENGTH, 2);
        continue;
      }
      const n = Math.min(this.need - this.fill, data.length - p);
      this.header.set(data.subarray(p, p + n), this.fill);
      this.fill += n;
      p += n;
      if (this.fill < this.need) return;
      this.headerDone();
    }
  }

  private expect(state: number, need: number): void {
    this.state = state;
    this.need = need;
    this.fill = 0;
  }

  private headerDone(): void {
    const h = this.header;
    if (this.state === LENGTH) {
      const metaLength = (h[0]! << 8) | h[1]!;
      if (metaLength < 4 || metaLength > h.length) {
        this.close(new Error(`v2ray-plugin mux: bad metadata length ${metaLength}`));
        return;
      }
      this.expect(META, metaLength);
    } else if (this.state === META) {
      const ours = h[0] === 0 && h[1] === 0;
      const status = h[2];
      const hasData = (h[3]! & OPTION_DATA) !== 0;
      if (ours && status === END) {
        this.ended = true;
        if (this.onEnd) this.onEnd();
        else this.close();
        return;
      }
      this.deliver = ours && (status === KEEP || status === NEW);
      this.expect(hasData ? DATA_LENGTH : LENGTH, 2);
    } else {
      const n = (h[0]! << 8) | h[1]!;
      if (n === 0) this.expect(LENGTH, 2);
      else this.expect(DATA, n);
    }
  }
}

export function mux(inner: Duplex): Duplex {
  return new MuxStream(inner);
}
