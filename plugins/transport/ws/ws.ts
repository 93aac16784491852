/**
 * WebSocket client (RFC 6455) over any Duplex, as v2ray/Xray/mihomo speak it for `network: ws`:
 * binary frames carry the proxied bytes, optional v2ray early data rides in the handshake, and
 * `v2rayHttpUpgrade` keeps only the HTTP Upgrade exchange (raw bytes after it). Hand-written
 * because Bun's WebSocket client cannot run over our Duplex. Hot paths, measured
 * (scripts/bench-transports.ts, CPU per GiB): a received frame's payload is handed on as a view of
 * the incoming chunk, no copy (~0.005 s/GiB parsing); each written frame is one allocation masked a
 * 32-bit word at a time (~0.3-0.5 s/GiB with the copy; byte-wise masking alone was ~1.05 s/GiB,
 * word-wise ~0.2).
 */
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import type { DialOptions, Duplex, WsTransportOptions } from "../../../src/sdk/index.ts";
import { WrappedStream } from "../wrapped-stream.ts";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Largest payload put in one frame; a bigger write becomes several frames. */
const MAX_FRAME = 64 * 1024;
/** Limit for the handshake reply head. */
const MAX_HEAD = 16 * 1024;
/** With early data, how long to wait for the first write before sending the handshake without it. */
const EARLY_DATA_WAIT_MS = 200;

const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Mask keys come from a pool refilled in bulk: one random call per 1,024 frames, not per frame. */
const maskPool = new Uint8Array(4096);
let maskAt = maskPool.length;
function nextMask(out: Uint8Array, at: number): void {
  if (maskAt === maskPool.length) {
    randomFillSync(maskPool);
    maskAt = 0;
  }
  out[at] = maskPool[maskAt]!;
  out[at + 1] = maskPool[maskAt + 1]!;
  out[at + 2] = maskPool[maskAt + 2]!;
  out[at + 3] = maskPool[maskAt + 3]!;
  maskAt += 4;
}

/**
 * One masked client frame in a fresh buffer. The header is placed so the payload starts 4-byte
 * aligned in the buffer, so the mask is applied a 32-bit word at a time, in place on the copy; the
 * word read from the mask bytes themselves keeps this independent of byte order.
 */
function frame(opcode: number, payload: Uint8Array, start: number, end: number): Uint8Array {
  const len = end - start;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + lenBytes + 4;
  const pad = (4 - (head % 4)) % 4;
  const buf = new Uint8Array(pad + head + len);
  let i = pad;
  buf[i++] = 0x80 | opcode;
  if (lenBytes === 0) buf[i++] = 0x80 | len;
  else if (lenBytes === 2) {
    buf[i++] = 0x80 | 126;
    buf[i++] = len >>> 8;
    buf[i++] = len & 0xff;
  } else {
    buf[i++] = 0x80 | 127;
    const hi = Math.floor(len / 2 ** 32);
    buf[i++] = 0;
    buf[i++] = 0;
    buf[i++] = 0;
    buf[i++] = hi & 0xff;
    buf[i++] = len >>> 24;
    buf[i++] = (len >>> 16) & 0xff;
    buf[i++] = (len >>> 8) & 0xff;
    buf[i++] = len & 0xff;
  }
  nextMask(buf, i);
  i += 4;
  buf.set(payload.subarray(start, end), i);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  const mask = words[(i >>> 2) - 1]!;
  const whole = i + (len & ~3);
  for (let w = i >>> 2, last = whole >>> 2; w < last; w++) words[w]! ^= mask;
  for (let b = whole, k = 0; b < buf.length; b++, k++) buf[b]! ^= buf[i - 4 + k]!;
  return pad === 0 ? buf : buf.subarray(pad);
}

/** Prepared per transport instance: the fixed part of the request head. */
export class WsClient {
  private readonly fixedHeaders: string;

