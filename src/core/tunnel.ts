import { isIP } from "node:net";
import { destinationOf, type Metadata } from "../sdk/metadata.ts";
import type { Duplex, PacketConn } from "../sdk/stream.ts";
import {
  type Group,
  isGroup,
  type Logger,
  type Outbound,
  type TcpRequest,
  type Tunnel,
  type UdpFlow,
  type UdpRequest,
} from "../sdk/types.ts";
import { logEnabled } from "../log.ts";
import { replayEnd } from "../sniff/peek.ts";
import type { QuicWait, Sniffer } from "../sniff/sniffer.ts";
import { relay } from "./relay.ts";
import { TrackedConnection, type Tracker } from "./tracker.ts";

export type Mode = "rule" | "global" | "direct";

export interface RouteResult {
  rule: { rule: { type: string; payload: string } } | undefined;
  target: string;
}

export interface RuleMatcher {
  match(metadata: Metadata, accept: (target: string) => boolean): RouteResult | Promise<RouteResult>;
}

/** What the tunnel reads from the running Engine; swapped whole on reload. */
export interface TunnelState {
  mode: Mode;
  outbound(name: string): Outbound | undefined;
  router: RuleMatcher;
  /** Rule lists of `sub-rules` chosen by listeners (`specialRules`); falls back to `router`. */
  subRouter(name: string): RuleMatcher | undefined;
  /** Hosts-only lookup before routing. */
  hostsLookup(host: string): string | undefined;
  /** The name DNS handed a destination IP out for (fake-ip / redir-host mapping). */
  reverseLookup(ip: string): { host: string; fake: boolean } | "unmapped-fake" | undefined;
  /** The proxy-provider an outbound is a node of; "" for config proxies, built-ins and groups. */
  providerOf(outbound: Outbound): string;
  /** The `sniffer` section, when enabled. */
  sniffer?: Sniffer;
  log: Logger;
}

/** The state before the first config is in force: every connection is refused. */
export const NOT_RUNNING: TunnelState = {
  mode: "rule",
  outbound: () => undefined,
  router: {
    match() {
      throw new Error("ferry has no config in force");
    },
  },
  subRouter: () => undefined,
  hostsLookup: () => undefined,
  reverseLookup: () => undefined,
  providerOf: () => "",
  log: { error() {}, warn() {}, info() {}, debug() {} },
};

const DIAL_TIMEOUT_MS = 10_000;
const UDP_IDLE_MS = 60_000;
const UDP_QUEUE_MAX = 64;
const MAX_GROUP_DEPTH = 32;

interface Route {
  leaf: Outbound;
  /** The groups unwrapped on the way to the leaf, outermost first. */
  groups: Group[];
  /** Leaf first, then every enclosing group, last the rule's target. */
  chains: string[];
  /** Per element of `chains`, the proxy-provider it came from ("" when none). */
  providerChains: string[];
  rule: string;
  rulePayload: string;
}

/**
 * inbound → tunnel → outbound. Pre-handles metadata (IP-literal hosts, hosts file), routes by
 * mode or rules, unwraps groups to the leaf recording the chain, dials, then relays with the
 * tracker watching. Knows no protocol: everything it calls comes from the registry.
 */
export class TunnelImpl implements Tunnel {
  private readonly singleHop = new WeakMap<Outbound, { chains: string[]; providerChains: string[] }>();

  constructor(
    private state: TunnelState,
    private readonly tracker: Tracker,
  ) {}

  /** Reload: new connections use the new state; existing ones keep their outbounds. */
  swap(state: TunnelState): void {
    this.state = state;
  }

  handleTcp(request: TcpRequest): void {
    this.routeAndDial(request).catch((err) => {
      this.state.log.error(`[TCP] ${describe(request.metadata)}: ${messageOf(err)}`);
      request.stream.close(err instanceof Error ? err : new Error(String(err)));
    });
  }

