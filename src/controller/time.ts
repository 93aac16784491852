/**
 * RFC 3339 in the server's local offset with the fraction's trailing zeros dropped, the shape
 * mihomo's Go times have (controller-api.md §2.1): `2026-07-20T10:15:02.5+08:00`, `…Z` in UTC.
 */
export function rfc3339(date: Date): string {
  const offsetMin = -date.getTimezoneOffset();
  const shifted = new Date(date.getTime() + offsetMin * 60_000).toISOString();
  let text = shifted.slice(0, 19);
  const fraction = shifted.slice(20, 23).replace(/0+$/, "");
  if (fraction !== "") text += `.${fraction}`;
  if (offsetMin === 0) return `${text}Z`;
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${text}${offsetMin < 0 ? "-" : "+"}${hh}:${mm}`;
}

/** Go's zero time, which mihomo prints for providers that were never loaded. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** `HH:MM:SS` local time (structured log messages). */
export function clockTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}
