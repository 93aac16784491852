import type { Metadata } from "../sdk/metadata.ts";

const CLOSED_BY_USER = new Error("connection closed by request");

/** One open connection as `/connections` shows it. Counters are bumped in place by the relay. */
export class TrackedConnection {
  // The UUID and the Date are made when the controller first asks: measured, they were a fifth of
  // the JS heap an idle connection keeps.
  private uuid: string | undefined;
  private readonly startMs = Date.now();
  upload = 0;
  download = 0;
  constructor(
    readonly metadata: Metadata,
    /** From the hop that carried the traffic outward to what the rule selected. */
    readonly chains: string[],
    /** Per element of `chains`, the proxy-provider it came from ("" when none). */
    readonly providerChains: string[],
    readonly rule: string,
    readonly rulePayload: string,
    readonly remoteDestination: string,
    /** What closes the connection (the client stream, a UDP session): held, not wrapped in a closure. */
    private readonly closer: { close(err?: Error): void },
  ) {}

  get id(): string {
    this.uuid ??= crypto.randomUUID();
    return this.uuid;
  }

  /** Compare without minting an id: a connection never listed cannot be named. */
  hasId(id: string): boolean {
    return this.uuid === id;
  }

  get start(): Date {
    return new Date(this.startMs);
  }

  /** Close both directions at once (DELETE /connections): abortive, queued bytes are dropped. */
  close(): void {
    this.closer.close(CLOSED_BY_USER);
  }
}

/** One second of traffic (`/traffic`): bytes in the last window and since start. */
export interface TrafficSample {
  up: number;
  down: number;
  upTotal: number;
  downTotal: number;
}

/**
 * The single source for `/connections`, `/traffic` and totals. Shared by every Engine of the
 * process so connections opened before a reload stay listed and counted.
 */
export class Tracker {
  private readonly live = new Set<TrackedConnection>();
  private closedUpload = 0;
  private closedDownload = 0;
  private readonly trafficListeners = new Set<(sample: TrafficSample) => void>();
  private trafficTimer: ReturnType<typeof setInterval> | undefined;
  private lastTotals = { upload: 0, download: 0 };

  add(conn: TrackedConnection): void {
    this.live.add(conn);
  }

  remove(conn: TrackedConnection): void {
    if (!this.live.delete(conn)) return;
    this.closedUpload += conn.upload;
    this.closedDownload += conn.download;
  }

  get size(): number {
    return this.live.size;
  }

  connections(): IterableIterator<TrackedConnection> {
    return this.live.values();
  }

  /** By id (DELETE /connections/{id}): a scan, as ids exist only once listed. */
  get(id: string): TrackedConnection | undefined {
    for (const c of this.live) if (c.hasId(id)) return c;
    return undefined;
  }

  /** Cumulative bytes since start, closed and live connections together. */
  totals(): { upload: number; download: number } {
    let upload = this.closedUpload;
    let download = this.closedDownload;
    for (const c of this.live.values()) {
      upload += c.upload;
      download += c.download;
    }
    return { upload, download };
  }

  /**
   * Subscribe to the global one-second traffic windows. One ticker serves every subscriber and
   * runs only while there is one. Returns the unsubscribe function.
   */
  onTraffic(listener: (sample: TrafficSample) => void): () => void {
    this.trafficListeners.add(listener);
    if (!this.trafficTimer) {
      this.lastTotals = this.totals();
      this.trafficTimer = setInterval(() => this.tick(), 1_000);
    }
    return () => {
      this.trafficListeners.delete(listener);
      if (this.trafficListeners.size === 0 && this.trafficTimer) {
        clearInterval(this.trafficTimer);
        this.trafficTimer = undefined;
      }
    };
  }

  private tick(): void {
    const now = this.totals();
    const sample = {
      up: now.upload - this.lastTotals.upload,
      down: now.download - this.lastTotals.download,
      upTotal: now.upload,
      downTotal: now.download,
    };
    this.lastTotals = now;
    for (const l of this.trafficListeners) l(sample);
  }

  closeAll(): void {
    for (const c of [...this.live.values()]) c.close();
  }
}
