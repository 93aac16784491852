import { type IpPrefix, parseIp, parsePrefix } from "../sdk/ip.ts";
import { UserError } from "../sdk/types.ts";

/** Where mappings survive a restart (`profile.store-fake-ip`). */
export interface FakeIpStore {
  load(): Iterable<[host: string, offset: number]>;
  put(host: string, offset: number): void;
  delete(host: string): void;
  clear(): void;
}

/** Addresses below this offset are reserved: the network, the gateway and two more (config.md §5.4). */
const FIRST_OFFSET = 4;

/**
 * The fake-IP pool (config.md §5.4). A host gets the next free address from `fake-ip-range`
 * (from the fourth host on); when the range is used up, the least recently used host gives its
 * address away. With `fake-ip-range6`, the same offset in that range is the host's AAAA.
 *
 * Offsets, not address strings, are kept (a Map host → offset in recency order and its inverse)
 * so 100,000 entries cost two Map entries each and no address strings.
 */
export class FakeIpPool {
  private readonly byHost = new Map<string, number>();
  private readonly byOffset = new Map<number, string>();
  private next = FIRST_OFFSET;
  /** One past the last usable offset (the broadcast address is not handed out). */
  private readonly end: number;
  private readonly base4: number;
  private readonly base6: Uint32Array | undefined;
  private readonly scratch = new Uint32Array(4);

  constructor(
    readonly range: string,
    readonly range6: string | undefined,
    private readonly store?: FakeIpStore,
  ) {
    const p = parsePrefix(range);
    if (p.family !== 4) throw new UserError(`fake-ip-range "${range}" must be an IPv4 prefix`);
    const size = 2 ** (32 - p.bits);
    this.end = size - 1;
    if (this.end <= FIRST_OFFSET) throw new UserError(`fake-ip-range "${range}" is too small (no usable address)`);
    this.base4 = (p.words[0]! & (p.bits === 0 ? 0 : -1 << (32 - p.bits))) >>> 0;
    if (range6) {
      const p6 = parsePrefix(range6);
      if (p6.family !== 6) throw new UserError(`fake-ip-range6 "${range6}" must be an IPv6 prefix`);
      this.base6 = masked6(p6);
    }
    if (store) {
      for (const [host, offset] of store.load()) {
        if (offset < FIRST_OFFSET || offset >= this.end || this.byOffset.has(offset)) continue;
        this.byHost.set(host, offset);
        this.byOffset.set(offset, host);
        if (offset >= this.next) this.next = offset + 1;
      }
    }
  }

  get size(): number {
    return this.byHost.size;
  }

  /** The fake IPv4 of `host`, allocating (or recycling) one. */
  lookup(host: string): string {
    return this.format4(this.offsetOf(host));
  }

  /** The fake IPv6 of `host` (same offset in `fake-ip-range6`), or undefined without that range. */
  lookup6(host: string): string | undefined {
    if (!this.base6) return undefined;
    return this.format6(this.offsetOf(host));
  }

  /** The host a fake address stands for; undefined for an unmapped one. */
  lookBack(ip: string): string | undefined {
    const offset = this.offsetFromIp(ip);
    if (offset < 0) return undefined;
    const host = this.byOffset.get(offset);
    if (host !== undefined) this.touch(host, offset);
    return host;
  }

  /** True when `ip` lies inside the pool's ranges (mapped or not). */
  contains(ip: string): boolean {
    return this.offsetFromIp(ip) >= 0 || this.inRange6(ip);
  }

  flush(): void {
    this.byHost.clear();
    this.byOffset.clear();
    this.next = FIRST_OFFSET;
    this.store?.clear();
  }

  private offsetOf(host: string): number {
    const known = this.byHost.get(host);
    if (known !== undefined) {
      this.touch(host, known);
      return known;
    }
    let offset: number;
    if (this.next < this.end) {
      offset = this.next++;
    } else {
      // Full: the least recently used host (first in the Map's order) gives its address away.
      const [oldest, reused] = this.byHost.entries().next().value as [string, number];
      this.byHost.delete(oldest);
      this.store?.delete(oldest);
      offset = reused;
    }
    this.byHost.set(host, offset);
    this.byOffset.set(offset, host);
    this.store?.put(host, offset);
    return offset;
  }

  private touch(host: string, offset: number): void {
    this.byHost.delete(host);
    this.byHost.set(host, offset);
  }

  private format4(offset: number): string {
    const v = (this.base4 + offset) >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }

  private format6(offset: number): string {
    const w = this.base6!.slice();
    w[3] = (w[3]! + offset) >>> 0;
    const parts: string[] = [];
    for (const word of w) parts.push((word >>> 16).toString(16), (word & 0xffff).toString(16));
    return parts.join(":");
  }

  /** Offset of an address inside either range, -1 outside. */
  private offsetFromIp(ip: string): number {
    const family = parseIp(ip, this.scratch);
    if (family === 4) {
      const offset = (this.scratch[0]! - this.base4) >>> 0;
      return offset < this.end + 1 ? offset : -1;
    }
    if (family === 6 && this.base6 && this.inRange6(ip)) {
      const offset = (this.scratch[3]! - this.base6[3]!) >>> 0;
      return offset <= this.end ? offset : -1;
    }
    return -1;
  }

  private inRange6(ip: string): boolean {
    if (!this.base6) return false;
    if (parseIp(ip, this.scratch) !== 6) return false;
    const b = this.base6;
    return this.scratch[0] === b[0] && this.scratch[1] === b[1] && this.scratch[2] === b[2] && ((this.scratch[3]! - b[3]!) >>> 0) <= this.end;
  }
}

function masked6(p: IpPrefix): Uint32Array {
  const out = p.words.slice();
  for (let k = 0; k < 4; k++) {
    const left = p.bits - k * 32;
    const mask = left >= 32 ? -1 : left <= 0 ? 0 : -1 << (32 - left);
    out[k] = (out[k]! & mask) >>> 0;
  }
  return out;
}
