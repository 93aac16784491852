/**
 * What a byte sniffer (TLS, HTTP, QUIC) makes of the client's first bytes: the host name they
 * carry, or one of two verdicts. Numbers, so a caller tells a name apart with `typeof`.
 */
export const NEED_MORE = 0;
/** Not this protocol, or this protocol without a usable name. Final: more bytes will not help. */
export const NO_HOST = 1;
export type Sniffed = string | typeof NEED_MORE | typeof NO_HOST;

/**
 * The name in b[start, end) lower-cased, or undefined unless it is a plausible DNS name: letters,
 * digits, `-`, `_` and dots, no empty label. A sniffed name only ever feeds rules and dials, so
 * anything else (an IP with a port, UTF-8, control bytes) is no name at all.
 */
export function hostText(b: Uint8Array, start: number, end: number): string | undefined {
  const n = end - start;
  if (n <= 0 || n > 253) return undefined;
  let upper = false;
  let prev = 46; // "." before the first byte: a leading dot is an empty label
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 46) {
      if (prev === 46) return undefined;
    } else if (c >= 65 && c <= 90) upper = true;
    else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95)) return undefined;
    prev = c;
  }
  if (prev === 46) return undefined;
  const text = String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  return upper ? text.toLowerCase() : text;
}
