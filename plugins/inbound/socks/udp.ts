/**
 * SOCKS5 UDP relay (RFC 1928 §7): one UDP socket beside the TCP listener, on the same address and
 * port as mihomo has it. Datagrams are accepted only from client addresses that hold a live
 * UDP ASSOCIATE control connection; each client address:port is one flow in the tunnel.
 */
import type { udp } from "bun";
import { type SocketStream, unmapIPv4 } from "../../../src/core/socket-stream.ts";
import { createMetadata, normalizeHost } from "../../../src/sdk/index.ts";
import { readSocksAddress, setDestination, socksAddressLength, writeSocksAddress } from "../address.ts";
import { type ConnContext, openUdp, UdpFlows } from "../shared.ts";

interface Association {
  count: number;
  user: string;
}

/**
 * Replies are assembled here (header + payload) and handed to send(), which copies synchronously:
 * no allocation per datagram for the usual sizes.
 */
const scratch = new Uint8Array(65536 + 262);

function discard(): void {}

export class SocksUdpRelay {
  private socket: udp.Socket<"buffer"> | undefined;
  /** By client IP: mihomo keys associations the same way (the UDP source port is not known up front). */
  private readonly associations = new Map<string, Association>();
  private readonly controls = new Set<SocketStream>();
  private readonly flows = new UdpFlows();

  constructor(private readonly ctx: ConnContext) {}

  get port(): number {
    return this.socket?.port ?? 0;
  }

  async open(port: number): Promise<void> {
    this.socket = await openUdp(this.ctx, port, (data, fromPort, address) => this.onDatagram(data, fromPort, address));
  }

  close(): void {
    for (const control of this.controls) control.close();
    this.controls.clear();
    this.associations.clear();
    this.flows.closeAll();
    this.socket?.close();
    this.socket = undefined;
  }

  /** Hold an association for the control connection's client IP until that connection closes. */
  associate(control: SocketStream, user: string): void {
    const ip = control.remoteAddress;
    const entry = this.associations.get(ip);
    if (entry) {
      entry.count++;
      entry.user = user;
    } else {
      this.associations.set(ip, { count: 1, user });
    }
    this.controls.add(control);
    // Nothing more is expected on the control connection; its end ends the association.
    control.onData = discard;
    control.onEnd = () => control.close();
    control.onClose = () => this.release(control, ip);
  }

  private release(control: SocketStream, ip: string): void {
    if (!this.controls.delete(control)) return;
    const entry = this.associations.get(ip);
    if (!entry || --entry.count > 0) return;
    this.associations.delete(ip);
    this.flows.closeOwner(ip);
  }

  /** RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA; fragments (FRAG ≠ 0) are dropped, as the RFC allows. */
  private onDatagram(data: Buffer, fromPort: number, address: string): void {
    const ip = unmapIPv4(address);
    const association = this.associations.get(ip);
    if (!association) return;
    if (data.length < 4 || data[0] !== 0 || data[1] !== 0 || data[2] !== 0) return;
    const dest = readSocksAddress(data, 3, data.length);
    if (typeof dest === "number") return;
    const payload = data.subarray(dest.end);
    const key = `${address}|${fromPort}`;
    const flow = this.flows.get(key);
    if (flow) {
      flow.send(payload, dest.host ? normalizeHost(dest.host) : dest.ip, dest.port);
      return;
    }
    const { common, tunnel } = this.ctx;
    const metadata = createMetadata({
      network: "udp",
      type: "Socks5",
      sourceIP: ip,
      sourcePort: fromPort,
      inboundIP: unmapIPv4(this.socket?.hostname ?? common.listen),
      inboundPort: this.port,
      inboundName: common.name,
      inboundUser: association.user,
      specialProxy: common.specialProxy,
      specialRules: common.specialRules,
    });
    setDestination(metadata, dest.host || dest.ip, dest.port);
    const reply = (bytes: Uint8Array, host: string, port: number) => this.reply(key, bytes, host, port, fromPort, address);
    this.flows.add(key, ip, tunnel.handleUdp({ metadata, reply }, payload));
  }

  /** Wrap a datagram from `host:port` in the SOCKS5 UDP header and send it to the client. */
  private reply(key: string, bytes: Uint8Array, host: string, port: number, toPort: number, toAddress: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.flows.touch(key);
    const room = bytes.length + 3 + socksAddressLength(host);
    const out = room <= scratch.length ? scratch : new Uint8Array(room);
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    const p = writeSocksAddress(out, 3, host, port);
    out.set(bytes, p);
    socket.send(out.subarray(0, p + bytes.length), toPort, toAddress);
  }
}
