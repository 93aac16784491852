/**
 * vless outbound (config.md §7.8). Request: version 0, the user ID, no addons, command (1 TCP,
 * 2 UDP), port, address; then the payload as is (TCP) or as 2-byte length-prefixed datagrams
 * (UDP, one stream per destination). Response: version 0 and an addons blob to skip, then the
 * same framing. Networks and TLS as vmess. `flow: xtls-rprx-vision` and REALITY are checked like
 * mihomo checks them, but not spoken yet: dialing such a proxy fails and says so. UDP is plain
 * VLESS UDP (what v2ray 4.x speaks), also where mihomo would default to XUDP.
 */
import {
  API_VERSION,
  type CreateContext,
  type DialOptions,
  type Duplex,
  definePlugin,
  type Metadata,
  type OptionProblem,
  type Outbound,
  type PacketConn,
  type Static,
  t,
  type Transport,
  UserError,
} from "../../../src/sdk/index.ts";
import { destinationLength, encodeDestination, userId } from "../v2ray-shared/address.ts";
import { type Codec, ProxyConn } from "../v2ray-shared/conn.ts";
import { addrOf, buildTransports, dialStack, networkOf, packetEncoding, streamProblems, v2rayOptions } from "../v2ray-shared/dial.ts";
import { StreamPacketConn } from "../v2ray-shared/packet.ts";
import type { ByteQueue } from "../v2ray-shared/queue.ts";

const COMMAND_TCP = 0x01;
const COMMAND_UDP = 0x02;
const VISION = "xtls-rprx-vision";
const MAX_DATAGRAM = 0xffff;

const options = t.Object({
  ...v2rayOptions,
  flow: t.Optional(t.String()),
  // Older configs' spelling of ws-opts.path / ws-opts.headers.
  "ws-path": t.Optional(t.String()),
  "ws-headers": t.Optional(t.Record(t.String(), t.String())),
});
type Options = Static<typeof options> & { name: string };

/** mihomo's check: a flow of 16 characters or more is cut to 16 and must then be xtls-rprx-vision. */
function flowOf(flow: string | undefined): string {
  if (!flow) return "";
  return flow.length >= 16 ? flow.slice(0, 16) : flow;
}

function validate(o: Options): OptionProblem[] {
  const problems = streamProblems(o);
  try {
    userId(o.uuid, "vless");
  } catch (err) {
    problems.push({ key: "uuid", message: (err as Error).message });
  }
  const flow = flowOf(o.flow);
  if (flow && flow !== VISION) {
    problems.push({ key: "flow", message: `unsupported flow "${o.flow}" (only ${VISION} is)` });
  } else if (flow && networkOf(o) !== "ws") {
    problems.push({ key: "flow", message: `${VISION} is not supported yet: connections through this proxy will fail`, severity: "warning" });
  }
  return problems;
}

/** VLESS framing of one connection: a plain stream, or length-prefixed datagrams. */
class VlessCodec implements Codec {
  /** Bytes of the response head still to skip: -1 before its first two bytes are read. */
  private addons = -1;

  constructor(private readonly packets: boolean) {}

  encode(data: Uint8Array, head: Uint8Array | undefined): Uint8Array {
    if (!this.packets) return head ? Buffer.concat([head, data]) : data;
    const pre = head?.length ?? 0;
    const out = Buffer.allocUnsafe(pre + 2 + data.length);
    if (head) out.set(head);
    out[pre] = data.length >>> 8;
    out[pre + 1] = data.length & 0xff;
    out.set(data, pre + 2);
    return out;
  }

  encodeEnd(): undefined {
    return undefined;
  }

  readHead(q: ByteQueue): "more" | "done" | { error: string } {
    if (this.addons < 0) {
      if (q.length < 2) return "more";
      const version = q.at(0);
      if (version !== 0) return { error: `unexpected response version ${version} (not a VLESS server?)` };
      this.addons = q.at(1);
      q.skip(2);
    }
    if (q.length < this.addons) return "more";
    q.skip(this.addons);
    return "done";
  }

  decode(q: ByteQueue, emit: (data: Uint8Array) => void): boolean {
    if (!this.packets) {
      if (q.length > 0) emit(q.drain());
      return false;
    }
    while (q.length >= 2) {
      const n = (q.at(0) << 8) | q.at(1);
      if (q.length < 2 + n) break;
      q.skip(2);
      emit(q.take(n));
    }
    return false;
  }

  midFrame(): boolean {
    return false;
  }
}

class VlessOutbound implements Outbound {
  readonly type = "Vless";
  readonly name: string;
  readonly supportsUdp: boolean;
  readonly addr: string;
  private readonly label: string;
  private readonly id: Uint8Array;
  private readonly transports: Transport[];
  private readonly unsupported: string | undefined;

  constructor(
    private readonly o: Options,
    private readonly ctx: CreateContext,
  ) {
    this.name = o.name;
    this.label = `vless "${o.name}"`;
    this.supportsUdp = o.udp === true;
    this.addr = addrOf(o.server, o.port);
    this.id = userId(o.uuid, "vless");
    const legacyWs = o["ws-path"] !== undefined || o["ws-headers"] !== undefined;
    const wsOpts = o["ws-opts"] ?? (legacyWs ? { path: o["ws-path"], headers: o["ws-headers"] } : undefined);
    this.transports = buildTransports({ ...o, "ws-opts": wsOpts }, ctx);
    this.unsupported = o["reality-opts"]?.["public-key"]
      ? "REALITY is not supported yet"
      : flowOf(o.flow) && networkOf(o) !== "ws"
        ? `flow ${VISION} is not supported yet`
        : undefined;
  }

  dialTcp(m: Metadata, dial?: DialOptions): Promise<Duplex> {
    return this.open(COMMAND_TCP, m.host || m.destinationIP, m.destinationPort, dial);
  }

  async dialUdp(): Promise<PacketConn> {
    const encoding = packetEncoding(this.o);
    if (encoding) throw new UserError(`${this.label}: UDP with packet-encoding ${encoding} is not supported yet`);
    return new StreamPacketConn((host, port) => this.open(COMMAND_UDP, host, port), this.ctx.log, MAX_DATAGRAM);
  }

  private async open(command: number, host: string, port: number, dial?: DialOptions): Promise<Duplex> {
    if (this.unsupported) throw new UserError(`${this.label}: ${this.unsupported}`);
    const head = new Uint8Array(1 + 16 + 1 + 1 + destinationLength(host));
    head.set(this.id, 1);
    head[18] = command;
    encodeDestination(head, 19, host, port);
    const stream = await dialStack(this.ctx, this.o, this.transports, this.label, dial);
    return new ProxyConn(stream, head, new VlessCodec(command === COMMAND_UDP), this.label);
  }
}

export default definePlugin({
  name: "outbound-vless",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("vless", {
      options,
      validate,
      create: (o, ctx) => new VlessOutbound(o, ctx),
    });
  },
});
