/**
 * The VMess body: a stream of chunks, each `size (2 bytes) ‖ payload ‖ padding`, where
 * - with an AEAD security the payload is sealed under the body key with nonce
 *   count (2 bytes, big-endian, wrapping at 2^16 as v2ray's) ‖ IV[2:12];
 * - with chunk masking the size is XORed with the next 16 bits of SHAKE128(IV);
 * - with global padding, 0-63 random bytes follow the payload, their count drawn from the same
 *   SHAKE stream just before the mask; the size covers payload and padding.
 * An empty payload ends the stream. With security none (TCP) there are no chunks at all.
 *
 * Hot path (measured with scripts/bench-v2ray.ts and a CPU profile): one output buffer per write
 * holding all its chunks (one syscall), one per received segment holding all the chunks it
 * completed, decrypted in place there (gcm.ts); the nonce buffer is allocated once per direction.
 */
import { randomFillSync } from "node:crypto";
import type { Aead } from "../ss/aead.ts";
import type { ByteQueue } from "../v2ray-shared/queue.ts";
import { Shake128Stream } from "./shake.ts";

/** Largest payload per chunk we send (sing-vmess's; v2ray sends ~2 KiB and reads any size). */
export const MAX_CHUNK = 16 * 1024;
const TAG = 16;

export interface ChunkOptions {
  /** The body AEAD and its key; none for security "none". */
  aead: Aead | undefined;
  key: Uint8Array;
  iv: Uint8Array;
  masking: boolean;
  padding: boolean;
}

/** Nonce and SHAKE state of one direction. */
class Direction {
  protected readonly aead: Aead | undefined;
  protected readonly key: Uint8Array;
  protected readonly nonce = new Uint8Array(12);
  protected readonly shake: Shake128Stream | undefined;
  protected readonly padding: boolean;
  protected readonly overhead: number;
  private count = 0;

  constructor(o: ChunkOptions) {
    this.aead = o.aead;
    this.key = o.key;
    this.overhead = o.aead ? TAG : 0;
    this.nonce.set(o.iv.subarray(0, 12));
    this.shake = o.masking || o.padding ? new Shake128Stream(o.iv) : undefined;
    this.padding = o.padding;
  }

  protected nextNonce(): Uint8Array {
    this.nonce[0] = this.count >>> 8;
    this.nonce[1] = this.count & 0xff;
    this.count = (this.count + 1) & 0xffff;
    return this.nonce;
  }

  /** Per chunk the stream draws the padding length first, then the size mask. */
  protected drawPadding(): number {
    return this.padding ? this.shake!.next16() % 64 : 0;
  }

  protected drawMask(): number {
    return this.shake ? this.shake.next16() : 0;
  }
}

export class ChunkSealer extends Direction {
  /**
   * `data` as chunks of at most `max` bytes (one chunk, even when empty, for max = Infinity or
   * empty data) behind `prefix`, in one new buffer.
   */
  seal(data: Uint8Array, prefix: Uint8Array | undefined, max = MAX_CHUNK): Uint8Array {
    const count = data.length <= max ? 1 : Math.ceil(data.length / max);
    const pre = prefix?.length ?? 0;
    const out = Buffer.allocUnsafe(pre + data.length + count * (2 + this.overhead + 63));
    if (prefix) out.set(prefix);
    let o = pre;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const piece = data.subarray(at, Math.min(at + max, data.length));
      at += piece.length;
      const pad = this.drawPadding();
      const size = (piece.length + this.overhead + pad) ^ this.drawMask();
      out[o++] = (size >>> 8) & 0xff;
      out[o++] = size & 0xff;
      if (this.aead) this.aead.seal(this.key, this.nextNonce(), piece, out, o);
      else out.set(piece, o);
      o += piece.length + this.overhead;
      if (pad > 0) {
        randomFillSync(out, o, pad);
        o += pad;
      }
    }
    return out.subarray(0, o);
  }
}

export class ChunkOpener extends Direction {
  /** Size of the chunk being received (payload + tag + padding), -1 between chunks. */
  private size = -1;
  private pad = 0;

  /** The next chunk as received (sealed payload), or undefined when more bytes are needed. */
  private nextSealed(q: ByteQueue): Uint8Array | undefined {
    if (this.size < 0) {
      if (q.length < 2) return undefined;
      const raw = (q.at(0) << 8) | q.at(1);
      q.skip(2);
      const pad = this.drawPadding();
      const size = raw ^ this.drawMask();
      if (size < this.overhead + pad) throw new Error(`bad chunk length ${size}`);
      this.size = size;
      this.pad = pad;
    }
    if (q.length < this.size) return undefined;
    const sealed = q.take(this.size - this.pad);
    q.skip(this.pad);
    this.size = -1;
    return sealed;
  }

  /** Whether a chunk's size has been read and its body is awaited. */
  midChunk(): boolean {
    return this.size >= 0;
  }

  /** Decrypt `sealed` into `out` at `offset` (a copy for security none). */
  private openInto(sealed: Uint8Array, out: Uint8Array, offset: number): void {
    if (!this.aead) out.set(sealed, offset);
    else if (!this.aead.open(this.key, this.nextNonce(), sealed, out, offset)) throw new Error("chunk failed authentication");
  }

  /**
   * Every chunk complete in `q` as one payload (one buffer, so one write downstream however many
   * chunks a segment held), and whether the empty chunk that ends the stream was among them.
   */
  openAll(q: ByteQueue): { data: Uint8Array | undefined; end: boolean } {
    const sealed: Uint8Array[] = [];
    let total = 0;
    let last: Uint8Array | undefined;
    for (;;) {
      const s = this.nextSealed(q);
      if (s === undefined) break;
      if (s.length === this.overhead) {
        last = s;
        break;
      }
      sealed.push(s);
      total += s.length - this.overhead;
    }
    let data: Uint8Array | undefined;
    if (sealed.length === 1 && !this.aead) data = sealed[0];
    else if (sealed.length > 0) {
      data = Buffer.allocUnsafe(total);
      let o = 0;
      for (const s of sealed) {
        this.openInto(s, data, o);
        o += s.length - this.overhead;
      }
    }
    // The end chunk is authenticated too, after the chunks before it (nonces go in order).
    if (last) this.openInto(last, EMPTY, 0);
    return { data, end: last !== undefined };
  }

  /** One chunk as one datagram; null for the end chunk, undefined when more bytes are needed. */
  openOne(q: ByteQueue): Uint8Array | null | undefined {
    const s = this.nextSealed(q);
    if (s === undefined) return undefined;
    const out = new Uint8Array(s.length - this.overhead);
    this.openInto(s, out, 0);
    return out.length === 0 ? null : out;
  }
}

const EMPTY = new Uint8Array(0);
