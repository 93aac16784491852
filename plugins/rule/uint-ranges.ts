import { UserError } from "../../src/sdk/index.ts";

/** Inclusive ranges as flat pairs [lo0, hi0, lo1, hi1, …]; none = every value (mihomo's `*`). */
export type UintRanges = readonly number[];

const BRACKETS = /^[[\] ]+|[[\] ]+$/g;
const DIGITS = /^\d+$/;

/**
 * mihomo's integer ranges (`1000`, `1000-1999`, `0/4/8-15`) for UID and DSCP: items split on `/`,
 * empty items skipped, each `n` or `a-b` (reversed bounds swapped, `[`, `]` and spaces trimmed off
 * the numbers), at most 28 items; "" and `*` give no ranges. Ours: a number above `max` is an error
 * where mihomo silently wraps it.
 */
export function parseUintRanges(text: string, max: number, what: string): UintRanges {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "*") return [];
  const items = trimmed.split("/");
  if (items.length > 28) throw new UserError(`too many ${what} ranges (${items.length}, at most 28)`);
  const out: number[] = [];
  for (const item of items) {
    if (item === "") continue;
    const bounds = item.split("-");
    if (bounds.length > 2) throw new UserError(`invalid ${what} range "${item}"`);
    const a = parseBound(bounds[0]!, max, what);
    const b = bounds.length === 2 ? parseBound(bounds[1]!, max, what) : a;
    out.push(Math.min(a, b), Math.max(a, b));
  }
  return out;
}

function parseBound(s: string, max: number, what: string): number {
  const t = s.replace(BRACKETS, "");
  if (!DIGITS.test(t)) throw new UserError(`invalid ${what} "${s}"`);
  const n = Number(t);
  if (n > max) throw new UserError(`${what} ${t} out of range 0-${max}`);
  return n;
}

export function inUintRanges(ranges: UintRanges, value: number): boolean {
  if (ranges.length === 0) return true;
  for (let i = 0; i < ranges.length; i += 2) {
    if (value >= ranges[i]! && value <= ranges[i + 1]!) return true;
  }
  return false;
}
