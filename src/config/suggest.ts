/** Did-you-mean for misspelt keys and enum values (`proxy-group` → `proxy-groups`, `Rule` → `rule`). */

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions (`verfiy` → `verify`). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

// Case and `_`/`-` slips cost nothing: they are the commonest key mistakes in hand-written configs.
const normalize = (s: string): string => s.toLowerCase().replaceAll("_", "-");

/** The closest candidate, if it is close enough to be a plausible typo of `input`. */
export function suggest(input: string, candidates: Iterable<string>): string | undefined {
  const target = normalize(input);
  const limit = Math.max(1, Math.floor(target.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const distance = editDistance(target, normalize(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
