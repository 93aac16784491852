/**
 * An mrs writer for tests, from the format's description (config.md §10; mihomo's
 * component/trie/domain_set.go and cidr/ipcidr_set_bin.go): the reader is tested against files
 * built the way mihomo builds them, not against its own output.
 */

/** Keys as mihomo's DomainTrie.Foreach yields them: `+.x` adds `x` and `+.x` (= subdomains), `.x` adds `+.x`. */
function trieKeys(patterns: string[]): string[] {
  const keys = new Set<string>();
  for (const p of patterns) {
    if (p.startsWith("+.")) {
      keys.add(p.slice(2));
      keys.add(p);
    } else if (p.startsWith(".")) {
      keys.add(`+${p}`);
    } else {
      keys.add(p);
    }
  }
  return [...keys];
}

function setBit(words: bigint[], i: number, v: 0 | 1): void {
  while (i >> 6 >= words.length) words.push(0n);
  if (v) words[i >> 6]! |= 1n << BigInt(i & 63);
}

/** NewDomainSet: reversed keys (by character), sorted by bytes, as a LOUDS trie built breadth-first. */
function domainPayload(patterns: string[]): Uint8Array {
  const keys = trieKeys(patterns)
    .map((k) => Buffer.from([...k].reverse().join(""), "utf8"))
    .sort(Buffer.compare);
  const leaves: bigint[] = [];
  const bitmap: bigint[] = [];
  const labels: number[] = [];
  let lIdx = 0;
  const queue = [{ s: 0, e: keys.length, col: 0 }];
  for (let i = 0; i < queue.length; i++) {
    const elt = { ...queue[i]! };
    if (elt.col === keys[elt.s]!.length) {
      elt.s++;
      setBit(leaves, i, 1);
    }
    for (let j = elt.s; j < elt.e; ) {
      const frm = j;
      while (j < elt.e && keys[j]![elt.col] === keys[frm]![elt.col]) j++;
      queue.push({ s: frm, e: j, col: elt.col + 1 });
      labels.push(keys[frm]![elt.col]!);
      setBit(bitmap, lIdx++, 0);
    }
    setBit(bitmap, lIdx++, 1);
  }
  return concat([[1], int64(leaves.length), ...leaves.map(uint64), int64(bitmap.length), ...bitmap.map(uint64), int64(labels.length), labels]);
}

/** IPv4 as ::ffff:a.b.c.d, 16 bytes per address. */
function address16(ip: string): number[] {
  if (ip.includes(".")) return [...Array(10).fill(0), 0xff, 0xff, ...ip.split(".").map(Number)];
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

function int64(n: number): number[] {
  return uint64(BigInt(n));
}

function uint64(v: bigint): number[] {
  const out: number[] = [];
  for (let k = 7; k >= 0; k--) out.push(Number((v >> BigInt(k * 8)) & 0xffn));
  return out;
}

function concat(parts: ArrayLike<number>[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

function mrs(behavior: number, count: number, payload: Uint8Array, extra: number[] = []): Uint8Array {
  return Bun.zstdCompressSync(concat([[0x4d, 0x52, 0x53, 0x01, behavior], int64(count), int64(extra.length), extra, payload]));
}

/** A `domain` mrs file from Clash patterns (`x`, `+.x`, `.x`, `*.x`). */
export function encodeMrsDomains(patterns: string[], extra: number[] = []): Uint8Array {
  return mrs(0, patterns.length, domainPayload(patterns), extra);
}

/** An `ipcidr` mrs file from merged ranges [first, last] (same family each). */
export function encodeMrsRanges(ranges: [string, string][], count = ranges.length): Uint8Array {
  const body = concat([[1], int64(ranges.length), ...ranges.flatMap(([a, b]) => [address16(a), address16(b)])]);
  return mrs(1, count, body);
}
