import { UserError } from "./types.ts";

/** Sorted, inclusive port ranges as flat pairs [lo0, hi0, lo1, hi1, …]. */
export type PortRanges = Uint16Array;

/**
 * mihomo's port-range language: items separated by `/` (or `,` where allowed), each `n` or `a-b`
 * (reversed bounds swapped), at most 28 items. Ours: numbers above 65535 are an error (mihomo wraps).
 */
export function parsePortRanges(text: string, separators = /[/,]/): PortRanges {
  const items = text.split(separators).map((s) => s.trim());
  if (items.length > 28) throw new UserError(`too many port ranges (${items.length}, at most 28)`);
  const out: number[] = [];
  for (const item of items) {
    if (item === "") throw new UserError(`empty item in port ranges "${text}"`);
    const dash = item.indexOf("-", 1);
    const a = parsePort(dash < 0 ? item : item.slice(0, dash), text);
    const b = dash < 0 ? a : parsePort(item.slice(dash + 1), text);
    out.push(Math.min(a, b), Math.max(a, b));
  }
  return Uint16Array.from(out);
}

function parsePort(s: string, whole: string): number {
  const t = s.trim();
  if (!/^\d+$/.test(t)) throw new UserError(`invalid port "${t}" in "${whole}"`);
  const n = Number(t);
  if (n > 65535) throw new UserError(`port ${n} out of range 0-65535 in "${whole}"`);
  return n;
}

export function portInRanges(ranges: PortRanges, port: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (port >= ranges[i]! && port <= ranges[i + 1]!) return true;
  }
  return false;
}
