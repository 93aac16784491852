import type { ProviderSpec, ProxySpec } from "../config/build.ts";
import type { Registry } from "../core/registry.ts";
import type { HealthCheck, HealthService, Outbound, RegisteredTest } from "../sdk/types.ts";
import { UserError } from "../sdk/types.ts";
import { ContentProcessor, type ProviderContent, payloadEntries } from "./content.ts";
import { type FetchHost, Fetcher, message } from "./fetcher.ts";

export { downloadSettings, type ProviderMemory } from "./fetcher.ts";

/** Parsed `subscription-userinfo` (bytes, and Unix seconds for expire; 0 = none). */
export interface SubscriptionInfo {
  upload: number;
  download: number;
  total: number;
  expire: number;
}

/** What the engine lends a proxy provider. */
export interface ProviderHost extends FetchHost {
  registry: Registry;
  /** Create the outbound of one node (throws when the plugin refuses it). */
  createNode(spec: ProxySpec): Outbound;
  health: HealthService;
}

const DEFAULT_HEALTH_INTERVAL = 300;

/** One `proxy-providers` entry at run time: its nodes, where they came from, and how they refresh. */
export class ProxyProvider {
  readonly name: string;
  readonly vehicleType: "HTTP" | "File" | "Inline";
  /** Bumped whenever `nodes` changes, so groups re-filter only then. */
  version = 0;
  nodes: Outbound[] = [];
  /** Each node's validated options (the controller reports some of them). */
  readonly specs = new WeakMap<Outbound, ProxySpec>();
  subscriptionInfo: SubscriptionInfo | undefined;
  /** Entries of the current content that were skipped, one line each. */
  skipped: string[] = [];
  readonly healthCheck: HealthCheck | undefined;
  /** Tests groups added with their `url` (config.md §8.1), by URL; the provider's own URL is not repeated. */
  private readonly registered = new Map<string, HealthCheck>();
  private readonly checkedListeners: (() => void)[] = [];
  private readonly processor: ContentProcessor;
  private readonly fetcher: Fetcher;

  constructor(
    readonly spec: ProviderSpec,
    private readonly host: ProviderHost,
  ) {
    this.name = spec.name;
    const type = spec.options.type;
    this.vehicleType = type === "http" ? "HTTP" : type === "file" ? "File" : "Inline";
    this.processor = new ContentProcessor(spec.name, spec.options, host.registry);
    const hc = spec.options["health-check"];
    if (hc?.enable && hc.url) {
      this.healthCheck = host.health.create(
        {
          url: hc.url,
          interval: hc.interval || DEFAULT_HEALTH_INTERVAL,
          lazy: hc.lazy ?? true,
          timeout: hc.timeout || 5000,
          expectedStatus: hc["expected-status"],
          onChecked: () => this.checked(),
        },
        () => this.nodes,
      );
    }
    const info = host.memory.get("subscriptioninfo", this.name);
    if (info) this.subscriptionInfo = parseUserinfo(info);
    this.fetcher = new Fetcher(spec.options, spec.file, host, {
      name: this.name,
      memoryKey: this.name,
      apply: (body, hash) => this.apply(this.parse(body, hash)),
      headers: (headers) => {
        const userinfo = headers.get("subscription-userinfo");
        if (!userinfo) return;
        this.subscriptionInfo = parseUserinfo(userinfo);
        host.memory.set("subscriptioninfo", this.name, userinfo);
      },
    });
  }

  /** Last successful load, download or (inline) refresh; undefined = never. */
  get updatedAt(): Date | undefined {
    return this.fetcher.updatedAt;
  }

  get testUrl(): string {
    return this.healthCheck?.url ?? "";
  }

  /**
   * A group's `url` with `use`: its nodes are also tested there. The provider's own health-check
   * settings win; a provider without one takes the group's interval, timeout and lazy (mihomo).
   */
  register(test: RegisteredTest): void {
    if (test.url === this.testUrl || this.registered.has(test.url)) return;
    const hc = this.spec.options["health-check"];
    const own = hc?.enable === true && this.healthCheck !== undefined;
    const check = this.host.health.create(
      {
        url: test.url,
        interval: own ? hc.interval || DEFAULT_HEALTH_INTERVAL : test.interval,
        lazy: own ? (hc.lazy ?? true) : test.lazy,
        timeout: own ? hc.timeout || 5000 : test.timeout,
        expectedStatus: test.expectedStatus,
        onChecked: () => this.checked(),
      },
      () => this.nodes,
    );
    this.registered.set(test.url, check);
  }

  /** Every check of the provider: its own URL, then the registered ones. */
  get checks(): HealthCheck[] {
    return [...(this.healthCheck ? [this.healthCheck] : []), ...this.registered.values()];
  }

