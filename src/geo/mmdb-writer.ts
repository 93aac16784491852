import { parsePrefix } from "../sdk/ip.ts";
import { UserError } from "../sdk/types.ts";

/*
 * A MaxMind DB (format 2.0) writer for fixtures and benchmarks: a binary search tree over address
 * bits whose records point at other nodes, at "no data", or into a data section of deduplicated
 * values, followed by the metadata map. IPv4 networks in an IPv6 tree live under ::/96, where
 * readers look for them.
 */

export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbWriterOptions {
  /** `database_type` in the metadata (`GeoLite2-Country`, `sing-geoip`, `Meta-geoip0`, `GeoLite2-ASN`…). */
  databaseType: string;
  /** 6 (default) holds both families; 4 holds IPv4 only. */
  ipVersion?: 4 | 6;
  languages?: string[];
  description?: Record<string, string>;
  /** Seconds since the epoch; default now. */
  buildEpoch?: number;
}

/** A child slot: a node index (≥ 0), EMPTY, or a data leaf `-(2 + value index)`. */
const EMPTY = -1;

const TYPE = { string: 2, double: 3, uint16: 5, uint32: 6, map: 7, int32: 8, uint64: 9, array: 11, boolean: 14 } as const;
const METADATA_MARKER = Uint8Array.from([0xab, 0xcd, 0xef, ..."MaxMind.com"].map((c) => (typeof c === "number" ? c : c.charCodeAt(0))));
const DATA_SEPARATOR = 16;
const textEncoder = new TextEncoder();
/** Largest size a control byte can express (31 → 65821 plus three more bytes). */
const MAX_SIZE = 65821 + 0xffffff;

export class MmdbWriter {
  private readonly left: number[] = [EMPTY];
  private readonly right: number[] = [EMPTY];
  private readonly values: MmdbValue[] = [];
  private readonly valueIds = new Map<string, number>();
  private readonly bits: number;

  constructor(private readonly options: MmdbWriterOptions) {
    this.bits = (options.ipVersion ?? 6) === 6 ? 128 : 32;
  }

  /** Map a network (`1.2.3.0/24`, `2001:db8::/32`) to a value; later inserts win where they overlap. */
  insert(cidr: string, value: MmdbValue): this {
    const prefix = parsePrefix(cidr);
    if (prefix.family === 6 && this.bits === 32) throw new UserError(`${cidr}: an IPv4 database cannot hold IPv6 networks`);
    const offset = prefix.family === 4 && this.bits === 128 ? 96 : 0;
    const length = offset + prefix.bits;
    const bitAt = (depth: number): number => {
      if (depth < offset) return 0;
      const i = depth - offset;
      return (prefix.words[i >>> 5]! >>> (31 - (i & 31))) & 1;
    };
    const leaf = -(2 + this.valueId(value));
    if (length === 0) {
      this.left[0] = leaf;
      this.right[0] = leaf;
      return this;
    }
    let node = 0;
    for (let depth = 0; depth < length - 1; depth++) {
      const side = bitAt(depth) ? this.right : this.left;
      let child = side[node]!;
      if (child < 0) {
        // A leaf above the new network: split it so the rest of its range keeps its value.
        child = this.left.length;
        this.left.push(side[node]!);
        this.right.push(side[node]!);
        side[node] = child;
      }
      node = child;
    }
    (bitAt(length - 1) ? this.right : this.left)[node] = leaf;
    return this;
  }