  private async routeAndDial(request: TcpRequest): Promise<void> {
    const { metadata, stream } = request;
    this.prepare(metadata);
    // What is dialled and written first: the request as it came, or as sniffing left it.
    let dial: TcpRequest & { ended?: boolean } = request;
    const sniffer = this.state.sniffer;
    if (sniffer?.tcpApplies(metadata)) {
      const sniffed = await sniffer.sniffTcp(request, this.state.hostsLookup);
      if (!sniffed) return;
      dial = sniffed;
    }
    if (!metadata.host && !metadata.destinationIP) throw new Error("fake IP without a mapping (restarted without store-fake-ip?)");
    const routed = this.route(metadata);
    const route = routed instanceof Promise ? await routed : routed;
    if (stream.closed) return;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`dial timed out after ${DIAL_TIMEOUT_MS / 1000}s`)), DIAL_TIMEOUT_MS);
    const abortOnClientClose = () => controller.abort(new Error("client closed"));
    stream.onClose = abortOnClientClose;
    let remote: Duplex;
    try {
      remote = await route.leaf.dialTcp(dial.metadata, { signal: controller.signal });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (!stream.closed) {
        this.state.log.warn(
          `[TCP] dial ${route.chains.join(" <- ")} (${matchText(route)}) ${metadata.sourceIP}:${metadata.sourcePort} --> ${destinationOf(metadata)} error: ${error.message}`,
        );
      }
      for (const g of route.groups) g.reportFailure?.(error);
      // An inbound with onReady writes its own failure reply and closes; closing here could cut it off.
      if (dial.onReady) dial.onReady({ ok: false, error });
      else stream.close(error);
      return;
    } finally {
      clearTimeout(timer);
      if (stream.onClose === abortOnClientClose) stream.onClose = undefined;
    }
    if (stream.closed) {
      remote.close();
      return;
    }
    const conn = new TrackedConnection(metadata, route.chains, route.providerChains, route.rule, route.rulePayload, remote.remoteAddress, stream);
    this.tracker.add(conn);
    if (logEnabled("info")) this.state.log.info(
      `[TCP] ${metadata.sourceIP}:${metadata.sourcePort} --> ${destinationOf(metadata)} match ${matchText(route)} using ${chainText(route.chains)}`,
    );
    dial.onReady?.({ ok: true, remoteAddress: remote.remoteAddress });
    if (dial.head && dial.head.length > 0) {
      conn.upload += dial.head.length;
      remote.write(dial.head);
    }
    relay(stream, remote, conn, this.tracker);
    if (dial.ended) replayEnd(stream);
  }

  handleUdp(request: UdpRequest, first: Uint8Array): UdpFlow {
    return new UdpSession(request, first, this, this.tracker, this.state.log, this.state.sniffer);
  }

  /** Pre-handle metadata before routing (IP-literal hosts, fake-ip / redir-host names, hosts file). */
  prepare(metadata: Metadata): void {
    prehandle(metadata, this.state);
  }

  /** Route one connection: listener proxy, mode, or rules; then unwrap groups to the leaf. */
  route(metadata: Metadata): Route | Promise<Route> {
    const s = this.state;
    if (metadata.specialProxy) return this.resolveTarget(metadata.specialProxy, metadata, "", "");
    if (s.mode === "global") return this.resolveTarget("GLOBAL", metadata, "", "");
    if (s.mode === "direct") return this.resolveTarget("DIRECT", metadata, "", "");
    const router = (metadata.specialRules && s.subRouter(metadata.specialRules)) || s.router;
    const accept = (target: string) => this.usable(target, metadata);
    const finish = (r: RouteResult): Route =>
      this.resolveTarget(r.target, metadata, r.rule ? r.rule.rule.type : "", r.rule ? r.rule.rule.payload : "");
    const result = router.match(metadata, accept);
    return result instanceof Promise ? result.then(finish) : finish(result);
  }

  /** A rule's target is usable when it exists, does not unwrap to PASS, and carries UDP if needed. */
  private usable(target: string, metadata: Metadata): boolean {
    const r = this.unwrap(target, metadata);
    if (!r) return false;
    if (r.path.some((o) => o.name === "PASS")) return false;
    return metadata.network !== "udp" || r.leaf.supportsUdp;
  }

  private resolveTarget(target: string, metadata: Metadata, rule: string, rulePayload: string): Route {
    const r = this.unwrap(target, metadata) ?? this.unwrap("DIRECT", metadata)!;
    // Provider names only for the route taken: rule matching unwraps every candidate target.
    const { chains, providerChains } = this.chainsOf(r.path);
    return { leaf: r.leaf, groups: r.groups, chains, providerChains, rule, rulePayload };
  }

  /**
   * The tracker's chain arrays. A one-hop route (DIRECT, a proxy named by the rule) shares one
   * frozen pair per outbound: measured, the two arrays were a tenth of what an idle connection
   * keeps on the heap.
   */
  private chainsOf(path: Outbound[]): { chains: string[]; providerChains: string[] } {
    if (path.length === 1) {
      const o = path[0]!;
      let pair = this.singleHop.get(o);
      if (!pair) {
        pair = { chains: Object.freeze([o.name]) as string[], providerChains: Object.freeze([this.state.providerOf(o)]) as string[] };
        this.singleHop.set(o, pair);
      }
      return pair;
    }
    return { chains: path.map((o) => o.name), providerChains: path.map((o) => this.state.providerOf(o)) };
  }

  /** The leaf, the groups unwrapped, and `path`: the leaf first, then each enclosing group. */
  private unwrap(target: string, metadata: Metadata): { leaf: Outbound; groups: Group[]; path: Outbound[] } | undefined {
    let o = this.state.outbound(target);
    if (!o) return undefined;
    const path = [o];
    const groups: Group[] = [];
    for (let depth = 0; isGroup(o); depth++) {
      if (depth >= MAX_GROUP_DEPTH) return undefined;
      groups.push(o);
      o = o.pick(metadata);
      path.push(o);
    }
    path.reverse();
    return { leaf: o, groups, path };
  }
}

