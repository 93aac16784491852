import type { TCPSocketListener, udp } from "bun";
import { type SocketStream, unmapIPv4 } from "../../../src/core/socket-stream.ts";
import { API_VERSION, createMetadata, definePlugin, type Inbound, t, UserError } from "../../../src/sdk/index.ts";
import { joinHostPort, setDestination, splitHostPort } from "../address.ts";
import { bindTcpThenUdp } from "../../../src/core/port-pair.ts";
import { type ConnContext, HANDSHAKE_TIMEOUT_MS, openTcp, openUdp, tcpMetadata, UdpFlows } from "../shared.ts";

const options = t.Object({
  network: t.Array(t.Union([t.Literal("tcp"), t.Literal("udp")]), { minItems: 1 }),
  target: t.String(),
});

/** TCP: every connection goes to the target. The stream is paused until the tunnel is ready to relay. */
function serveTcp(ctx: ConnContext, stream: SocketStream, host: string, port: number): void {
  const metadata = tcpMetadata(ctx, stream, "Tunnel");
  setDestination(metadata, host, port);
  stream.pause();
  ctx.tunnel.handleTcp({
    metadata,
    stream,
    onReady(result) {
      if (stream.closed) return;
      if (result.ok) stream.resume();
      else stream.close(result.error);
    },
  });
}

/**
 * UDP: datagrams to the listener's port go to the target, one flow per client address; replies
 * go back from the listener socket, whatever address they came from.
 */
class TunnelUdp {
  private socket: udp.Socket<"buffer"> | undefined;
  private readonly flows = new UdpFlows();

  constructor(
    private readonly ctx: ConnContext,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get port(): number {
    return this.socket?.port ?? 0;
  }

  async open(port: number): Promise<void> {
    this.socket = await openUdp(this.ctx, port, (data, fromPort, address) => this.onDatagram(data, fromPort, address));
  }

  close(): void {
    this.flows.closeAll();
    this.socket?.close();
    this.socket = undefined;
  }

  private onDatagram(data: Buffer, fromPort: number, address: string): void {
    const key = `${address}|${fromPort}`;
    const flow = this.flows.get(key);
    if (flow) {
      flow.send(data, this.targetHost, this.targetPort);
      return;
    }
    const { common, tunnel } = this.ctx;
    const source = unmapIPv4(address);
    if (!common.allowSource(source)) return;
    const metadata = createMetadata({
      network: "udp",
      type: "Tunnel",
      sourceIP: source,
      sourcePort: fromPort,
      inboundIP: unmapIPv4(this.socket?.hostname ?? common.listen),
      inboundPort: this.port,
      inboundName: common.name,
      specialProxy: common.specialProxy,
      specialRules: common.specialRules,
    });
    setDestination(metadata, this.targetHost, this.targetPort);
    const reply = (bytes: Uint8Array) => {
      this.flows.touch(key);
      this.socket?.send(bytes, fromPort, address);
    };
    this.flows.add(key, source, tunnel.handleUdp({ metadata, reply }, data));
  }
}

/** Port forward (`tunnels`, `listeners[].type: tunnel`): everything on the port goes to `target`. */
export default definePlugin({
  name: "inbound-tunnel",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerInbound("tunnel", {
      options,
      create(o, common, ctx): Inbound {
        const target = splitHostPort(o.target);
        if (!target || target.port === 0) throw new UserError(`target "${o.target}" must be host:port`);
        const conn: ConnContext = { common, tunnel: ctx.tunnel, log: ctx.log, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS };
        const tcpOn = o.network.includes("tcp");
        const udpOn = o.network.includes("udp");
        let listener: TCPSocketListener<SocketStream> | undefined;
        let relay: TunnelUdp | undefined;
        let boundPort = 0;
        return {
          async start() {
            const tcpAt = (port: number) => openTcp(conn, (stream) => serveTcp(conn, stream, target.host, target.port), port);
            if (udpOn) {
              const u = new TunnelUdp(conn, target.host, target.port);
              if (tcpOn) listener = (await bindTcpThenUdp(common.port, tcpAt, (port) => u.open(port))).tcp;
              else await u.open(common.port);
              relay = u;
            } else {
              listener = tcpAt(common.port);
            }
            boundPort = listener ? listener.port : relay!.port;
          },
          close() {
            listener?.stop();
            listener = undefined;
            relay?.close();
            relay = undefined;
            boundPort = 0;
          },
          addresses: () => (boundPort ? [joinHostPort(common.listen, boundPort)] : []),
        };
      },
    });
  },
});
