import {
  type CreateContext,
  type Group,
  type GroupSources,
  type HealthCheck,
  type Metadata,
  type Outbound,
  type Static,
  t,
} from "../../src/sdk/index.ts";

/** mihomo's default health-check URL. */
export const DEFAULT_TEST_URL = "https://www.gstatic.com/generate_204";

/** Options every group type shares (config.md §8.1). */
export const groupOptions = {
  proxies: t.Optional(t.Array(t.String())),
  use: t.Optional(t.Array(t.String())),
  url: t.Optional(t.String()),
  interval: t.Optional(t.Integer()),
  lazy: t.Optional(t.Boolean()),
  timeout: t.Optional(t.Integer()),
  "max-failed-times": t.Optional(t.Integer()),
  "expected-status": t.Optional(t.String()),
  "disable-udp": t.Optional(t.Boolean()),
  hidden: t.Optional(t.Boolean()),
  icon: t.Optional(t.String()),
  filter: t.Optional(t.String()),
  "exclude-filter": t.Optional(t.String()),
  "exclude-type": t.Optional(t.String()),
  "include-all": t.Optional(t.Boolean()),
  "include-all-proxies": t.Optional(t.Boolean()),
  "include-all-providers": t.Optional(t.Boolean()),
  "default-selected": t.Optional(t.String()),
  "empty-fallback": t.Optional(t.String()),
  "interface-name": t.Optional(t.String()),
  "routing-mark": t.Optional(t.Integer()),
};

const commonSchema = t.Object(groupOptions);
export type GroupOptions = Static<typeof commonSchema> & { name: string; proxies: string[]; members: () => Outbound[]; sources: GroupSources };

/** The member used while the group has none: `empty-fallback`, else COMPATIBLE (DIRECT under another name). */
export function emptyFallback(o: GroupOptions, ctx: CreateContext): Outbound {
  return ctx.outbound(o["empty-fallback"] || "COMPATIBLE") ?? ctx.outbound("COMPATIBLE")!;
}

/**
 * The group's own health check, over its own `proxies` only: provider nodes are tested by their
 * provider's check, to which a set `url` is added (mihomo). url-test, fallback and load-balance
 * (`auto`) always have one (the API and dial failures trigger rounds) and run it every 300 s by
 * default when they list `proxies`; select only when `interval` is set.
 */
export function groupHealth(o: GroupOptions, ctx: CreateContext, auto: boolean, onChecked?: () => void): HealthCheck | undefined {
  const interval = o.interval ?? (auto && o.proxies.length > 0 ? 300 : 0);
  if (o.url) {
    o.sources.register({ url: o.url, expectedStatus: o["expected-status"], interval: Math.max(0, interval), timeout: o.timeout ?? 5_000, lazy: o.lazy ?? true });
  }
  if (onChecked) o.sources.onProviderChecked(onChecked);
  if (!auto && interval <= 0) return undefined;
  return ctx.health.create(
    {
      url: testUrl(o),
      interval: Math.max(0, interval),
      lazy: o.lazy ?? true,
      timeout: o.timeout ?? 5_000,
      expectedStatus: o["expected-status"],
      onChecked,
    },
    () => o.sources.own(),
  );
}

/**
 * mihomo's `max-failed-times` (default 5): that many failed dials within `timeout` ms start a
 * health check of every member at once (own ones here, provider nodes by their providers); a
 * refused connection starts one immediately.
 */
function failureCounter(o: GroupOptions, health: HealthCheck): (error: Error) => void {
  const limit = o["max-failed-times"] ?? 5;
  const window = o.timeout ?? 5_000;
  let count = 0;
  let since = 0;
  return (error) => {
    const now = Date.now();
    if (now - since > window) {
      count = 0;
      since = now;
    }
    count++;
    if (count >= limit || (error as { code?: string }).code === "ECONNREFUSED") {
      count = 0;
      void health.check(o.sources.own());
      void o.sources.checkProviders();
    }
  };
}

/** `url`; if empty, the first used provider's health-check URL, else mihomo's default (§8.1). */
/**
 * A group's remembered member — a select choice or a url-test/fallback pin — restored from and kept
 * in `ctx.selections` (cache.db with `profile.store-selected`).
 */
export function rememberedChoice(o: GroupOptions, ctx: CreateContext, initial = "") {
  let name = ctx.selections.get(o.name) ?? initial;
  return {
    get: () => name,
    /** Remember `candidate` if it is a member now; false otherwise. */
    select(candidate: string, members: Outbound[]): boolean {
      if (!members.some((m) => m.name === candidate)) return false;
      name = candidate;
      ctx.selections.set(o.name, candidate);
      return true;
    },
    clear(): void {
      name = "";
      ctx.selections.delete(o.name);
    },
  };
}

export function testUrl(o: GroupOptions): string {
  return o.url || o.sources.providerTestUrl || DEFAULT_TEST_URL;
}

/** What a group type decides; everything else a Group is made of is common. */
export interface GroupBehaviour {
  type: string;
  /** The member for this connection; never called with an empty member list. */
  pick(members: Outbound[], metadata: Metadata | undefined): Outbound;
  /** Always report UDP (load-balance) rather than the current member's support. */
  udpAlways?: boolean;
  select?(name: string, members: Outbound[]): boolean;
  fixed?(): string;
  unfix?(): void;
}

/** A Group over the live members: an empty group dials its empty-fallback; each pick marks the check used. */
export function makeGroup(o: GroupOptions, ctx: CreateContext, b: GroupBehaviour, health?: HealthCheck): Group {
  const choose = (metadata: Metadata | undefined): Outbound => {
    health?.touch();
    o.sources.touch();
    const members = o.members();
    return members.length === 0 ? emptyFallback(o, ctx) : b.pick(members, metadata);
  };
  const group: Group & { fixed?(): string; unfix?(): void } = {
    isGroup: true,
    name: o.name,
    type: b.type,
    addr: "",
    hidden: o.hidden,
    icon: o.icon,
    testUrl: testUrl(o),
    get supportsUdp() {
      if (o["disable-udp"]) return false;
      return b.udpAlways === true || choose(undefined).supportsUdp;
    },
    now: () => choose(undefined).name,
    members: () => o.members().map((m) => m.name),
    pick: (metadata) => choose(metadata),
    dialTcp: (m, d) => choose(m).dialTcp(m, d),
    dialUdp: (m, d) => {
      const target = choose(m);
      if (!target.dialUdp) return Promise.reject(new Error(`${target.name} does not support UDP`));
      return target.dialUdp(m, d);
    },
  };
  if (health) group.reportFailure = failureCounter(o, health);
  if (b.select) group.select = (name) => b.select!(name, o.members());
  if (b.fixed && b.unfix) {
    group.fixed = b.fixed;
    group.unfix = b.unfix;
  }
  return group;
}
