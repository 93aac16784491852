/**
 * The `sniffer` section at work (config.md §16; mihomo component/sniffer/dispatcher.go): which
 * connections are sniffed, reading their first bytes, and what a found name changes in Metadata.
 * The tunnel asks `tcpApplies` of every TCP connection and `sniffUdp` of every new UDP flow; the
 * answer "no" costs a port lookup and allocates nothing.
 */
import { isIP } from "node:net";
import { logEnabled } from "../log.ts";
import type { Metadata } from "../sdk/metadata.ts";
import { type PortRanges, portInRanges } from "../sdk/ports.ts";
import type { Logger, TcpRequest } from "../sdk/types.ts";
import { sniffHttp } from "./http.ts";
import { peek } from "./peek.ts";
import { QuicSniffer } from "./quic.ts";
import { NEED_MORE, NO_HOST, type Sniffed } from "./result.ts";
import { sniffTls } from "./tls.ts";

export type SniffProtocol = "HTTP" | "TLS" | "QUIC";
export type HostMatcher = (host: string) => boolean;
export type IpMatcher = (ip: string) => boolean;

export interface ProtocolOptions {
  ports: PortRanges;
  /** Replace the connection's host with the name found (else the name only feeds the rules). */
  override: boolean;
}

/** The section as built from the config; absent protocols and lists are not configured. */
export interface SnifferOptions {
  protocols: Partial<Record<SniffProtocol, ProtocolOptions>>;
  forceDomain: HostMatcher | undefined;
  skipDomain: HostMatcher | undefined;
  skipSrcAddress: IpMatcher | undefined;
  skipDstAddress: IpMatcher | undefined;
  forceDnsMapping: boolean;
  parsePureIp: boolean;
}

/** A TCP connection after sniffing: what the tunnel dials, writes first, and still has to answer. */
export interface SniffedTcp extends TcpRequest {
  /** The client half-closed while its first bytes were read. */
  ended: boolean;
}

/** mihomo's wait for the client's first bytes, and again for the rest of a message begun. */
const PEEK_MS = 1_000;
/** A UDP flow's routing waits this long, and this many datagrams, for a ClientHello spread over Initials. */
const QUIC_WAIT_MS = 1_000;
const QUIC_MAX_DATAGRAMS = 16;
/** Failed sniffs per destination (mihomo: an LRU of 128 for 10 minutes); past 5 it is left alone unless forced. */
const FAILURES_MAX = 128;
const FAILURES_AGE_MS = 600_000;
const FAILURES_LIMIT = 5;

interface TcpProtocol extends ProtocolOptions {
  name: string;
  parse(bytes: Uint8Array): Sniffed;
}

export class Sniffer {
  /** `sniffing` of /configs: mihomo lets PATCH switch a configured sniffer off and on again. */
  enabled = true;
  private readonly tcp: TcpProtocol[] = [];
  private readonly quic: ProtocolOptions | undefined;
  private readonly failures = new Map<string, { count: number; at: number }>();

  constructor(
    private readonly options: SnifferOptions,
    private readonly log: Logger,
  ) {
    const { TLS, HTTP, QUIC } = options.protocols;
    if (TLS) this.tcp.push({ name: "TLS", parse: sniffTls, ...TLS });
    if (HTTP) this.tcp.push({ name: "HTTP", parse: sniffHttp, ...HTTP });
    this.quic = QUIC;
  }

  /** Whether this TCP connection is to be sniffed. */
  tcpApplies(m: Metadata): boolean {
    if (!this.enabled || !this.tcpPort(m.destinationPort) || !this.wanted(m)) return false;
    if (this.failureCount(m) > FAILURES_LIMIT && !this.forced(m)) {
      if (logEnabled("debug")) this.log.debug(`[Sniffer] skip sniffing ${m.destinationIP}:${m.destinationPort} after repeated failures`);
      return false;
    }
    return true;
  }

  /**
   * Read the client's first bytes and apply what they name. As mihomo, the inbound's success reply
   * goes out before the wait (a client says nothing before it), so a later dial failure can only
   * close the connection. Undefined when the connection is gone: closed by the client, or closed
   * here because it sent nothing in time (mihomo's "may not have any sent data").
   */
  async sniffTcp(request: TcpRequest, hostsLookup: (host: string) => string | undefined): Promise<SniffedTcp | undefined> {
    const m = request.metadata;
    const port = m.destinationPort;
    const found = { override: false };
    let verdict: Sniffed = NEED_MORE;
    const decided = (b: Uint8Array) => {
      verdict = this.sniffBytes(port, b, found);
      return verdict !== NEED_MORE;
    };
    let head = request.head;
    let onReady = request.onReady;
    let ended = false;
    if (!(head && head.length > 0 && decided(head))) {
      const { stream } = request;
      const reading = peek(stream, head, decided, PEEK_MS, PEEK_MS);
      if (onReady) onReady({ ok: true, remoteAddress: "" });
      else stream.resume();
      onReady = undefined;
      const read = await reading;
      if (stream.closed) return undefined;
      head = read.bytes;
      ended = read.ended;
      if (head === undefined && read.timedOut) {
        // mihomo counts this twice unless forced (once reading, once for the failed sniff).
        this.fail(m, this.forced(m) ? 1 : 2);
        this.log.error(`[Sniffer] [${m.destinationIP || m.host}] [${this.protocolsOn(port)}] may not have any sent data, consider adding skip`);
        stream.close(new Error("sniffer: no data from the client within 1s"));
        return undefined;
      }
    }
    let dial = m;
    if (typeof verdict === "string") {
      if (this.apply(m, verdict, found.override, "TCP") && found.override) dial = this.dialMetadata(m, hostsLookup);
    } else {
      if (!this.forced(m)) this.fail(m, 1);
      if (logEnabled("debug")) this.log.debug(`[Sniffer] all sniffing failed for ${m.sourceIP}:${m.sourcePort} --> ${m.destinationIP || m.host}:${port}`);
    }
    return { metadata: dial, stream: request.stream, head, onReady, ended };
  }

