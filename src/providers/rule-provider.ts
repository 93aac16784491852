import type { RuleProviderSpec } from "../config/rule-providers.ts";
import { type FetchHost, Fetcher } from "./fetcher.ts";
import type { RuleSet } from "./rule-set.ts";

/** Skipped entries logged one by one per load, then counted. */
const LOGGED_SKIPS = 10;

/**
 * One `rule-providers` entry at run time: fetches its content (on-disk copy first, then downloads
 * or file changes) into the set the config's rules already hold.
 */
export class RuleProvider {
  readonly name: string;
  readonly set: RuleSet;
  readonly vehicleType: "HTTP" | "File" | "Inline";
  private readonly fetcher: Fetcher;

  /** `needsChanged` runs when an update changes whether the set needs an IP or the process (routers place their lookups by it). */
  constructor(
    readonly spec: RuleProviderSpec,
    private readonly host: FetchHost,
    private readonly needsChanged: () => void,
  ) {
    this.name = spec.name;
    this.set = spec.set;
    const type = spec.options.type;
    this.vehicleType = type === "http" ? "HTTP" : type === "file" ? "File" : "Inline";
    this.fetcher = new Fetcher(spec.options, spec.file, host, {
      name: this.name,
      memoryKey: `rule-providers/${this.name}`,
      apply: (body, hash) => this.apply(body, hash),
    });
  }

  /** Last successful load, download or (inline) refresh; undefined = never. */
  get updatedAt(): Date | undefined {
    return this.fetcher.updatedAt;
  }

  /** The on-disk copy, unless the config already loaded that very body into the set. */
  loadLocal(): void {
    this.fetcher.loadLocal();
  }

  start(): void {
    this.fetcher.start();
  }

  close(): void {
    this.fetcher.close();
  }

  /** `PUT /providers/rules/{name}` and the timers; throws (after logging) when the update fails, and the content in force stays. */
  refresh(): Promise<void> {
    return this.fetcher.refresh();
  }

  private apply(body: Uint8Array, hash: string): void {
    const { set } = this;
    if (hash === set.hash) return;
    const needed = [set.needsIp, set.needsProcess];
    const skipped = set.load(body, hash);
    const log = this.host.log;
    for (const line of skipped.slice(0, LOGGED_SKIPS)) log.warn(`[Provider] ${this.name}: ${line}`);
    if (skipped.length > LOGGED_SKIPS) log.warn(`[Provider] ${this.name}: ${skipped.length - LOGGED_SKIPS} more entries skipped`);
    log.info(`[Provider] ${this.name}: ${set.count} rules loaded${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}`);
    if (needed[0] !== set.needsIp || needed[1] !== set.needsProcess) this.needsChanged();
  }
}
