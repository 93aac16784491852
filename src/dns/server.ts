import type { Socket, TCPSocketListener, udp } from "bun";
import { bindTcpThenUdp } from "../core/port-pair.ts";
import type { Logger } from "../sdk/types.ts";
import type { DnsHandler } from "./handler.ts";
import { decodeMessage, encodeMessage, frameTcp, TcpFramer, TRUNCATED } from "./message.ts";

/** Largest UDP answer for a client that did not advertise EDNS0 (RFC 1035). */
const PLAIN_UDP_MAX = 512;
/** A TCP client may send at most this much before a complete message (2-byte length + 64 KiB). */
const TCP_BUFFER_MAX = 65_537;

interface TcpState {
  framer: TcpFramer;
}

/**
 * `dns.listen`: ferry's DNS server on UDP and TCP at one address. The handler is swapped on
 * reload so the sockets (and clients' in-flight queries) survive a config change. A malformed
 * query is dropped (UDP) or closes that connection (TCP); the server itself never fails on input.
 */
export class DnsServer {
  private udpSocket: udp.Socket<"uint8array"> | undefined;
  private tcp: TCPSocketListener<TcpState> | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private handler: DnsHandler,
    private readonly log: Logger,
  ) {}

  setHandler(handler: DnsHandler): void {
    this.handler = handler;
  }

  get addresses(): string[] {
    const h = this.host.includes(":") ? `[${this.host}]` : this.host;
    return [`${h}:${this.udpSocket?.port ?? this.port}`];
  }

  /** The UDP port bound (the TCP listener takes the same one). */
  get boundPort(): number {
    return this.udpSocket?.port ?? this.port;
  }

  async start(): Promise<void> {
    const pair = await bindTcpThenUdp(
      this.port,
      (port) => this.listenTcp(port),
      (port) => this.bindUdp(port),
    );
    this.tcp = pair.tcp;
    this.udpSocket = pair.udp;
  }

  private bindUdp(port: number): Promise<udp.Socket<"uint8array">> {
    const self = this;
    return Bun.udpSocket({
      hostname: this.host,
      port,
      binaryType: "uint8array",
      socket: {
        data(socket, data, port, address) {
          self.answerUdp(data).then(
            (reply) => {
              if (reply) socket.send(reply, port, address);
            },
            (err) => self.log.debug(`dns: ${address}:${port}: ${err instanceof Error ? err.message : String(err)}`),
          );
        },
      },
    });
  }

  private listenTcp(port: number): TCPSocketListener<TcpState> {
    const self = this;
    return Bun.listen<TcpState>({
      hostname: this.host,
      port,
      socket: {
        open(socket) {
          socket.data = { framer: new TcpFramer() };
        },
        data(socket, chunk) {
          self.readTcp(socket, chunk);
        },
        error() {},
      },
    });
  }

  close(): void {
    this.udpSocket?.close();
    this.tcp?.stop(true);
    this.udpSocket = undefined;
    this.tcp = undefined;
  }

  private async answerUdp(data: Uint8Array): Promise<Uint8Array | undefined> {
    const query = decodeMessage(data);
    const opt = query.additionals?.find((a) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
    const limit = opt ? Math.max(opt.udpPayloadSize ?? PLAIN_UDP_MAX, PLAIN_UDP_MAX) : PLAIN_UDP_MAX;
    const answer = await this.handler.handle(query);
    let wire = encodeMessage(answer);
    if (wire.length > limit) {
      // Too big for this client over UDP: say so (TC) so it retries over TCP.
      wire = encodeMessage({ ...answer, flags: (answer.flags ?? 0) | TRUNCATED, answers: [], authorities: [], additionals: [] });
    }
    return wire;
  }

  private readTcp(socket: Socket<TcpState>, chunk: Uint8Array): void {
    const framer = socket.data.framer;
    framer.push(chunk, (message) => {
      this.handler.handleWire(message).then(
        (reply) => socket.write(frameTcp(reply)),
        (err) => {
          this.log.debug(`dns tcp: ${err instanceof Error ? err.message : String(err)}`);
          socket.end();
        },
      );
    });
    if (framer.buffered > TCP_BUFFER_MAX) socket.end();
  }
}
