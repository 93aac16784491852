/**
 * Received bytes waiting to be parsed into frames. Segments are kept by reference (a stream's
 * chunks belong to the receiver); a frame that lies inside one segment comes back as a view, and
 * only a frame split across segments is copied, once, so reassembly stays linear in the bytes.
 */
const EMPTY = new Uint8Array(0);

export class ByteQueue {
  private segments: Uint8Array[] = [];
  /** Read position in segments[0]. */
  private offset = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.segments.push(chunk);
    this.length += chunk.length;
  }

  /** Byte `i` from the read position (i < length). */
  at(i: number): number {
    let k = this.offset + i;
    for (const s of this.segments) {
      if (k < s.length) return s[k]!;
      k -= s.length;
    }
    throw new RangeError("ByteQueue.at past the end");
  }

  /** Remove and return the next `n` bytes (n <= length): a view when they lie in one segment. */
  take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const first = this.segments[0]!;
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const s = this.segments[0]!;
      const m = Math.min(n - filled, s.length - this.offset);
      out.set(s.subarray(this.offset, this.offset + m), filled);
      filled += m;
      this.advance(m);
    }
    return out;
  }

  /** Drop the next `n` bytes (n <= length). */
  skip(n: number): void {
    while (n > 0) {
      const s = this.segments[0]!;
      const m = Math.min(n, s.length - this.offset);
      this.advance(m);
      n -= m;
    }
  }

  /** Everything left, as one view or copy. */
  drain(): Uint8Array {
    return this.take(this.length);
  }

  private advance(n: number): void {
    this.offset += n;
    this.length -= n;
    if (this.offset === this.segments[0]!.length) {
      this.segments.shift();
      this.offset = 0;
    }
  }
}
