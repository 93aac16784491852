/**
 * UDP through a Shadowsocks server: native UDP relay (a connected `Bun.udpSocket` to the server,
 * or the `dialer-proxy`'s own UDP), and sing's UDP-over-TCP (versions 1 and 2) inside a TCP
 * Shadowsocks connection.
 */
import { isIP } from "node:net";
import { type CreateContext, createMetadata, type Duplex, type Logger, type Packet, type PacketConn } from "../../../src/sdk/index.ts";
import { encodeAddress, SOCKS, UOT, decodeAddress } from "./address.ts";
import type { UdpCodec } from "./udp-codec.ts";

/** Raw datagrams to and from the proxy server. */
interface ServerDatagrams {
  send(data: Uint8Array): void;
  close(): void;
}

/**
 * Datagrams to the server. The name is resolved once per association with the core's resolver;
 * with `dialer-proxy` the datagrams go through that proxy's UDP instead.
 */
async function serverDatagrams(
  ctx: CreateContext,
  server: string,
  port: number,
  dialerProxy: string | undefined,
  onData: (data: Uint8Array) => void,
  onClose: (err?: Error) => void,
): Promise<ServerDatagrams> {
  if (dialerProxy) {
    const via = ctx.outbound(dialerProxy);
    if (!via) throw new Error(`dialer-proxy "${dialerProxy}" not found`);
    if (!via.dialUdp || !via.supportsUdp) throw new Error(`dialer-proxy "${dialerProxy}" does not support UDP`);
    const ip = isIP(server) ? server : "";
    const conn = await via.dialUdp(createMetadata({ network: "udp", type: "Inner", host: ip ? "" : server, destinationIP: ip, destinationPort: port }));
    conn.onPacket = (p) => onData(p.data);
    conn.onClose = onClose;
    return { send: (data) => conn.send({ data, host: server, port }), close: () => conn.close() };
  }
  const ip = isIP(server) ? server : await ctx.resolve(server);
  const socket = await Bun.udpSocket({
    connect: { hostname: ip, port },
    socket: {
      data: (_s, data) => onData(data),
      error: (_s, err) => onClose(err),
    },
  });
  return { send: (data) => void socket.send(data), close: () => socket.close() };
}

class ShadowPacketConn implements PacketConn {
  onPacket: ((packet: Packet) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  transport: ServerDatagrams | undefined;

  constructor(
    private readonly codec: UdpCodec,
    private readonly log: Logger,
    private readonly label: string,
  ) {}

  send(p: Packet): void {
    if (this.closed) return;
    let sealed: Uint8Array;
    try {
      sealed = this.codec.encode(p.data, p.host, p.port);
    } catch (err) {
      this.log.debug(`[UDP] ${this.label}: ${p.host}:${p.port}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.transport?.send(sealed);
  }

  receive(data: Uint8Array): void {
    if (this.closed) return;
    const p = this.codec.decode(data);
    if (typeof p === "string") this.log.debug(`[UDP] ${this.label}: dropped a packet from the server: ${p}`);
    else this.onPacket?.(p);
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.transport?.close();
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}

export async function nativeUdp(
  ctx: CreateContext,
  codec: UdpCodec,
  o: { server: string; port: number; dialerProxy: string | undefined; label: string },
): Promise<PacketConn> {
  const conn = new ShadowPacketConn(codec, ctx.log, o.label);
  conn.transport = await serverDatagrams(
    ctx,
    o.server,
    o.port,
    o.dialerProxy,
    (d) => conn.receive(d),
    (err) => conn.close(err),
  );
  return conn;
}

/** sing UoT: the TCP destination that tells the server the stream carries datagrams. */
export function uotMagic(version: 1 | 2): string {
  return version === 2 ? "sp.v2.udp-over-tcp.arpa" : "sp.udp-over-tcp.arpa";
}

/**
 * Datagrams inside a stream: `address (UoT family bytes) ‖ u16 length ‖ payload` each way; version
 * 2 first sends `isConnect = 0 ‖ SOCKS address of the first destination`. A datagram written while
 * the stream is congested is dropped, as UDP would be.
 */
export class UotPacketConn implements PacketConn {
  onPacket: ((packet: Packet) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  private congested = false;
  private buffered: Uint8Array | undefined;

  constructor(
    private readonly stream: Duplex,
    version: 1 | 2,
    first: { host: string; port: number },
  ) {
    if (version === 2) {
      const addr = encodeAddress(first.host, first.port, SOCKS);
      const request = new Uint8Array(1 + addr.length);
      request.set(addr, 1);
      stream.write(request);
    }
    stream.onData = (d) => this.receive(d);
    stream.onDrain = () => {
      this.congested = false;
    };
    stream.onEnd = () => this.close();
    stream.onClose = (err) => this.close(err);
    stream.resume();
  }

  send(p: Packet): void {
    if (this.closed || this.congested) return;
    const addr = encodeAddress(p.host, p.port, UOT);
    const frame = new Uint8Array(addr.length + 2 + p.data.length);
    frame.set(addr);
    frame[addr.length] = p.data.length >> 8;
    frame[addr.length + 1] = p.data.length & 0xff;
    frame.set(p.data, addr.length + 2);
    if (!this.stream.write(frame)) this.congested = true;
  }

  private receive(data: Uint8Array): void {
    let b = data;
    if (this.buffered) {
      b = new Uint8Array(this.buffered.length + data.length);
      b.set(this.buffered);
      b.set(data, this.buffered.length);
      this.buffered = undefined;
    }
    let off = 0;
    while (off < b.length) {
      if (b[off]! > 2) {
        this.close(new Error("UDP-over-TCP: bad address type from the server"));
        return;
      }
      const a = decodeAddress(b, off, UOT);
      if (!a || b.length < a.end + 2) break;
      const n = (b[a.end]! << 8) | b[a.end + 1]!;
      if (b.length < a.end + 2 + n) break;
      this.onPacket?.({ data: b.subarray(a.end + 2, a.end + 2 + n), host: a.host, port: a.port });
      off = a.end + 2 + n;
    }
    if (off < b.length) this.buffered = b.slice(off);
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.close(err);
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}
