/**
 * A proxied connection for VMess and VLESS: our Duplex over the (transport-wrapped) server stream,
 * with the protocol's framing supplied by a codec. What it does for both:
 *
 * - the request head is held until the first write (or the end of this event-loop turn), so head
 *   and first payload leave in one segment, and server-first protocols still work;
 * - received bytes are reassembled in a ByteQueue (frames split across segments are copied once)
 *   and handed to the codec, which emits the payloads (streams: all frames a segment completes as
 *   one chunk, so one write downstream rather than one per 2 KiB v2ray chunk; UDP: a datagram each);
 * - a malformed response closes this connection with an error naming the proxy and why.
 */
import type { Duplex } from "../../../src/sdk/index.ts";
import { WrappedStream } from "../../transport/wrapped-stream.ts";
import { ByteQueue } from "./queue.ts";

export interface Codec {
  /** Frame outgoing bytes, behind `head` when it is given, into one new buffer. */
  encode(data: Uint8Array, head: Uint8Array | undefined): Uint8Array;
  /** The end-of-stream frame, if the protocol has one (behind `head` when given). */
  encodeEnd(head: Uint8Array | undefined): Uint8Array | undefined;
  /** Consume the response head from `q`. */
  readHead(q: ByteQueue): "more" | "done" | { error: string };
  /** Pass the payloads complete in `q` to `emit`; true once the stream's end marker was read. Throws on bad data. */
  decode(q: ByteQueue, emit: (data: Uint8Array) => void): boolean;
  /** Whether part of a frame has been taken from the queue and the rest is awaited. */
  midFrame(): boolean;
}

export class ProxyConn extends WrappedStream {
  onData: ((chunk: Uint8Array) => void) | undefined;
  private head: Uint8Array | undefined;
  private readonly queue = new ByteQueue();
  private headRead = false;
  private readEnded = false;
  private writeEnded = false;

  constructor(
    inner: Duplex,
    head: Uint8Array,
    private readonly codec: Codec,
    /** `vmess "name"`: prefixes every error. */
    private readonly label: string,
  ) {
    super(inner);
    this.head = head;
    inner.onData = (chunk) => this.receive(chunk);
    setImmediate(() => this.flushHead());
  }

  write(chunk: Uint8Array): boolean {
    if (this.inner.closed || this.writeEnded) return false;
    const out = this.codec.encode(chunk, this.head);
    this.head = undefined;
    return this.inner.write(out);
  }

  override end(): void {
    if (this.writeEnded) return;
    this.writeEnded = true;
    const last = this.codec.encodeEnd(this.head);
    const out = last ?? this.head;
    this.head = undefined;
    if (out && !this.inner.closed) this.inner.write(out);
    this.inner.end();
  }

  private flushHead(): void {
    const head = this.head;
    if (!head || this.inner.closed) return;
    this.head = undefined;
    this.inner.write(head);
  }

  private fail(why: string): void {
    this.inner.close(new Error(`${this.label}: ${why}`));
  }

  private receive(chunk: Uint8Array): void {
    if (this.readEnded) return;
    const q = this.queue;
    q.push(chunk);
    if (!this.headRead) {
      const r = this.codec.readHead(q);
      if (r === "more") return;
      if (r !== "done") {
        this.fail(r.error);
        return;
      }
      this.headRead = true;
    }
    let end: boolean;
    try {
      end = this.codec.decode(q, this.emit);
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
      return;
    }
    if (end) this.endRead();
  }

  private readonly emit = (data: Uint8Array): void => {
    if (!this.inner.closed) this.onData?.(data);
  };

  protected override peerEnded(): void {
    if (this.readEnded) return;
    if (!this.headRead) this.fail("the server closed the connection before answering (wrong uuid, or refused)");
    else if (this.queue.length > 0 || this.codec.midFrame()) this.fail("the server closed the connection inside a frame");
    else this.endRead();
  }

  private endRead(): void {
    this.readEnded = true;
    this.handOnEnd();
  }
}
