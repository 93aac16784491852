import { IpRangeTable, type PrefixEntry } from "../core/ip-ranges.ts";
import { type IpFamily, type IpPrefix, parseIp } from "../sdk/ip.ts";

/**
 * A set of IPv4 and IPv6 prefixes for ipcidr rule-sets: the router's IpRangeTable (merged sorted
 * ranges in typed arrays, one binary search per lookup) with every prefix under the same rule.
 */
export class CidrSet {
  private readonly table: IpRangeTable;

  constructor(entries: PrefixEntry[]) {
    this.table = new IpRangeTable(entries);
  }

  /** Disjoint ranges held (both families). */
  get size(): number {
    return this.table.size;
  }

  /** Whether an address (text as in Metadata) lies in the set; "" and non-addresses never do. */
  has(ip: string): boolean {
    const family = parseIp(ip, scratch);
    return family !== 0 && this.table.lookup(family, scratch) >= 0;
  }
}

/** Matching is synchronous, so one parse buffer serves every set. */
const scratch = new Uint32Array(4);

export class CidrSetBuilder {
  private readonly entries: PrefixEntry[] = [];

  add(prefix: IpPrefix): void {
    this.entries.push({ prefix, rule: 0 });
  }

  /**
   * Every address from `first` to `last` (one family, big-endian words: 1 for IPv4, 4 for IPv6),
   * as the fewest prefixes that cover exactly that range.
   */
  addRange(family: IpFamily, first: Uint32Array, last: Uint32Array): void {
    const width = family === 4 ? 32 : 128;
    let start = toBig(first);
    const end = toBig(last);
    while (start <= end) {
      let bits = width;
      // Widen the block while it stays aligned at `start` and inside the range.
      while (bits > 0) {
        const size = 1n << BigInt(width - bits + 1);
        if (start % size !== 0n || start + size - 1n > end) break;
        bits--;
      }
      this.add({ family, words: fromBig(start, family === 4 ? 1 : 4), bits });
      start += 1n << BigInt(width - bits);
    }
  }

  build(): CidrSet {
    return new CidrSet(this.entries);
  }
}

function toBig(words: Uint32Array): bigint {
  let v = 0n;
  for (const w of words) v = (v << 32n) | BigInt(w);
  return v;
}

function fromBig(v: bigint, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let k = n - 1; k >= 0; k--) {
    out[k] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
  return out;
}
