import type { Static, TSchema } from "@sinclair/typebox";
import type { Metadata } from "./metadata.ts";
import type { Duplex, PacketConn } from "./stream.ts";

/** The plugin API version this host implements. A plugin declaring another major is refused. */
export const API_VERSION = 1;

export type PluginKind = "inbound" | "outbound" | "group" | "rule" | "resolver" | "transport";

/** Logger handed to plugins: lines are prefixed with the plugin's name and reach `/logs`. */
export interface Logger {
  error(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
}

/** Thrown (or returned) for anything a user caused; the message names the thing. */
export class UserError extends Error {
  override name = "UserError";
}

/* ----------------------------------------------------------------------------------------------
 * Outbounds
 * ------------------------------------------------------------------------------------------- */

export interface DialOptions {
  /** AbortSignal for the whole dial (tunnel timeout, connection closed by the user). */
  signal?: AbortSignal;
}

/** A proxy: something that can carry a connection to `metadata`'s destination. */
export interface Outbound {
  readonly name: string;
  /** Display type as mihomo's `/proxies` shows it: `Direct`, `Reject`, `Http`, `Shadowsocks`, … */
  readonly type: string;
  readonly supportsUdp: boolean;
  /** Server address (`host:port`) or "" — shown by the controller. */
  readonly addr: string;
  dialTcp(metadata: Metadata, options?: DialOptions): Promise<Duplex>;
  /** Optional: outbounds without UDP leave it out or reject with a clear error. */
  dialUdp?(metadata: Metadata, options?: DialOptions): Promise<PacketConn>;
  close?(): void | Promise<void>;
}

/** A health check's settings (group `url`/`interval`/…, provider `health-check`). */
export interface HealthCheckOptions {
  url: string;
  /** Seconds between periodic rounds; 0 = none. */
  interval: number;
  /** Skip a periodic round when nothing called touch() during the last interval. */
  lazy: boolean;
  /** Per-test timeout, ms. */
  timeout: number;
  /** `expected-status` text (`*`, `204`, `200/302`, `200-299`); absent = any. */
  expectedStatus?: string;
  /** Tests in flight at once (default 10, as mihomo). */
  concurrency?: number;
  /** Called after every round (groups recompute their pick). */
  onChecked?(): void;
}

export interface HealthCheck {
  readonly url: string;
  /** Test every outbound once (duplicates once), `concurrency` at a time; a round already running is joined. */
  check(outbounds: Outbound[]): Promise<void>;
  /** Periodic rounds over `getMembers()` every `interval` s, the first at once. */
  start(getMembers: () => Outbound[]): void;
  stop(): void;
  /** Mark the checked outbounds as used (for `lazy`). */
  touch(): void;
}

/** The core's latency records: one per outbound, shared by group and provider checks and the API's delay tests. */
export interface HealthService {
  /** Alive for `url`: its last test there, else the last test of any URL, else true (never tested). */
  alive(o: Outbound, url: string): boolean;
  /** Last delay for `url` in ms; 0 when that test failed or there was none. */
  delay(o: Outbound, url: string): number;
  /** A check owned by the engine: started with it over `members()` when `interval` > 0, stopped when it closes. */
  create(options: HealthCheckOptions, members: () => Outbound[]): HealthCheck;
}

/** The test a group with `url` and `use` adds to each used provider's health check (config.md §8.1). */
export interface RegisteredTest {
  url: string;
  expectedStatus?: string;
  /** The group's interval: used only by a provider whose own health-check has none. */
  interval: number;
  timeout: number;
  lazy: boolean;
}

/**
 * Where a group's members come from, as the engine tells it: its own `proxies` (the only members
 * its own health check tests, as mihomo) and the providers of `use`, whose checks test their nodes.
 */
export interface GroupSources {
  /** Current members that are not provider nodes. */
  own(): Outbound[];
  /** The first used provider's health-check URL; "" when none has one. */
  readonly providerTestUrl: string;
  /** Add the group's test to every used provider's health check (the first registration of a URL wins). */
  register(test: RegisteredTest): void;
  /** Called after every round of a used provider's checks. */
  onProviderChecked(listener: () => void): void;
  /** A round of every used provider's checks now (a group's failed dials start one). */
  checkProviders(): Promise<void>;
  /** Mark the used providers' checks as used (for `lazy`). */
  touch(): void;
}

/** Remembered member choices per group (`profile.store-selected`); with it off nothing is kept. */
export interface SelectionStore {
  get(group: string): string | undefined;
  set(group: string, member: string): void;
  delete(group: string): void;
}

/** A group is an outbound that picks among members by name. */
export interface Group extends Outbound {
  readonly isGroup: true;
  /** The member the group would use now. */
  now(): string;
  /** Member names, in order. */
  members(): string[];
  /** The member that carries this connection (may itself be a group). */
  pick(metadata: Metadata): Outbound;
  /**
   * A dial through this group's pick failed (the tunnel reports it): groups with health checks
   * count these to test their members early (`max-failed-times`).
   */
  reportFailure?(error: Error): void;
  /** Manual selection (select groups; pins for url-test/fallback). Returns false if not allowed. */
  select?(name: string): boolean;
  hidden?: boolean;
  icon?: string;
  /** The URL the group's health checks use (its `url`, else its first provider's, else the default). */
  readonly testUrl?: string;
}

export function isGroup(o: Outbound): o is Group {
  return (o as Partial<Group>).isGroup === true;
}

/* ----------------------------------------------------------------------------------------------
 * Inbounds
 * ------------------------------------------------------------------------------------------- */

/** What an inbound hands to the tunnel for one accepted TCP connection. */
export interface TcpRequest {
  metadata: Metadata;
  stream: Duplex;
  /** Client bytes already read past the handshake; sent first on the outbound. */
  head?: Uint8Array;
  /**
   * Called once the tunnel has an outbound connection (ok) or failed (err), before any relaying, so
   * the inbound can answer its handshake (`HTTP 200`, SOCKS reply). On failure the inbound owns
   * the stream: it writes its error reply and closes it.
   */
  onReady?(result: { ok: true; remoteAddress: string } | { ok: false; error: Error }): void;
}

/** One UDP flow from an inbound: datagrams from one client address. */
export interface UdpRequest {
  metadata: Metadata;
  /** Send a reply datagram back to the client as coming from `host:port`. */
  reply(data: Uint8Array, host: string, port: number): void;
}

/** A UDP flow the tunnel has routed; the inbound pushes further datagrams into it. */
export interface UdpFlow {
  send(data: Uint8Array, host: string, port: number): void;
  close(): void;
  /** True once the tunnel closed the flow (route failed, idle timeout): start a new one. */
  readonly closed: boolean;
}

export interface Tunnel {
  handleTcp(request: TcpRequest): void;
  /** Route the first datagram of a flow; later datagrams go through the returned flow. */
  handleUdp(request: UdpRequest, first: Uint8Array): UdpFlow;
}

export interface Inbound {
  /** Open listeners. Resolves when they accept connections; rejects naming the address on failure. */
  start(): Promise<void>;
  close(): void | Promise<void>;
  /** Addresses actually bound, `host:port` (useful with port 0). */
  addresses(): string[];
}

/** Settings every inbound shares, resolved by the core from the general keys or the listener entry. */
export interface InboundCommon {
  name: string;
  listen: string;
  port: number;
  /** `user → password`; undefined means no authentication. */
  users?: Map<string, string>;
  /** Source CIDR checks (`lan-allowed-ips`, `lan-disallowed-ips`, `skip-auth-prefixes`). */
  allowSource(ip: string): boolean;
  skipAuth(ip: string): boolean;
  /** `listeners[].proxy` / `listeners[].rule`. */
  specialProxy: string;
  specialRules: string;
}

/* ----------------------------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------------------------- */

/** Per-connection state for rule evaluation (lazy DNS is done by the router, not by rules). */
export interface MatchContext {
  readonly metadata: Metadata;
}

/** Hints that let the router replace linear scans by hash sets and range tables. */
export type RuleIndex =
  | { kind: "domain"; value: string }
  | { kind: "domain-suffix"; value: string }
  | { kind: "ip-cidr"; value: string };

export interface Rule {
  /** Runtime name as mihomo shows it in `/rules` and `/connections` (`DomainSuffix`, `Match`, …). */
  readonly type: string;
  readonly payload: string;
  /** True when the rule needs the destination IP and may trigger a lookup (no `no-resolve`). */
  readonly needsIp: boolean;
  /**
   * True when the rule reads the connection's owner (`process`, `processPath`, `uid`): the router
   * looks it up once, before the first such rule (`find-process-mode: strict`). Absent = false.
   */
  readonly needsProcess?: boolean;
  match(metadata: Metadata): boolean;
  readonly index?: RuleIndex;
}

/**
 * A `rule-providers` entry as rules and DNS see it. Its contents are loaded and refreshed by the
 * core and swapped atomically, so a reference taken at parse time stays valid across updates.
 */
export interface RuleSetRef {
  readonly name: string;
  readonly behavior: "domain" | "ipcidr" | "classical";
  /** True when matching may need the destination IP (ipcidr, or classical holding IP rules). */
  readonly needsIp: boolean;
  /** True when matching may need the connection's process (classical holding PROCESS-* rules). */
  readonly needsProcess?: boolean;
  /** Match the current contents; `source` tests the source IP instead (`RULE-SET,name,X,src`). */
  match(metadata: Metadata, source?: boolean): boolean;
  /** Domain-only test for `fake-ip-filter`/`nameserver-policy`/sniffer lists (classical: its domain rules). */
  matchDomain(host: string): boolean;
}

/**
 * A matcher built from geodata for one rule. The reference stays valid when the data files are
 * updated: it then answers from the new data.
 */
export interface GeoMatcher {
  (value: string): boolean;
  /** Entries behind it (domains, CIDRs); 0 where the data does not say (an MMDB country). `size` in /rules. */
  readonly size: number;
  /** What the config's author should hear while it loads (an attribute no entry has, a code that never matches). */
  readonly warning?: string;
}

/** GeoIP / ASN / GeoSite data (config.md §2.3), read from HOME's data files on first use. */
export interface GeoData {
  /**
   * Upper-case country codes of an address (country.mmdb / geoip.metadb); [] when unknown. Throws
   * a UserError naming the file when the database is missing or invalid.
   */
  countries(ip: string): readonly string[];
  /** The autonomous system of an address (ASN.mmdb); undefined when unknown or when there is no ASN database. */
  asn(ip: string): { number: number; organization: string } | undefined;
  /**
   * A matcher for a GEOIP code (not `lan`, which needs no data): the country MMDB, or GeoIP.dat with
   * `geodata-mode` (where `!code` negates). Throws a UserError naming the file when it is missing
   * or invalid, or the code when GeoIP.dat lacks it.
   */
  geoip(code: string): GeoMatcher;
  /**
   * A matcher for IP-ASN: addresses whose AS number, as decimal text, equals `asn` (mihomo compares
   * strings). Throws a UserError naming the file when the ASN database is missing or invalid.
   */
  ipAsn(asn: string): GeoMatcher;
  /**
   * A matcher for a geosite code with an optional leading `!` and `@attr` parts (`cn`, `google@cn`).
   * Throws a UserError naming the file and the code when the data is missing or the code is unknown.
   */
  site(code: string): GeoMatcher;
}

/** What rules may refer to besides other rules: providers and geodata. */
export interface RuleEnv {
  ruleSet(name: string): RuleSetRef | undefined;
  geo: GeoData;
}

export interface RuleParseContext extends RuleEnv {
  /** Parse one nested rule (`TYPE,payload[,params]`) — for logic rules. */
  parseRule(line: string): Rule;
  warn(message: string): void;
}

export interface RuleDefinition<S extends TSchema = TSchema> {
  /** Optional schema for the payload string (validated before `parse`). */
  payload?: S;
  /** Types like AND/OR/NOT/DOMAIN-REGEX whose payload may contain commas. */
  payloadTakesRest?: boolean;
  /** Rule types that take no payload (MATCH). */
  noPayload?: boolean;
  parse(payload: string, params: string[], ctx: RuleParseContext): Rule;
}

/* ----------------------------------------------------------------------------------------------
 * Resolvers and transports
 * ------------------------------------------------------------------------------------------- */

export interface Resolver {
  /** Exchange one DNS message (wire format). */
  exchange(message: Uint8Array, options?: DialOptions): Promise<Uint8Array>;
  close?(): void | Promise<void>;
}

export interface Transport {
  wrap(stream: Duplex, options?: DialOptions): Promise<Duplex>;
}

/* ----------------------------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------------------------- */

/** Services the core lends to created objects. */
export interface CreateContext {
  /** Scoped logger ("[plugin-name] …"). */
  log: Logger;
  /** Look up another outbound or group by name (resolved lazily: call at dial time). */
  outbound(name: string): Outbound | undefined;
  /** Names of every top-level proxy and group, in config order (for GLOBAL and include-all). */
  outboundNames(): string[];
  /** Open a TCP connection to `host:port` directly, resolving names with the core's resolver. */
  dialDirect(host: string, port: number, options?: DialOptions): Promise<Duplex>;
  /**
   * Open a TCP connection to a proxy server: through the proxy or group named `dialerProxy`
   * (`dialer-proxy`, resolved at dial time as mihomo does) when given, else directly.
   */
  dialServer(host: string, port: number, options?: DialOptions & { dialerProxy?: string }): Promise<Duplex>;
  /**
   * Dial `metadata` through `chain` in order (relay groups): the first proxy reaches its server as
   * usual, every next one reaches its server through the connection of the previous.
   */
  dialChain(chain: Outbound[], metadata: Metadata, options?: DialOptions): Promise<Duplex>;
  /** Resolve a name to one address (IPv4 preferred) with the core's resolver. */
  resolve(host: string): Promise<string>;
  transport(name: string): TransportDefinition | undefined;
  /** The tunnel (inbounds only). */
  tunnel: Tunnel;
  /** Home directory: relative paths in the config resolve against it. */
  homeDir: string;
  health: HealthService;
  selections: SelectionStore;
}

export interface InboundDefinition<S extends TSchema = TSchema> {
  options: S;
  create(options: Static<S>, common: InboundCommon, ctx: CreateContext): Inbound;
}

/** A problem `validate` finds: `key` relative to the proxy entry (`obfs-password`, `peers[0].allowed-ips`), "" for the entry. */
export interface OptionProblem {
  key: string;
  message: string;
  /** Default "error": the config is refused. */
  severity?: "error" | "warning";
}

export interface OutboundDefinition<S extends TSchema = TSchema> {
  options: S;
  /**
   * Checks across keys that a schema cannot express (config.md §23: "obfs needs obfs-password",
   * key lengths, port lists). Runs while the config is built, so `test-config` reports them too,
   * each at its key path; `create` only sees options that passed.
   */
  validate?(options: Static<S> & { name: string }): OptionProblem[];
  create(options: Static<S> & { name: string }, ctx: CreateContext): Outbound;
}

export interface GroupDefinition<S extends TSchema = TSchema> {
  options: S;
  /**
   * `proxies` are the explicit member names as written; `members()` is the live member list the
   * core maintains (explicit proxies, then provider nodes, after the group's filters). An empty
   * list means the group acts as COMPATIBLE, as in mihomo. `sources` tells own members from
   * provider nodes, whose health checks are the providers'.
   */
  create(options: Static<S> & { name: string; proxies: string[]; members: () => Outbound[]; sources: GroupSources }, ctx: CreateContext): Group;
}

export interface ResolverDefinition<S extends TSchema = TSchema> {
  options: S;
  /**
   * Checks a schema cannot express (an unknown `rcode://` name, `h3=true`, a scheme this build
   * refuses): a message for the nameserver entry, or undefined. Runs while the config is built,
   * so `test-config` reports it at the entry's key path.
   */
  validate?(url: URL, options: Static<S>): string | undefined;
  create(url: URL, options: Static<S>, ctx: CreateContext): Resolver;
}

export interface TransportDefinition<S extends TSchema = TSchema> {
  options: S;
  create(options: Static<S>, ctx: CreateContext): Transport;
}

export interface PluginHost {
  readonly apiVersion: number;
  registerInbound<S extends TSchema>(type: string, definition: InboundDefinition<S>): void;
  registerOutbound<S extends TSchema>(type: string, definition: OutboundDefinition<S>): void;
  registerGroup<S extends TSchema>(type: string, definition: GroupDefinition<S>): void;
  registerRule<S extends TSchema>(type: string, definition: RuleDefinition<S>): void;
  registerResolver<S extends TSchema>(scheme: string, definition: ResolverDefinition<S>): void;
  registerTransport<S extends TSchema>(name: string, definition: TransportDefinition<S>): void;
  log: Logger;
}

export interface Plugin {
  name: string;
  apiVersion: number;
  setup(host: PluginHost): void | Promise<void>;
}
