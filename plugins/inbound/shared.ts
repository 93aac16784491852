/** Pieces every inbound plugin shares: listener set-up, handshake timers, metadata, UDP flow tables. */
import type { TCPSocketListener, udp } from "bun";
import { listenTcp, type SocketStream } from "../../src/core/socket-stream.ts";
import {
  createMetadata,
  type InboundCommon,
  type InboundKind,
  type Logger,
  type Metadata,
  type Tunnel,
  type UdpFlow,
} from "../../src/sdk/index.ts";
import { joinHostPort } from "./address.ts";

/** A client must finish its handshake (or send the next request head) within this time. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a connection we answered with an error may stay before we close it ourselves. */
const LINGER_MS = 5_000;
/**
 * The same after an orderly end, which may still have a response tail queued for a slow reader
 * (SocketStream sends the FIN only once its queue is flushed).
 */
export const DRAIN_LINGER_MS = 30_000;

/** What a connection handler needs from its inbound. */
export interface ConnContext {
  common: InboundCommon;
  tunnel: Tunnel;
  log: Logger;
  handshakeTimeoutMs: number;
}

export function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Metadata for one accepted TCP connection; the handler fills in destination and user. */
/** Bytes held from earlier reads followed by a new chunk (a handshake split across reads). */
export function joinPending(prior: Uint8Array | undefined, chunk: Uint8Array): Uint8Array {
  if (!prior) return chunk;
  const data = new Uint8Array(prior.length + chunk.length);
  data.set(prior, 0);
  data.set(chunk, prior.length);
  return data;
}

export function tcpMetadata(ctx: ConnContext, stream: SocketStream, type: InboundKind): Metadata {
  return createMetadata({
    network: "tcp",
    type,
    sourceIP: stream.remoteAddress,
    sourcePort: stream.remotePort,
    inboundIP: stream.localAddress,
    inboundPort: stream.localPort,
    inboundName: ctx.common.name,
    specialProxy: ctx.common.specialProxy,
    specialRules: ctx.common.specialRules,
  });
}

/**
 * True when authentication applies to a client at `ip`: users are configured and the address is
 * not in `skip-auth-prefixes`.
 */
export function authRequired(common: InboundCommon, ip: string): boolean {
  return common.users !== undefined && common.users.size > 0 && !common.skipAuth(ip);
}

export function checkUser(common: InboundCommon, user: string, pass: string): boolean {
  const expected = common.users?.get(user);
  return expected !== undefined && expected === pass;
}

function discard(): void {}

/**
 * Answer and hang up: write the reply, half-close, and keep draining the client's input so the
 * kernel does not turn unread bytes into a RST that would destroy the reply. The connection
 * closes when the client closes its side, or after `lingerMs`. The caller's handlers are dropped.
 */
export function endWithReply(stream: SocketStream, reply?: Uint8Array, lingerMs = LINGER_MS): void {
  if (stream.closed) return;
  stream.onData = discard;
  stream.onDrain = undefined;
  stream.onEnd = undefined;
  if (reply) stream.write(reply);
  stream.end();
  stream.resume();
  // Timers here never keep the process alive on their own (the socket does, while it is open).
  // An error makes the close immediate even with output still queued for a client that stopped reading.
  const timer = setTimeout(() => stream.close(new Error("linger timeout")), lingerMs);
  timer.unref();
  stream.onClose = () => clearTimeout(timer);
}

/** A one-shot timer for a handshake; `arm` restarts it. */
export class Deadline {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ms: number,
    private readonly onExpire: () => void,
  ) {}

  arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.onExpire, this.ms);
    this.timer.unref();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function listenError(proto: string, host: string, port: number, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const reason =
    code === "EADDRINUSE"
      ? "address in use"
      : code === "EACCES"
        ? "permission denied"
        : code === "EADDRNOTAVAIL"
          ? "address not available"
          : errorOf(err).message;
  return new Error(`listen${proto} ${joinHostPort(host, port)}: ${reason}`);
}

