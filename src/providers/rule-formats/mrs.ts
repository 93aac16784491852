import type { IpFamily } from "../../sdk/ip.ts";
import { UserError } from "../../sdk/types.ts";

/*
 * `format: mrs` (config.md §10, mihomo rules/provider/mrs_reader.go): zstd over
 *   "MRS\x01", behaviour byte (0 domain, 1 ipcidr), int64 count, int64 extra length + extra bytes,
 * then the behaviour's payload, all integers big-endian:
 *   domain: version 1; int64 n + n uint64 `leaves`; int64 n + n uint64 `labelBitmap`; int64 n + n
 *     bytes `labels` — a LOUDS succinct trie over the reversed names (bit i of a bitmap is bit i%64
 *     of word i/64). Keys are Clash patterns except that `+.` there means subdomains only.
 *   ipcidr: version 1; int64 n; n pairs of 16-byte first and last addresses (IPv4 as ::ffff:a.b.c.d).
 */

export const MRS_MAGIC = [0x4d, 0x52, 0x53, 0x01];
export const MRS_BEHAVIOR = { domain: 0, ipcidr: 1 } as const;

export interface MrsSink {
  /** One Clash domain pattern (`x`, `.x`, `*.x`…). */
  domain(pattern: string): void;
  /** One address range, `first` and `last` as big-endian words (1 for IPv4, 4 for IPv6). */
  range(family: IpFamily, first: Uint32Array, last: Uint32Array): void;
}

/** Decode an mrs body of the given behaviour into `sink`; returns the entry count of the header. Throws a UserError when malformed. */
export function readMrs(body: Uint8Array, behavior: keyof typeof MRS_BEHAVIOR, sink: MrsSink): number {
  let data: Uint8Array;
  try {
    data = Bun.zstdDecompressSync(body);
  } catch (err) {
    throw new UserError(`not an mrs file (zstd: ${err instanceof Error ? err.message : String(err)})`);
  }
  const r = new Reader(data);
  if (!MRS_MAGIC.every((b) => r.byte() === b)) throw new UserError("invalid mrs magic bytes");
  const kind = r.byte();
  if (kind !== MRS_BEHAVIOR[behavior]) throw new UserError(`mrs behavior byte ${kind} does not match behavior ${behavior}`);
  const count = r.length("count", 0, Number.MAX_SAFE_INTEGER);
  r.skip(r.length("extra", 0));
  if (r.byte() !== 1) throw new UserError("unsupported mrs payload version");
  if (behavior === "domain") readDomains(r, sink);
  else readRanges(r, sink);
  return count;
}

function readDomains(r: Reader, sink: MrsSink): void {
  const leaves = r.words("leaves");
  const bitmap = r.words("labelBitmap");
  const labels = r.bytes(r.length("labels", 1));
  // LOUDS: per node in breadth-first order, a 0 bit per child label and then a 1. The k-th 0 is
  // labels[k] and leads to node k + 1, so one pass gives every node's parent.
  const parent = new Int32Array(labels.length + 1);
  let node = 0;
  let k = 0;
  const bits = bitmap.length * 32;
  for (let i = 0; i < bits && k < labels.length; i++) {
    if (bit(bitmap, i)) node++;
    else parent[++k] = node;
  }
  if (k < labels.length) throw new UserError("truncated mrs domain trie");
  // The path from the root spells the name reversed by characters (UTF-8 inside), so walking up
  // from a leaf spells an ASCII name forwards; others need their characters put back in order.
  const key = new Uint8Array(labels.length);
  const utf8 = new TextDecoder();
  for (let n = 1; n <= labels.length; n++) {
    if (!bit(leaves, n)) continue;
    let len = 0;
    let ascii = true;
    for (let m = n; m > 0; m = parent[m]!) {
      const b = labels[m - 1]!;
      key[len++] = b;
      if (b >= 0x80) ascii = false;
    }
    const name = ascii ? utf8.decode(key.subarray(0, len)) : [...utf8.decode(key.subarray(0, len).reverse())].reverse().join("");
    sink.domain(name.startsWith("+.") ? name.slice(1) : name);
  }
}

function readRanges(r: Reader, sink: MrsSink): void {
  const n = r.length("ranges", 1);
  for (let i = 0; i < n; i++) {
    const first = r.address();
    const last = r.address();
    const family: IpFamily = isMapped(first) && isMapped(last) ? 4 : 6;
    sink.range(family, family === 4 ? first.subarray(3) : first, family === 4 ? last.subarray(3) : last);
  }
}

function isMapped(words: Uint32Array): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** Bit `i` of 64-bit words stored as [high, low] 32-bit pairs. */
function bit(words: Uint32Array, i: number): boolean {
  const w = i >>> 6;
  const b = i & 63;
  // Past the end of a bitmap every bit is 0 (the writer stops at its last 1).
  const half = (b < 32 ? words[w * 2 + 1] : words[w * 2]) ?? 0;
  return ((half >>> (b & 31)) & 1) === 1;
}

class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): void {
    if (this.at + n > this.data.length) throw new UserError("truncated mrs file");
  }

  byte(): number {
    this.need(1);
    return this.data[this.at++]!;
  }

  skip(n: number): void {
    this.need(n);
    this.at += n;
  }

  /** An int64 length from `min` (mihomo refuses empty arrays) to `max` (default: what the data could hold). */
  length(what: string, min: number, max = this.data.length): number {
    this.need(8);
    const v = this.view.getBigInt64(this.at);
    this.at += 8;
    if (v < BigInt(min) || v > BigInt(max)) throw new UserError(`invalid mrs ${what} length ${v}`);
    return Number(v);
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** An int64 count of uint64 words, as [high, low] 32-bit pairs. */
  words(what: string): Uint32Array {
    const n = this.length(what, 1);
    this.need(n * 8);
    const out = new Uint32Array(n * 2);
    for (let i = 0; i < n * 2; i++) out[i] = this.view.getUint32(this.at + i * 4);
    this.at += n * 8;
    return out;
  }

  address(): Uint32Array {
    this.need(16);
    const out = new Uint32Array(4);
    for (let k = 0; k < 4; k++) out[k] = this.view.getUint32(this.at + k * 4);
    this.at += 16;
    return out;
  }
}