  private valueId(value: MmdbValue): number {
    const key = JSON.stringify(value);
    let id = this.valueIds.get(key);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.valueIds.set(key, id);
    }
    return id;
  }

  /** The database file's bytes. */
  toBuffer(): Uint8Array {
    // Number the reachable nodes breadth-first (inserts may orphan replaced subtrees).
    const order: number[] = [0];
    const number = new Int32Array(this.left.length).fill(-1);
    number[0] = 0;
    for (let i = 0; i < order.length; i++) {
      for (const child of [this.left[order[i]!]!, this.right[order[i]!]!]) {
        if (child >= 0 && number[child] === -1) {
          number[child] = order.length;
          order.push(child);
        }
      }
    }
    const nodeCount = order.length;

    const data = new Encoder();
    const dataOffsets = this.values.map((v) => {
      const at = data.length;
      data.value(v);
      return at;
    });
    const record = (child: number): number =>
      child === EMPTY ? nodeCount : child >= 0 ? number[child]! : nodeCount + DATA_SEPARATOR + dataOffsets[-child - 2]!;

    const largest = nodeCount + DATA_SEPARATOR + data.length;
    const recordSize = largest < 2 ** 24 ? 24 : largest < 2 ** 28 ? 28 : 32;
    const nodeBytes = recordSize / 4;
    const tree = new Uint8Array(nodeCount * nodeBytes);
    for (let i = 0; i < nodeCount; i++) {
      const node = order[i]!;
      writeNode(tree, i * nodeBytes, recordSize, record(this.left[node]!), record(this.right[node]!));
    }

    const meta = new Encoder();
    const o = this.options;
    meta.map({
      binary_format_major_version: new Typed(TYPE.uint16, 2),
      binary_format_minor_version: new Typed(TYPE.uint16, 0),
      build_epoch: new Typed(TYPE.uint64, o.buildEpoch ?? Math.floor(Date.now() / 1000)),
      database_type: o.databaseType,
      description: o.description ?? { en: o.databaseType },
      ip_version: new Typed(TYPE.uint16, this.bits === 128 ? 6 : 4),
      languages: o.languages ?? ["en"],
      node_count: new Typed(TYPE.uint32, nodeCount),
      record_size: new Typed(TYPE.uint16, recordSize),
    });

    const parts = [tree, new Uint8Array(DATA_SEPARATOR), data.finish(), METADATA_MARKER, meta.finish()];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function writeNode(buf: Uint8Array, at: number, recordSize: number, left: number, right: number): void {
  if (recordSize === 32) {
    const view = new DataView(buf.buffer, buf.byteOffset);
    view.setUint32(at, left);
    view.setUint32(at + 4, right);
    return;
  }
  const put24 = (pos: number, v: number) => {
    buf[pos] = (v >>> 16) & 0xff;
    buf[pos + 1] = (v >>> 8) & 0xff;
    buf[pos + 2] = v & 0xff;
  };
  put24(at, left);
  if (recordSize === 24) {
    put24(at + 3, right);
    return;
  }
  // 28 bits: the middle byte carries the high nibble of the left record, then of the right one.
  buf[at + 3] = (((left >>> 24) & 0x0f) << 4) | ((right >>> 24) & 0x0f);
  put24(at + 4, right);
}

/** An unsigned number of an explicit type (the metadata's uint16/uint64 fields). */
class Typed {
  constructor(
    readonly type: number,
    readonly n: number,
  ) {}
}

class Encoder {
  private buf = new Uint8Array(1024);
  length = 0;

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  private push(...bytes: number[]): void {
    this.reserve(bytes.length);
    for (const b of bytes) this.buf[this.length++] = b;
  }

  private append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  private control(type: number, size: number): void {
    const extended = type > 7;
    const first = (extended ? 0 : type << 5) & 0xff;
    const sizeBytes: number[] = [];
    let bits: number;
    if (size < 29) bits = size;
    else if (size < 29 + 256) {
      bits = 29;
      sizeBytes.push(size - 29);
    } else if (size < 285 + 65536) {
      bits = 30;
      const n = size - 285;
      sizeBytes.push(n >>> 8, n & 0xff);
    } else {
      if (size > MAX_SIZE) throw new UserError(`a value of ${size} bytes or items exceeds the format's ${MAX_SIZE}`);
      bits = 31;
      const n = size - 65821;
      sizeBytes.push((n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    }
    this.push(first | bits);
    if (extended) this.push(type - 7);
    this.push(...sizeBytes);
  }

  private unsigned(type: number, n: number): void {
    const digits: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) digits.unshift(v % 256);
    this.control(type, digits.length);
    this.push(...digits);
  }

  string(s: string): void {
    const utf8 = textEncoder.encode(s);
    this.control(TYPE.string, utf8.length);
    this.append(utf8);
  }

  map(m: Record<string, MmdbValue | Typed>): void {
    const entries = Object.entries(m);
    this.control(TYPE.map, entries.length);
    for (const [k, v] of entries) {
      this.string(k);
      if (v instanceof Typed) this.unsigned(v.type, v.n);
      else this.value(v);
    }
  }

  value(v: MmdbValue): void {
    if (typeof v === "string") this.string(v);
    else if (typeof v === "boolean") this.control(TYPE.boolean, v ? 1 : 0);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) this.unsigned(TYPE.uint32, v);
      else if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
        this.control(TYPE.int32, 4);
        this.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
      } else {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v);
        this.control(TYPE.double, 8);
        this.append(b);
      }
    } else if (Array.isArray(v)) {
      this.control(TYPE.array, v.length);
      for (const item of v) this.value(item);
    } else this.map(v);
  }
}