/**
 * Bind the TCP listener; the error names the address. Source checks (`lan-allowed-ips`,
 * `lan-disallowed-ips`) run before the handler sees the connection.
 */
export function openTcp(ctx: ConnContext, handler: (stream: SocketStream) => void, port = ctx.common.port): TCPSocketListener<SocketStream> {
  const { common } = ctx;
  try {
    return listenTcp({
      hostname: common.listen,
      port,
      onAccept(stream) {
        if (!common.allowSource(stream.remoteAddress)) {
          ctx.log.debug(`${stream.remoteAddress}:${stream.remotePort} refused by lan-allowed-ips/lan-disallowed-ips`);
          stream.close();
          return;
        }
        handler(stream);
      },
    });
  } catch (err) {
    throw listenError("", common.listen, port, err);
  }
}

export type DatagramHandler = (data: Buffer, port: number, address: string) => void;

/** Bind a UDP socket beside the TCP listener (same address and port, as mihomo does). */
export async function openUdp(ctx: ConnContext, port: number, onDatagram: DatagramHandler): Promise<udp.Socket<"buffer">> {
  const { log, common } = ctx;
  try {
    return await Bun.udpSocket({
      hostname: common.listen,
      port,
      socket: {
        data(_socket, data, fromPort, address, flags) {
          // A truncated datagram would be forwarded corrupt; dropping it is what the sender would see on a small MTU.
          if (flags.truncated) return;
          try {
            onDatagram(data, fromPort, address);
          } catch (err) {
            log.error(`UDP datagram from ${joinHostPort(address, fromPort)}: ${errorOf(err).message}`);
          }
        },
        error(_socket, err) {
          log.warn(`UDP ${joinHostPort(common.listen, port)}: ${err.message}`);
        },
      },
    });
  } catch (err) {
    throw listenError(" udp", common.listen, port, err);
  }
}

interface FlowEntry {
  flow: UdpFlow;
  /** Sweep tick of the last datagram either way. */
  seen: number;
  owner: string;
}

const SWEEP_MS = 10_000;
/**
 * Flows idle for this many sweeps are closed (50–60 s): strictly before the tunnel's own 60 s idle
 * close, so a client that resumes sending gets a fresh flow rather than a closed one.
 */
const IDLE_SWEEPS = 5;

/**
 * NAT table of UDP flows by client address. Activity is stamped with a sweep counter instead of a
 * clock, so the per-datagram path reads no time.
 */
export class UdpFlows {
  private readonly flows = new Map<string, FlowEntry>();
  private tick = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** The live flow for `key`, stamped as active; undefined if none or the tunnel closed it. */
  get(key: string): UdpFlow | undefined {
    const e = this.flows.get(key);
    if (!e) return undefined;
    if (e.flow.closed) {
      this.flows.delete(key);
      return undefined;
    }
    e.seen = this.tick;
    return e.flow;
  }

  /** Stamp activity in the reply direction. */
  touch(key: string): void {
    const e = this.flows.get(key);
    if (e) e.seen = this.tick;
  }

  add(key: string, owner: string, flow: UdpFlow): void {
    this.flows.set(key, { flow, seen: this.tick, owner });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
  }

  /** Close every flow whose owner is `owner` (a SOCKS association ending). */
  closeOwner(owner: string): void {
    for (const [key, e] of this.flows) {
      if (e.owner !== owner) continue;
      this.flows.delete(key);
      e.flow.close();
    }
  }

  closeAll(): void {
    for (const e of this.flows.values()) e.flow.close();
    this.flows.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    this.tick++;
    for (const [key, e] of this.flows) {
      if (this.tick - e.seen < IDLE_SWEEPS && !e.flow.closed) continue;
      this.flows.delete(key);
      e.flow.close();
    }
    if (this.flows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
