import { type FSWatcher, existsSync, mkdirSync, readFileSync, renameSync, statSync, watch, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../sdk/types.ts";
import { UserError } from "../sdk/types.ts";
import { type HttpDialer, httpGet } from "./http.ts";

/** What a provider remembers across restarts, in cache.db: ETags, subscription-userinfo, and the parsed form of the body on disk. */
type MemoryBucket = "etag" | "subscriptioninfo" | "parsed";

export interface ProviderMemory {
  get(bucket: MemoryBucket, provider: string): string | undefined;
  set(bucket: MemoryBucket, provider: string, value: string): void;
}

/** What the engine lends a provider for fetching. */
export interface FetchHost {
  log: Logger;
  /** Streams for downloads: through the named proxy/group, or direct when empty. */
  dialer(proxy: string): HttpDialer;
  userAgent: string;
  etagSupport: boolean;
  memory: ProviderMemory;
}

/** The keys proxy and rule providers share (config.md §9, §10). */
export interface FetchOptions {
  type: "http" | "file" | "inline";
  url?: string;
  interval?: number;
  proxy?: string;
  header?: Record<string, string[]>;
  "size-limit"?: number;
}

/** What a provider does with what the fetcher brings. */
export interface FetchTarget {
  /** For log lines (`[Provider] name …`). */
  name: string;
  /** Key of the provider's entries in cache.db (proxy and rule providers may share a name). */
  memoryKey: string;
  /** Take a new body; throws when it is unusable, and the current content stays. */
  apply(body: Uint8Array, hash: string): void;
  /** Response headers of a download (`subscription-userinfo`). */
  headers?(headers: Map<string, string>): void;
}

/** Download timeout; tests shorten it. */
export const downloadSettings = { timeoutMs: 30_000 };

/**
 * Where a provider's content comes from and when it changes (mihomo's resource.Fetcher): the
 * on-disk copy first, then downloads (ETag, size-limit, through `proxy`) every `interval`, or the
 * watched file; a body identical to the one in force is not applied again.
 */
export class Fetcher {
  /** Last successful load, download or (inline) refresh; undefined = never. */
  updatedAt: Date | undefined;
  /** Hash of the body in force; "" before the first. */
  private hash = "";
  private timer: ReturnType<typeof setInterval> | undefined;
  private watcher: FSWatcher | undefined;
  private pulling: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(
    private readonly options: FetchOptions,
    /** The on-disk copy; "" for inline. */
    private readonly file: string,
    private readonly host: FetchHost,
    private readonly target: FetchTarget,
  ) {}

  /**
   * The content available without the network: the on-disk copy (inline content is the
   * provider's own). Runs at engine start, synchronously, so content is there before the first
   * connection.
   */
  loadLocal(): void {
    const { file } = this;
    if (this.options.type === "inline") {
      this.updatedAt = new Date();
      return;
    }
    if (!existsSync(file)) return;
    try {
      const body = readFileSync(file);
      this.take(body, Bun.hash(body).toString(36));
      this.updatedAt = statSync(file).mtime;
    } catch (err) {
      this.host.log.error(`[Provider] ${this.target.name}: ${file}: ${message(err)}`);
    }
  }

  /**
   * Background work: an http provider refreshes now when its copy is missing or older than
   * `interval`, then every `interval`; a file provider reloads when its file changes.
   */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const { options, file } = this;
    if (options.type === "http") {
      const interval = (options.interval ?? 0) * 1000;
      const age = this.updatedAt ? Date.now() - this.updatedAt.getTime() : Number.POSITIVE_INFINITY;
      if (!this.updatedAt || (interval > 0 && age >= interval)) void this.refresh().catch(() => undefined);
      if (interval > 0) this.timer = setInterval(() => void this.refresh().catch(() => undefined), interval);
    } else if (options.type === "file" && existsSync(file)) {
      try {
        this.watcher = watch(file, () => void this.refresh().catch(() => undefined));
      } catch (err) {
        this.host.log.warn(`[Provider] ${this.target.name}: cannot watch ${file}: ${message(err)}`);
      }
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
  }

  /**
   * `PUT /providers/…/{name}` and the timers: http downloads, file re-reads, inline only bumps
   * `updatedAt`. Throws (after logging) when the update fails; the current content stays. A
   * refresh already running is joined.
   */
  refresh(): Promise<void> {
    this.pulling ??= this.pull().finally(() => {
      this.pulling = undefined;
    });
    return this.pulling;
  }

  private async pull(): Promise<void> {
    const { options, file } = this;
    try {
      if (options.type === "inline") {
        this.updatedAt = new Date();
      } else if (options.type === "file") {
        const body = readFileSync(file);
        const hash = Bun.hash(body).toString(36);
        if (hash !== this.hash) this.take(body, hash);
        this.updatedAt = new Date();
      } else {
        await this.download();
      }
    } catch (err) {
      if (!this.closed) this.host.log.warn(`[Provider] ${this.target.name} pull error: ${message(err)}`);
      throw err;
    }
  }

  private take(body: Uint8Array, hash: string): void {
    this.target.apply(body, hash);
    this.hash = hash;
  }

  private async download(): Promise<void> {
    const { options, file, target } = this;
    const headers: Record<string, string[]> = { ...(options.header ?? {}) };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "user-agent")) headers["User-Agent"] = [this.host.userAgent];
    const etag = this.host.etagSupport ? this.storedEtag() : undefined;
    if (etag) headers["If-None-Match"] = [etag];
    const res = await httpGet(this.host.dialer(options.proxy ?? ""), {
      url: options.url ?? "",
      headers,
      sizeLimit: options["size-limit"] ?? 0,
      timeoutMs: downloadSettings.timeoutMs,
    });
    if (this.closed) return;
    target.headers?.(res.headers);
    if (res.status === 304) {
      this.updatedAt = new Date();
      return;
    }
    if (res.status < 200 || res.status >= 300) throw new UserError(`HTTP ${res.status}`);
    const hash = Bun.hash(res.body).toString(36);
    if (hash !== this.hash) {
      this.take(res.body, hash);
      writeAtomically(file, res.body);
    }
    const newEtag = res.headers.get("etag");
    if (newEtag && this.host.etagSupport) this.host.memory.set("etag", target.memoryKey, JSON.stringify({ etag: newEtag, hash }));
    this.updatedAt = new Date();
  }

  /** The stored ETag, only while the copy on disk is the body it was sent with. */
  private storedEtag(): string | undefined {
    const stored = this.host.memory.get("etag", this.target.memoryKey);
    if (!stored || !this.hash) return undefined;
    try {
      const { etag, hash } = JSON.parse(stored) as { etag?: string; hash?: string };
      return hash === this.hash ? etag : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Write temp + rename, so a crash never leaves half a download on disk. */
function writeAtomically(file: string, data: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, data);
  renameSync(temp, file);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