  /** One round of every check now. */
  async checkAll(): Promise<void> {
    await Promise.all(this.checks.map((c) => c.check(this.nodes)));
  }

  /** A group using the provider picked a member: its checks count as used (`lazy`). */
  touch(): void {
    for (const c of this.checks) c.touch();
  }

  /** Call `listener` after each round of any of the provider's checks (groups recompute their pick). */
  onChecked(listener: () => void): void {
    this.checkedListeners.push(listener);
  }

  private checked(): void {
    for (const l of this.checkedListeners) l();
  }

  get expectedStatus(): string {
    return this.spec.options["health-check"]?.["expected-status"] || "*";
  }

  /**
   * The content available without the network: the inline payload or the on-disk copy. Runs at
   * engine start, synchronously, so groups have their nodes before the first connection.
   */
  loadLocal(): void {
    const { options } = this.spec;
    if (options.type === "inline") this.apply(this.processor.processEntries(options.payload ?? []));
    this.fetcher.loadLocal();
  }

  /** Downloads and file watching (see Fetcher.start). */
  start(): void {
    this.fetcher.start();
  }

  close(): void {
    this.fetcher.close();
    for (const c of this.checks) c.stop();
    this.closeNodes(this.nodes);
  }

  /** Release per-node resources of nodes no group can pick any more. */
  private closeNodes(nodes: Outbound[]): void {
    for (const node of nodes) {
      Promise.resolve()
        .then(() => node.close?.())
        .catch((err: unknown) => this.host.log.error(`[Provider] ${this.name}: ${node.name}: close failed: ${message(err)}`));
    }
  }

  /**
   * `PUT /providers/proxies/{name}` and the timers: http downloads, file re-reads, inline only
   * bumps `updatedAt`. Throws (after logging) when the update fails; the current nodes stay.
   */
  refresh(): Promise<void> {
    return this.fetcher.refresh();
  }

  /**
   * A body's nodes. The YAML/share-link parse is kept in cache.db keyed by the body's hash:
   * measured, parsing a 5,000-node YAML body was ~70% of start-up (0.7 s); its JSON is ~20 ms.
   */
  private parse(body: Uint8Array, hash: string): ProviderContent {
    const stored = this.host.memory.get("parsed", this.name);
    if (stored) {
      try {
        const cached = JSON.parse(stored) as { hash?: string; entries?: unknown[]; warnings?: string[] };
        if (cached.hash === hash && Array.isArray(cached.entries)) {
          return this.processor.processEntries(cached.entries, cached.warnings ?? []);
        }
      } catch {
        // An unreadable entry is simply parsed again below.
      }
    }
    const { entries, warnings } = payloadEntries(Buffer.from(body).toString("utf8"));
    this.host.memory.set("parsed", this.name, JSON.stringify({ hash, entries, warnings }));
    return this.processor.processEntries(entries, [...warnings]);
  }

  /** Replace the nodes with new content; content without any usable node is an error (the old nodes stay). */
  private apply(content: ProviderContent): void {
    for (const w of content.warnings) this.host.log.warn(`[Provider] ${this.name}: ${w}`);
    const nodes: Outbound[] = [];
    const specs: [Outbound, ProxySpec][] = [];
    for (const spec of content.proxies) {
      try {
        const node = this.host.createNode(spec);
        nodes.push(node);
        specs.push([node, spec]);
      } catch (err) {
        this.host.log.warn(`[Provider] ${this.name}: ${message(err)}; skipped`);
      }
    }
    if (nodes.length === 0) throw new UserError("no usable proxy in the content (after filters)");
    for (const [node, spec] of specs) this.specs.set(node, spec);
    const replaced = this.nodes;
    this.nodes = nodes;
    this.skipped = content.warnings;
    // Groups re-read their members on the version bump, so the replaced nodes are no longer picked.
    this.version++;
    this.closeNodes(replaced);
    this.host.log.info(`[Provider] ${this.name}: ${nodes.length} proxies loaded${content.warnings.length > 0 ? `, ${content.warnings.length} skipped` : ""}`);
  }
}

/** `upload=1; download=2; total=3; expire=4` (any order, missing keys 0). */
export function parseUserinfo(text: string): SubscriptionInfo {
  const info: SubscriptionInfo = { upload: 0, download: 0, total: 0, expire: 0 };
  for (const part of text.split(/[;,]/)) {
    const [k, v] = part.split("=").map((s) => s.trim());
    const n = Math.trunc(Number(v));
    if (k && k in info && Number.isFinite(n)) info[k as keyof SubscriptionInfo] = n;
  }
  return info;
}
