import type { DnsMessage } from "./message.ts";

interface Entry {
  message: DnsMessage;
  /** ms since epoch when the TTL runs out. */
  expires: number;
}

/**
 * The answer cache (config.md §5.1 `cache-algorithm`): LRU over questions, bounded in entries.
 * An expired entry is still served (the caller rewrites its TTL to 1 and refreshes it in the
 * background); entries leave only by eviction or a flush, as in mihomo. `arc` is accepted and
 * served by the same LRU: the policy is an implementation choice that no answer depends on.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxSize = 4096) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cached answer and its remaining TTL in seconds (≤ 0 when stale). */
  get(key: string, now = Date.now()): { message: DnsMessage; ttl: number } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return { message: e.message, ttl: Math.floor((e.expires - now) / 1000) };
  }

  set(key: string, message: DnsMessage, ttlSeconds: number, now = Date.now()): void {
    this.entries.delete(key);
    this.entries.set(key, { message, expires: now + ttlSeconds * 1000 });
    if (this.entries.size > this.maxSize) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}
