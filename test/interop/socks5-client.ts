/**
 * A minimal SOCKS5 client for driving ferry's mixed/socks port from interop tests: CONNECT to an
 * IPv4 target (a SocketStream carrying the bytes afterwards) and UDP ASSOCIATE (a UDP socket that
 * wraps and unwraps datagrams). IPv4 literals only: no name resolution anywhere.
 */
import type { udp } from "bun";
import { connectTcp, type SocketStream } from "../../src/core/socket-stream.ts";

/** Reads exact byte counts from a stream during a handshake; leftover bytes stay queued. */
class Reader {
  private buf = new Uint8Array(0);
  private want: { n: number; resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly stream: SocketStream) {
    stream.onData = (chunk) => {
      const next = new Uint8Array(this.buf.length + chunk.length);
      next.set(this.buf);
      next.set(chunk, this.buf.length);
      this.buf = next;
      this.pump();
    };
    stream.onClose = (err) => this.want?.reject(err ?? new Error("closed during the SOCKS5 handshake"));
    stream.onEnd = () => this.want?.reject(new Error("EOF during the SOCKS5 handshake"));
  }

  read(n: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
      this.pump();
    });
  }

  /** Bytes past the handshake; the stream is paused and its callbacks released for the caller. */
  release(): Uint8Array {
    this.stream.pause();
    this.stream.onData = undefined;
    this.stream.onClose = undefined;
    this.stream.onEnd = undefined;
    return this.buf;
  }

  private pump(): void {
    const w = this.want;
    if (!w || this.buf.length < w.n) return;
    this.want = undefined;
    const out = this.buf.subarray(0, w.n);
    this.buf = this.buf.subarray(w.n);
    w.resolve(out);
  }
}

const ipv4 = (ip: string) => ip.split(".").map(Number);

async function handshake(proxyPort: number, cmd: number, ip: string, port: number) {
  const stream = await connectTcp("127.0.0.1", proxyPort);
  const reader = new Reader(stream);
  stream.write(Uint8Array.of(5, 1, 0));
  const greeting = await reader.read(2);
  if (greeting[1] !== 0) throw new Error(`SOCKS5 greeting refused (${greeting[1]})`);
  stream.write(Uint8Array.of(5, cmd, 0, 1, ...ipv4(ip), port >> 8, port & 255));
  const reply = await reader.read(10);
  if (reply[1] !== 0) throw new Error(`SOCKS5 request refused (reply ${reply[1]})`);
  return { stream, reader, bound: { ip: `${reply[4]}.${reply[5]}.${reply[6]}.${reply[7]}`, port: (reply[8]! << 8) | reply[9]! } };
}

/** CONNECT through the proxy; returns the stream (not yet resumed) and any bytes already received. */
export async function socksConnect(proxyPort: number, ip: string, port: number): Promise<{ stream: SocketStream; head: Uint8Array }> {
  const { stream, reader } = await handshake(proxyPort, 1, ip, port);
  return { stream, head: reader.release() };
}

export interface SocksUdp {
  send(data: Uint8Array, ip: string, port: number): void;
  onPacket: ((data: Uint8Array, ip: string, port: number) => void) | undefined;
  close(): void;
}

/** UDP ASSOCIATE; the association lives as long as the returned object is open. */
export async function socksUdp(proxyPort: number): Promise<SocksUdp> {
  const { stream, reader, bound } = await handshake(proxyPort, 3, "0.0.0.0", 0);
  reader.release();
  const relayIp = bound.ip === "0.0.0.0" ? "127.0.0.1" : bound.ip;
  const result: SocksUdp = {
    onPacket: undefined,
    send(data, ip, port) {
      const header = Uint8Array.of(0, 0, 0, 1, ...ipv4(ip), port >> 8, port & 255);
      const out = new Uint8Array(header.length + data.length);
      out.set(header);
      out.set(data, header.length);
      socket.send(out, bound.port, relayIp);
    },
    close() {
      socket.close();
      stream.close();
    },
  };
  const socket: udp.Socket<"buffer"> = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(_s, d) {
        if (d[3] !== 1) return;
        result.onPacket?.(d.subarray(10), `${d[4]}.${d[5]}.${d[6]}.${d[7]}`, (d[8]! << 8) | d[9]!);
      },
    },
  });
  return result;
}
