import { UserError } from "../sdk/types.ts";

/*
 * The part of the protobuf wire format V2Ray's geoip.dat / geosite.dat use: varints and
 * length-delimited fields. Other wire types (fixed32/64) are only skipped.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** A cursor over a message's bytes; throws a UserError on truncated or malformed input. */
export class ProtoReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint up to 2^53 (field lengths, numbers); longer ones are refused. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new UserError("truncated varint");
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new UserError("varint too long");
  }

  /** The next field's tag: `field << 3 | wire type`. */
  tag(): { field: number; wire: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: t & 7 };
  }

  /** A length-delimited field's extent, checked against the end of the message. */
  bytesRange(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new UserError("length-delimited field runs past the end of its message");
    this.pos = start + len;
    return [start, start + len];
  }

  string(): string {
    const [start, end] = this.bytesRange();
    return decoder.decode(this.buf.subarray(start, end));
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_BYTES) this.bytesRange();
    else if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
      this.pos += wire === WIRE_FIXED64 ? 8 : 4;
      if (this.pos > this.end) throw new UserError("truncated fixed-width field");
    } else throw new UserError(`unsupported wire type ${wire}`);
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Builds a message field by field (fixtures and benchmarks write .dat files with it). */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  private rawVarint(n: number): this {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return this.push(Uint8Array.from(out));
  }

  varint(field: number, n: number): this {
    return this.rawVarint(field * 8 + WIRE_VARINT).rawVarint(n);
  }

  bytes(field: number, data: Uint8Array): this {
    return this.rawVarint(field * 8 + WIRE_BYTES).rawVarint(data.length).push(data);
  }

  string(field: number, s: string): this {
    return this.bytes(field, encoder.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [out];
    return out;
  }
}
