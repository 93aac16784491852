/** Lower-case a host name and strip one trailing dot (mihomo matches hosts as received; we normalise at ingress). */
export function normalizeHost(host: string): string {
  let h = host;
  if (h.endsWith(".")) h = h.slice(0, -1);
  // Fast path: most hosts are already lower-case ASCII.
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c >= 65 && c <= 90) return h.toLowerCase();
  }
  return h;
}
