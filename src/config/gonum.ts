/**
 * Go's `strconv` number rules, which mihomo's YAML library and weak decoder apply to config text.
 * Reproduced exactly because subscription files depend on them (config.md §1.2 point 7).
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** strconv's underscoreOK: `_` only between digits, or between a base prefix and a digit. */
function underscoreOk(text: string): boolean {
  let s = text;
  if (s[0] === "+" || s[0] === "-") s = s.slice(1);
  let saw = "^";
  let i = 0;
  let hex = false;
  const prefix = s[1]?.toLowerCase();
  if (s.length >= 2 && s[0] === "0" && (prefix === "b" || prefix === "o" || prefix === "x")) {
    i = 2;
    saw = "0";
    hex = prefix === "x";
  }
  for (; i < s.length; i++) {
    const c = s[i] as string;
    if ((c >= "0" && c <= "9") || (hex && /^[a-fA-F]$/.test(c))) {
      saw = "0";
    } else if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
    } else {
      if (saw === "_") return false;
      saw = "!";
    }
  }
  return saw !== "_";
}

/** Unsigned magnitude of `s` read like `strconv.ParseUint(s, 0, …)`: 0x/0o/0b prefixes, a lone leading 0 = octal. */
function parseBase0(s: string): bigint | undefined {
  if (s === "") return undefined;
  let base = 10;
  let digits = s;
  if (s[0] === "0") {
    const prefix = s.length >= 3 ? s[1]?.toLowerCase() : undefined;
    base = prefix === "b" ? 2 : prefix === "o" ? 8 : prefix === "x" ? 16 : 8;
    digits = s.slice(prefix === "b" || prefix === "o" || prefix === "x" ? 2 : 1);
  }
  const big = BigInt(base);
  let n = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === "_") {
      underscores = true;
      continue;
    }
    const d = Number.parseInt(c, 36);
    if (!(d < base)) return undefined;
    n = n * big + BigInt(d);
  }
  if (underscores && !underscoreOk(s)) return undefined;
  return n;
}

/** `strconv.ParseInt(s, 0, 64)`; undefined on syntax error or int64 overflow. */
export function parseGoInt(s: string): bigint | undefined {
  const negative = s[0] === "-";
  const magnitude = parseBase0(negative || s[0] === "+" ? s.slice(1) : s);
  if (magnitude === undefined) return undefined;
  const value = negative ? -magnitude : magnitude;
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

/** `strconv.ParseUint(s, 0, 64)` (no sign allowed). */
export function parseGoUint(s: string): bigint | undefined {
  const value = parseBase0(s);
  return value !== undefined && value <= UINT64_MAX ? value : undefined;
}

const DECIMAL_FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * `strconv.ParseFloat(s, 64)` for decimal text and inf/nan; undefined on syntax error or overflow
 * (Go reports ±Inf with ErrRange there). Hexadecimal floats are not accepted (no config uses them).
 */
export function parseGoFloat(s: string): number | undefined {
  const special = /^([+-]?)(inf|infinity)$/i.exec(s);
  if (special) return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/^nan$/i.test(s)) return Number.NaN;
  if (s.includes("_") && !underscoreOk(s)) return undefined;
  const plain = s.replaceAll("_", "");
  if (!DECIMAL_FLOAT.test(plain)) return undefined;
  const value = Number(plain);
  return Number.isFinite(value) ? value : undefined;
}

/** `strconv.FormatFloat(x, 'E', -1, 64)`: shortest round-trip mantissa, exponent of at least two digits. */
export function formatGoFloatE(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  const negative = x < 0 || Object.is(x, -0);
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const e = Number(exp);
  return `${negative ? "-" : ""}${mantissa}E${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}
