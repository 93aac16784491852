/**
 * UDP over VMess/VLESS without XUDP: each request carries one destination, so a flow to several
 * destinations gets one proxied stream per destination (mihomo instead drops datagrams to any
 * address but the first). Bounded: at most MAX_STREAMS destinations (the oldest is closed to make
 * room), MAX_QUEUED datagrams waiting for a stream to open, and datagrams are dropped while the
 * stream's socket is congested, as a congested link would drop them (and those the protocol
 * cannot frame).
 */
import type { Duplex, Logger, Packet, PacketConn } from "../../../src/sdk/index.ts";
import { messageOf } from "./dial.ts";

const MAX_STREAMS = 16;
const MAX_QUEUED = 64;

interface Flow {
  stream: Duplex | undefined;
  queue: Uint8Array[];
  congested: boolean;
}

export class StreamPacketConn implements PacketConn {
  onPacket: ((packet: Packet) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  private readonly flows = new Map<string, Flow>();

  constructor(
    /** Open a datagram stream to one destination: each write is a datagram, each onData one. */
    private readonly open: (host: string, port: number) => Promise<Duplex>,
    private readonly log: Logger,
    private readonly maxDatagram: number,
    /** VMess cannot carry an empty datagram: an empty chunk ends its stream. */
    private readonly minDatagram = 0,
  ) {}

  send(p: Packet): void {
    if (this.closed || p.data.length > this.maxDatagram || p.data.length < this.minDatagram) return;
    const key = `${p.host}\0${p.port}`;
    let flow = this.flows.get(key);
    if (!flow) flow = this.start(key, p.host, p.port);
    if (!flow.stream) {
      if (flow.queue.length < MAX_QUEUED) flow.queue.push(p.data);
      return;
    }
    if (!flow.congested && !flow.stream.write(p.data)) flow.congested = true;
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.flows.values()) f.stream?.close();
    this.flows.clear();
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }

  private start(key: string, host: string, port: number): Flow {
    if (this.flows.size >= MAX_STREAMS) {
      const [oldestKey, oldest] = this.flows.entries().next().value!;
      this.flows.delete(oldestKey);
      oldest.stream?.close();
    }
    const flow: Flow = { stream: undefined, queue: [], congested: false };
    this.flows.set(key, flow);
    this.open(host, port).then(
      (stream) => {
        if (this.closed || this.flows.get(key) !== flow) {
          stream.close();
          return;
        }
        flow.stream = stream;
        stream.onData = (data) => this.onPacket?.({ data, host, port });
        stream.onDrain = () => {
          flow.congested = false;
        };
        stream.onEnd = () => stream.close();
        stream.onClose = (err) => {
          if (err) this.log.debug(`[UDP] ${host}:${port}: ${err.message}`);
          if (this.flows.get(key) === flow) this.flows.delete(key);
        };
        for (const data of flow.queue.splice(0)) this.send({ data, host, port });
      },
      (err) => {
        this.log.warn(`[UDP] ${host}:${port}: ${messageOf(err)}`);
        if (this.flows.get(key) === flow) this.flows.delete(key);
      },
    );
    return flow;
  }
}