/**
 * mihomo's pre-handling (config.md §18 step 3): an IP-literal host becomes the destination IP; an
 * IP that DNS handed out gets its name back (a fake IP is then cleared, so IP rules look the name
 * up for real; a fake IP nobody was given leaves neither host nor IP); a host found in `hosts`
 * gets its address and counts as resolved.
 */
function prehandle(metadata: Metadata, state: TunnelState): void {
  let host = metadata.host;
  if (host && isIP(host)) {
    metadata.destinationIP = host;
    metadata.host = host = "";
  }
  if (!host) {
    if (!metadata.destinationIP) return;
    const found = state.reverseLookup(metadata.destinationIP);
    if (found === undefined) return;
    if (found === "unmapped-fake") {
      metadata.destinationIP = "";
      return;
    }
    metadata.host = host = found.host;
    if (found.fake) {
      metadata.destinationIP = "";
      metadata.dnsMode = "fake-ip";
    } else {
      metadata.dnsMode = "redir-host";
      const ip = state.hostsLookup(host);
      if (ip) metadata.destinationIP = ip;
      return;
    }
  }
  if (!metadata.destinationIP) {
    const ip = state.hostsLookup(host);
    if (ip) {
      metadata.destinationIP = ip;
      metadata.dnsMode = "hosts";
    }
  }
}

function matchText(route: Route): string {
  if (!route.rule) return "";
  return route.rulePayload ? `${route.rule}(${route.rulePayload})` : route.rule;
}

/** mihomo's log form of a chain: what the rule chose, then the proxy that carried it (`Proxy[HK-02]`). */
function chainText(chains: string[]): string {
  return chains.length === 1 ? chains[0]! : `${chains[chains.length - 1]}[${chains[0]}]`;
}

