/**
 * redir-host's IP → domain memory (config.md §5.4): every address the DNS server hands out is
 * remembered for its record's TTL, so a later connection to it gets its name back for rules.
 * Bounded: the oldest entries go first.
 */
export class DnsMapping {
  private readonly entries = new Map<string, { host: string; expires: number }>();

  constructor(private readonly maxSize = 65_536) {}

  get size(): number {
    return this.entries.size;
  }

  set(ip: string, host: string, ttlSeconds: number, now = Date.now()): void {
    this.entries.delete(ip);
    this.entries.set(ip, { host, expires: now + Math.max(ttlSeconds, 1) * 1000 });
    if (this.entries.size > this.maxSize) this.entries.delete(this.entries.keys().next().value as string);
  }

  get(ip: string, now = Date.now()): string | undefined {
    const e = this.entries.get(ip);
    if (!e) return undefined;
    if (e.expires < now) {
      this.entries.delete(ip);
      return undefined;
    }
    return e.host;
  }

  clear(): void {
    this.entries.clear();
  }
}
