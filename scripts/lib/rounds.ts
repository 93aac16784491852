/**
 * What the download benches share: this machine kind is noisy, so every path runs once per round,
 * round-robin in a rotated order, and figures are medians over the rounds.
 */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Round-robin order for round r: each case leads once, so none always runs on a warm or cold machine. */
export const rotate = <T>(xs: readonly T[], r: number) => xs.map((_, i) => xs[(i + r) % xs.length]!);

export const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Round 0 warms every path up and checks it delivers all `size` bytes; it is not counted. Rounds
 * 1..`rounds` hand each download to `record`. A path whose download fails or comes back short gets
 * `failed` set, is reported through `onFail`, and is skipped from then on.
 */
export async function downloadRounds<P extends { failed?: string }, D extends { bytes: number; error?: string }>(
  paths: readonly P[],
  o: {
    rounds: number;
    size: number;
    download: (p: P) => Promise<D>;
    record: (p: P, d: D) => void;
    onFail: (p: P) => void;
    onRound: (r: number) => void;
  },
): Promise<void> {
  for (let r = 0; r <= o.rounds; r++) {
    for (const p of rotate(paths, r)) {
      if (p.failed) continue;
      const d = await o.download(p);
      if (d.error || d.bytes !== o.size) {
        p.failed = d.error ?? `got ${d.bytes} of ${o.size} bytes`;
        o.onFail(p);
        continue;
      }
      if (r > 0) o.record(p, d);
    }
    if (r > 0) o.onRound(r);
  }
}