  constructor(private readonly options: WsTransportOptions) {
    let h = `Host: ${options.host}\r\n`;
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (k.toLowerCase() !== "host") h += `${k}: ${v}\r\n`;
    }
    this.fixedHeaders = h;
  }

  wrap(inner: Duplex, dial?: DialOptions): Promise<Duplex> {
    dial?.signal?.throwIfAborted();
    const o = this.options;
    const s = new WsStream(inner, !o.v2rayHttpUpgrade);
    if (!o.v2rayHttpUpgrade && (o.maxEarlyData ?? 0) > 0) {
      // The handshake waits for the first write (bounded), so its first bytes can ride in it.
      s.startLazy((early) => this.request(s, early), EARLY_DATA_WAIT_MS, o.maxEarlyData!);
      return Promise.resolve(s);
    }
    return s.handshake(this.request(s, undefined), dial?.signal);
  }

  /** The request head; `early` bytes go in the early-data header or at the end of the path. */
  private request(s: WsStream, early: Uint8Array | undefined): string {
    const o = this.options;
    let path = o.path || "/";
    let extra = "";
    if (early && early.length > 0) {
      const encoded = Buffer.from(early.buffer, early.byteOffset, early.length).toString("base64url");
      if (o.earlyDataHeaderName) extra = `${o.earlyDataHeaderName}: ${encoded}\r\n`;
      else path += encoded;
    }
    if (o.v2rayHttpUpgrade) {
      return `GET ${path} HTTP/1.1\r\n${this.fixedHeaders}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;
    }
    return `GET ${path} HTTP/1.1\r\n${this.fixedHeaders}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${s.key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
  }
}

type State = "idle" | "handshake" | "open";

export class WsStream extends WrappedStream {
  /** Closed from our side or the inner stream's; read directly (not through `closed`) per chunk. */
  private done = false;
  readonly key = randomBytes(16).toString("base64");
  private sink: ((chunk: Uint8Array) => void) | undefined;
  private state: State = "idle";
  /** Bytes that came with the handshake reply, processed once someone listens. */
  private held: Uint8Array | undefined;
  /** Writes made before the handshake completed; the writer was told to wait for onDrain. */
  private queue: Uint8Array[] = [];
  private owesDrain = false;
  private head: Buffer | undefined;
  private opened: ((err?: Error) => void) | undefined;
  private lazy: { timer: Timer; send: (early: Uint8Array | undefined) => string; max: number } | undefined;
  private closeSent = false;
  // Frame parser state.
  private remaining = 0;
  /** Opcode of the control frame being read (its payload collects in `control`). */
  private controlOp = 0;
  private partial: Uint8Array | undefined;
  private control: Uint8Array | undefined;
  private controlAt = 0;

  constructor(
    inner: Duplex,
    /** False for v2ray HTTPUpgrade: raw bytes after the 101. */
    private readonly framed: boolean,
  ) {
    super(inner);
    inner.onData = (c) => this.receive(c);
  }

  override get closed(): boolean {
    return this.done;
  }

  protected override innerClosed(err?: Error): void {
    this.finish(err ?? (this.state === "open" ? undefined : new Error("websocket: connection closed during handshake")));
  }

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.sink;
  }

  /**
   * Bytes (data, or a Close) that came in the same read as the handshake reply are processed only
   * once someone listens, after the handlers set alongside onData are in place too.
   */
  set onData(fn: ((chunk: Uint8Array) => void) | undefined) {
    this.sink = fn;
    const held = this.held;
    if (fn && held) {
      this.held = undefined;
      queueMicrotask(() => this.receive(held));
    }
  }

  /** Send the request and resolve once the server has switched protocols. */
  handshake(request: string, signal?: AbortSignal): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      const onAbort = () => this.close(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.opened = (err) => {
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(this);
      };
      this.sendRequest(request);
    });
  }

  startLazy(send: (early: Uint8Array | undefined) => string, waitMs: number, max: number): void {
    const timer = setTimeout(() => this.fireLazy(undefined), waitMs);
    this.lazy = { timer, send, max };
  }

  private fireLazy(first: Uint8Array | undefined): void {
    const lazy = this.lazy;
    if (!lazy) return;
    this.lazy = undefined;
    clearTimeout(lazy.timer);
    const early = first?.subarray(0, lazy.max);
    if (first && early && first.length > early.length) this.queue.push(first.subarray(early.length));
    this.opened = (err) => {
      if (err) this.close(err);
    };
    this.sendRequest(lazy.send(early));
  }

  private sendRequest(request: string): void {
    this.state = "handshake";
    this.head = Buffer.alloc(0);
    this.inner.write(Buffer.from(request, "latin1"));
  }

  write(chunk: Uint8Array): boolean {
    if (this.done || this.closeSent) return false;
    if (this.state !== "open") {
      if (this.lazy) this.fireLazy(chunk);
      else this.queue.push(chunk);
      this.owesDrain = true;
      return false;
    }
    return this.send(chunk);
  }

  private send(chunk: Uint8Array): boolean {
    if (!this.framed) return this.inner.write(chunk);
    if (chunk.length <= MAX_FRAME) return this.inner.write(frame(OP_BINARY, chunk, 0, chunk.length));
    let ok = true;
    for (let at = 0; at < chunk.length; at += MAX_FRAME) ok = this.inner.write(frame(OP_BINARY, chunk, at, Math.min(at + MAX_FRAME, chunk.length)));
    return ok;
  }

  /**
   * WebSocket has no half-close, and a Close frame would make v2ray's server stop sending too;
   * so, as in mihomo, ending our side sends nothing and the stream lives until either side closes.
   */
  override end(): void {}

  override close(err?: Error): void {
    if (this.done) return;
    if (!err && this.state === "open" && this.framed) this.sendClose(1000);
    this.inner.close(err);
    this.finish(err);
  }

  private finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.lazy) clearTimeout(this.lazy.timer);
    this.lazy = undefined;
    const opened = this.opened;
    this.opened = undefined;
    opened?.(err ?? new Error("websocket: closed during handshake"));
    this.fireClose(err);
  }

  protected override peerEnded(): void {
    if (this.state !== "open") {
      this.close(new Error("websocket: connection closed during handshake"));
      return;
    }
    this.handOnEnd();
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const body = new Uint8Array([code >>> 8, code & 0xff]);
    this.inner.write(frame(OP_CLOSE, body, 0, 2));
  }

  private receive(c: Uint8Array): void {
    if (this.state === "open") {
      if (this.held) this.held = Buffer.concat([this.held, c]);
      else if (this.framed) this.parse(c);
      else this.sink?.(c);
      return;
    }
    if (this.state !== "handshake" || !this.head) {
      this.close(new Error("websocket: server sent data before the handshake"));
      return;
    }
    const buf = Buffer.concat([this.head, c]);
    const end = buf.indexOf("\r\n\r\n", Math.max(0, this.head.length - 3), "latin1");
    if (end < 0) {
      if (buf.length > MAX_HEAD) this.close(new Error("websocket: handshake reply head too large"));
      else this.head = buf;
      return;
    }
    this.head = undefined;
    const problem = this.checkReply(buf.toString("latin1", 0, end));
    if (problem) {
      this.close(new Error(`websocket handshake: ${problem}`));
      return;
    }
    this.state = "open";
    const opened = this.opened;
    this.opened = undefined;
    opened?.();
    const queued = this.queue;
    this.queue = [];
    let flushed = true;
    for (const q of queued) flushed = this.send(q);
    const rest = buf.subarray(end + 4);
    if (rest.length > 0) {
      if (this.sink) queueMicrotask(() => this.receive(rest));
      else this.held = rest;
    }
    // A writer told to wait hears onDrain now, or from the inner stream once it has drained.
    if (this.owesDrain && flushed) {
      this.owesDrain = false;
      this.onDrain?.();
    }
  }

  /** The status line when it is not 101, or a wrong accept key. */
  private checkReply(head: string): string | undefined {
    const eol = head.indexOf("\r\n");
    const status = eol < 0 ? head : head.slice(0, eol);
    if (!/^HTTP\/1\.[01] 101(\s|$)/.test(status)) return status;
    if (!this.framed) return undefined;
    const m = /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(\r\n|$)/i.exec(head);
    const expected = createHash("sha1").update(this.key + WS_GUID).digest("base64");
    if (!m || m[1] !== expected) return `bad Sec-WebSocket-Accept (${m ? m[1] : "missing"})`;
    return undefined;
  }


  /** Frame parser: payloads are handed on as views of `c`; only a split header is copied. */
  private parse(c: Uint8Array): void {
    let i = 0;
    const n = c.length;
    while (i < n && !this.done) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        const piece = i === 0 && take === n ? c : c.subarray(i, i + take);
        this.remaining -= take;
        i += take;
        if (this.control) {
          this.control.set(piece, this.controlAt);
          this.controlAt += take;
          if (this.remaining === 0) this.controlFrame();
        } else {
          this.sink?.(piece);
        }
        continue;
      }
      let src = c;
      let at = i;
      let carried = 0;
      if (this.partial) {
        carried = this.partial.length;
        src = new Uint8Array(carried + Math.min(14, n - i));
        src.set(this.partial);
        src.set(c.subarray(i, i + src.length - carried), carried);
        at = 0;
      }
      const used = this.header(src, at);
      if (used < 0) return;
      if (used === 0) {
        this.partial = src === c ? c.slice(i) : src;
        return;
      }
      this.partial = undefined;
      i += used - carried;
      if (this.remaining === 0 && this.control) this.controlFrame();
    }
  }

  /** Parse one frame header at `at`: bytes used, 0 when incomplete, -1 after a protocol error. */
  private header(b: Uint8Array, at: number): number {
    const avail = b.length - at;
    if (avail < 2) return 0;
    const b0 = b[at]!;
    const b1 = b[at + 1]!;
    let len = b1 & 0x7f;
    let used = 2;
    if (len === 126) {
      if (avail < 4) return 0;
      len = (b[at + 2]! << 8) | b[at + 3]!;
      used = 4;
    } else if (len === 127) {
      if (avail < 10) return 0;
      len = (b[at + 2]! * 2 ** 24 + (b[at + 3]! << 16) + (b[at + 4]! << 8) + b[at + 5]!) * 2 ** 32 + (b[at + 6]! * 2 ** 24 + (b[at + 7]! << 16) + (b[at + 8]! << 8) + b[at + 9]!);
      used = 10;
    }
    if (b1 & 0x80) {
      this.close(new Error("websocket: the server sent a masked frame"));
      return -1;
    }
    const opcode = b0 & 0x0f;
    this.remaining = len;
    if (opcode >= 0x8) {
      if (len > 125) {
        this.close(new Error("websocket: control frame too long"));
        return -1;
      }
      this.controlOp = opcode;
      this.control = new Uint8Array(len);
      this.controlAt = 0;
    } else if (opcode > OP_BINARY) {
      this.close(new Error(`websocket: unknown opcode ${opcode}`));
      return -1;
    } else {
      // Text, binary and continuation frames all carry stream bytes.
      this.control = undefined;
    }
    return used;
  }

  private controlFrame(): void {
    const payload = this.control!;
    const opcode = this.controlOp;
    this.control = undefined;
    if (opcode === OP_PING) {
      if (!this.closeSent) this.inner.write(frame(OP_PONG, payload, 0, payload.length));
    } else if (opcode === OP_CLOSE) {
      this.sendClose(1000);
      this.peerEnded();
    }
  }
}