  /**
   * A QUIC sniff for a new UDP flow (QUIC's ports, and the connection wanted), or undefined. The
   * flow waits for `done` before routing, pushing the datagrams that arrive meanwhile.
   */
  sniffUdp(m: Metadata, first: Uint8Array): QuicWait | undefined {
    const quic = this.quic;
    if (!this.enabled || !quic || !portInRanges(quic.ports, m.destinationPort) || !this.wanted(m)) return undefined;
    return new QuicWait(first, (host) => this.apply(m, host, quic.override, "UDP"));
  }

  private tcpPort(port: number): boolean {
    for (const p of this.tcp) if (portInRanges(p.ports, port)) return true;
    return false;
  }

  private protocolsOn(port: number): string {
    return this.tcp.filter((p) => portInRanges(p.ports, port)).map((p) => p.name).join(",");
  }

  /** mihomo's shouldOverride: not skipped, and a pure IP, a DNS-mapped host, or a forced domain. */
  private wanted(m: Metadata): boolean {
    const o = this.options;
    if (o.skipDstAddress && m.destinationIP !== "" && o.skipDstAddress(m.destinationIP)) return false;
    if (o.skipSrcAddress && m.sourceIP !== "" && o.skipSrcAddress(m.sourceIP)) return false;
    if (m.host === "") return o.parsePureIp;
    if (m.dnsMode === "redir-host" && o.forceDnsMapping) return true;
    return this.forced(m);
  }

  private forced(m: Metadata): boolean {
    return m.host !== "" && this.options.forceDomain !== undefined && this.options.forceDomain(m.host);
  }

  /** The first name any TCP protocol on this port finds; NEED_MORE while one still may. */
  private sniffBytes(port: number, bytes: Uint8Array, found: { override: boolean }): Sniffed {
    let verdict: Sniffed = NO_HOST;
    for (const p of this.tcp) {
      if (!portInRanges(p.ports, port)) continue;
      const v = p.parse(bytes);
      if (typeof v === "string") {
        // An address is not a name (mihomo tries the next protocol).
        if (isIP(v) !== 0) continue;
        found.override = p.override;
        return v;
      }
      if (v === NEED_MORE) verdict = NEED_MORE;
    }
    return verdict;
  }

  /**
   * mihomo's replaceDomain, after `skip-domain`: the name always feeds the rules (`sniffHost`);
   * with override it also becomes the host. False when skipped.
   */
  private apply(m: Metadata, host: string, override: boolean, network: string): boolean {
    if (this.options.skipDomain?.(host)) {
      if (logEnabled("debug")) this.log.debug(`[Sniffer] skip sni[${host}]`);
      return false;
    }
    this.failures.delete(failureKey(m));
    if (logEnabled("debug")) this.log.debug(`[Sniffer] sniff ${network} ${m.sourceIP}:${m.sourcePort} --> ${m.destinationIP || m.host}:${m.destinationPort} found ${host}${override ? `, replacing [${m.host}]` : ""}`);
    m.sniffHost = host;
    if (override) {
      // An address from `hosts` belonged to the name being replaced.
      if (m.dnsMode === "hosts") m.destinationIP = "";
      m.host = host;
    }
    m.dnsMode = "normal";
    return true;
  }

  /**
   * What an overridden connection is dialled with (after routing, which saw the client's address,
   * as in mihomo): the `hosts` address of the name, else the name alone so DIRECT resolves it
   * rather than reusing the address the client chose.
   */
  private dialMetadata(m: Metadata, hostsLookup: (host: string) => string | undefined): Metadata {
    const ip = hostsLookup(m.host);
    if (ip) {
      m.destinationIP = ip;
      m.dnsMode = "hosts";
      return m;
    }
    return m.destinationIP === "" ? m : { ...m, destinationIP: "" };
  }

  private failureCount(m: Metadata): number {
    if (this.failures.size === 0) return 0;
    const key = failureKey(m);
    const e = this.failures.get(key);
    if (!e) return 0;
    if (Date.now() - e.at > FAILURES_AGE_MS) {
      this.failures.delete(key);
      return 0;
    }
    return e.count;
  }

  private fail(m: Metadata, times: number): void {
    const key = failureKey(m);
    const count = Math.min(FAILURES_LIMIT + 1, this.failureCount(m) + times);
    this.failures.delete(key);
    this.failures.set(key, { count, at: Date.now() });
    if (this.failures.size > FAILURES_MAX) this.failures.delete(this.failures.keys().next().value!);
  }
}

function failureKey(m: Metadata): string {
  return `${m.destinationIP}|${m.destinationPort}`;
}

/** One UDP flow's wait for its ClientHello: datagrams in, `done` once a name is applied or none will be. */
export class QuicWait {
  readonly done: Promise<void>;
  private settle!: () => void;
  private readonly reader = new QuicSniffer();
  private datagrams = 0;
  private settled = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    first: Uint8Array,
    private readonly found: (host: string) => boolean,
  ) {
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.timer = setTimeout(() => this.finish(NO_HOST), QUIC_WAIT_MS);
    this.push(first);
  }

  /** A client datagram of the flow, while it waits. */
  push(datagram: Uint8Array): void {
    if (this.settled) return;
    const v = this.reader.push(datagram);
    if (v === NEED_MORE && ++this.datagrams < QUIC_MAX_DATAGRAMS) return;
    this.finish(v);
  }

  private finish(v: Sniffed): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (typeof v === "string" && isIP(v) === 0) this.found(v);
    this.settle();
  }
}