function describe(m: Metadata): string {
  return `${m.sourceIP}:${m.sourcePort} --> ${destinationOf(m)}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One UDP flow (one client address): routed on its first datagram, idle-closed after 60 s. */
class UdpSession implements UdpFlow {
  private conn: PacketConn | undefined;
  private queue: { data: Uint8Array; host: string; port: number }[] | undefined = [];
  private tracked: TrackedConnection | undefined;
  closed = false;
  private lastActive = Date.now();
  private idleTimer: ReturnType<typeof setTimeout>;
  private fake: { ip: string; host: string; port: number } | undefined;
  /** While the first datagrams are read for a QUIC ClientHello: the reader of those that follow. */
  private quic: QuicWait | undefined;

  constructor(
    private readonly request: UdpRequest,
    first: Uint8Array,
    tunnel: TunnelImpl,
    private readonly tracker: Tracker,
    log: Logger,
    private readonly sniffer: Sniffer | undefined,
  ) {
    const m = request.metadata;
    this.queue!.push({ data: first, host: m.host || m.destinationIP, port: m.destinationPort });
    this.idleTimer = setTimeout(() => this.checkIdle(), UDP_IDLE_MS);
    this.start(tunnel, log, first).catch((err) => {
      log.warn(`[UDP] ${describe(m)}: ${messageOf(err)}`);
      this.close();
    });
  }

  private async start(tunnel: TunnelImpl, log: Logger, first: Uint8Array): Promise<void> {
    const m = this.request.metadata;
    const asked = m.destinationIP || m.host;
    tunnel.prepare(m);
    if (!m.host && !m.destinationIP) throw new Error(`fake IP ${asked} has no mapping`);
    // Datagrams to a fake IP go to its name; replies come back from the fake IP (config.md §18).
    if (m.dnsMode === "fake-ip") this.fake = { ip: asked, host: m.host, port: m.destinationPort };
    const quic = this.sniffer?.sniffUdp(m, first);
    if (quic) {
      this.quic = quic;
      await quic.done;
      this.quic = undefined;
      if (this.closed) return;
    }
    const routed = tunnel.route(m);
    const route = routed instanceof Promise ? await routed : routed;
    if (this.closed) return;
    if (!route.leaf.dialUdp || !route.leaf.supportsUdp) {
      throw new Error(`${route.chains.join(" <- ")} does not support UDP`);
    }
    const conn = await route.leaf.dialUdp(m);
    if (this.closed) {
      conn.close();
      return;
    }
    this.conn = conn;
    const tracked = new TrackedConnection(m, route.chains, route.providerChains, route.rule, route.rulePayload, "", this);
    this.tracked = tracked;
    this.tracker.add(tracked);
    if (logEnabled("info")) log.info(`[UDP] ${describe(m)} match ${matchText(route)} using ${chainText(route.chains)}`);
    const fake = this.fake;
    conn.onPacket = (p) => {
      this.lastActive = Date.now();
      tracked.download += p.data.length;
      this.request.reply(p.data, fake && p.port === fake.port ? fake.ip : p.host, p.port);
    };
    conn.onClose = () => this.close();
    const queued = this.queue!;
    this.queue = undefined;
    for (const p of queued) this.send(p.data, p.host, p.port);
  }

  send(data: Uint8Array, host: string, port: number): void {
    if (this.closed) return;
    this.lastActive = Date.now();
    if (this.fake && host === this.fake.ip) host = this.fake.host;
    if (this.queue) {
      if (this.queue.length < UDP_QUEUE_MAX) this.queue.push({ data, host, port });
      this.quic?.push(data);
      return;
    }
    this.tracked!.upload += data.length;
    this.conn!.send({ data, host, port });
  }

  private checkIdle(): void {
    const idle = Date.now() - this.lastActive;
    if (idle >= UDP_IDLE_MS) this.close();
    else this.idleTimer = setTimeout(() => this.checkIdle(), UDP_IDLE_MS - idle);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.queue = undefined;
    this.conn?.close();
    if (this.tracked) this.tracker.remove(this.tracked);
  }
}
