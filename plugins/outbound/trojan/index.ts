/**
 * trojan outbound (config.md §7.9): TLS always, optionally WebSocket or gRPC inside it; TCP CONNECT
 * and UDP ASSOCIATE. The server is reached through `ctx.dialServer`, so `dialer-proxy` chains work.
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
  type Packet,
  type PacketConn,
  type Static,
  t,
  type Transport,
  UserError,
} from "../../../src/sdk/index.ts";
import {
  commonOptions,
  grpcOptionsFrom,
  grpcOptsSchema,
  normalizeFingerprint,
  serverOptions,
  tlsOptionsFrom,
  wsOptionsFrom,
  wsOptsSchema,
} from "../common.ts";
import { CMD_CONNECT, CMD_UDP_ASSOCIATE, MAX_UDP_FRAME, passwordKey, requestHeader, UdpFrameReader, udpFrame } from "./protocol.ts";

const options = t.Object({
  ...serverOptions,
  password: t.String(),
  ...commonOptions,
  sni: t.Optional(t.String()),
  alpn: t.Optional(t.Array(t.String())),
  "skip-cert-verify": t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String()),
  "client-fingerprint": t.Optional(t.String()),
  network: t.Optional(t.Union([t.Literal(""), t.Literal("tcp"), t.Literal("ws"), t.Literal("grpc")])),
  "ws-opts": t.Optional(wsOptsSchema),
  "grpc-opts": t.Optional(grpcOptsSchema),
  "reality-opts": t.Optional(t.Object({ "public-key": t.Optional(t.String()), "short-id": t.Optional(t.String()) })),
  "ss-opts": t.Optional(
    t.Object({
      enabled: t.Optional(t.Boolean()),
      method: t.Optional(
        t.Union([t.Literal("aes-128-gcm"), t.Literal("aes-256-gcm"), t.Literal("chacha20-ietf-poly1305")], { caseInsensitive: true }),
      ),
      password: t.Optional(t.String()),
    }),
  ),
  // XTLS leftovers that mihomo reads and ignores; declared so they are not "unknown keys".
  flow: t.Optional(t.String()),
  "flow-show": t.Optional(t.Boolean()),
});
type Options = Static<typeof options> & { name: string };

/** mihomo's ALPN defaults: `h2, http/1.1` on plain TLS, `http/1.1` under WebSocket. */
const DEFAULT_ALPN = ["h2", "http/1.1"];
const WS_ALPN = ["http/1.1"];
/** gRPC needs HTTP/2 (Go's HTTP/2 client in mihomo offers h2 by itself). */
const GRPC_ALPN = ["h2"];

/** Unwritten UDP bytes allowed while the stream is congested; datagrams beyond are dropped, as a congested link would. */
const UDP_BACKLOG_MAX = 4 * 1024 * 1024;

function validate(o: Options): OptionProblem[] {
  const problems: OptionProblem[] = [];
  if (o.fingerprint) {
    try {
      normalizeFingerprint(o.fingerprint);
    } catch (err) {
      problems.push({ key: "fingerprint", message: (err as Error).message });
    }
  }
  const ss = o["ss-opts"];
  if (ss?.enabled && !ss.password) problems.push({ key: "ss-opts.password", message: "required when ss-opts is enabled" });
  if (o["reality-opts"]?.["public-key"]) {
    problems.push({ key: "reality-opts", message: "REALITY is not supported yet: connections through this proxy will fail", severity: "warning" });
  }
  if (ss?.enabled) {
    problems.push({ key: "ss-opts", message: "trojan-go's shadowsocks layer is not supported yet: connections through this proxy will fail", severity: "warning" });
  }
  return problems;
}

class TrojanOutbound implements Outbound {
  readonly name: string;
  readonly type = "Trojan";
  readonly supportsUdp: boolean;
  readonly addr: string;
  private readonly key: Uint8Array;
  private readonly tls: Transport;
  /** WebSocket or gRPC inside the TLS stream, when `network` asks for one. */
  private readonly inner: Transport | undefined;
  /** Why every dial fails (a feature the options ask for that ferry lacks), or undefined. */
  private readonly unsupported: string | undefined;

  constructor(
    private readonly o: Options,
    private readonly ctx: CreateContext,
  ) {
    this.name = o.name;
    this.supportsUdp = o.udp === true;
    this.addr = o.server.includes(":") ? `[${o.server}]:${o.port}` : `${o.server}:${o.port}`;
    this.key = passwordKey(o.password);
    const network = o.network || "tcp";
    const tlsOptions = tlsOptionsFrom(o, o.server);
    tlsOptions.alpn ??= network === "ws" ? WS_ALPN : network === "grpc" ? GRPC_ALPN : DEFAULT_ALPN;
    this.tls = transport(ctx, "tls").create(tlsOptions, ctx);
    // mihomo sends the SNI (else the server) as the ws Host / gRPC :authority, unless ws-opts.headers has a Host.
    const host = o.sni || o.server;
    this.inner =
      network === "ws"
        ? transport(ctx, "ws").create(wsOptionsFrom(o["ws-opts"], host), ctx)
        : network === "grpc"
          ? transport(ctx, "grpc").create(grpcOptionsFrom(o["grpc-opts"], host), ctx)
          : undefined;
    this.unsupported = o["reality-opts"]?.["public-key"]
      ? "REALITY is not supported yet"
      : o["ss-opts"]?.enabled
        ? "ss-opts (trojan-go's shadowsocks layer) is not supported yet"
        : undefined;
  }

  async dialTcp(m: Metadata, dial?: DialOptions): Promise<Duplex> {
    const stream = await this.connect(dial);
    stream.write(requestHeader(this.key, CMD_CONNECT, m.host || m.destinationIP, m.destinationPort));
    return stream;
  }

  async dialUdp(m: Metadata, dial?: DialOptions): Promise<PacketConn> {
    const stream = await this.connect(dial);
    stream.write(requestHeader(this.key, CMD_UDP_ASSOCIATE, m.host || m.destinationIP, m.destinationPort));
    return new TrojanPackets(stream);
  }

  /** TCP to the server (through dialer-proxy if set), TLS, then WebSocket or gRPC when configured. */
  private async connect(dial?: DialOptions): Promise<Duplex> {
    if (this.unsupported) throw new UserError(`${this.name}: ${this.unsupported}`);
    const raw = await this.ctx.dialServer(this.o.server, this.o.port, { signal: dial?.signal, dialerProxy: this.o["dialer-proxy"] });
    try {
      const secure = await this.tls.wrap(raw, dial);
      return this.inner ? await this.inner.wrap(secure, dial) : secure;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      raw.close(error);
      throw new Error(`trojan ${this.addr}: ${error.message}`);
    }
  }
}

function transport(ctx: CreateContext, name: string) {
  const definition = ctx.transport(name);
  if (!definition) throw new UserError(`the "${name}" transport is not registered`);
  return definition;
}

/** UDP ASSOCIATE: datagrams framed on one trojan stream, in both directions. */
class TrojanPackets implements PacketConn {
  onPacket: ((packet: Packet) => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  private readonly reader = new UdpFrameReader();
  /** Bytes written since the stream last said it was congested (0 while it is not). */
  private backlog = 0;
  private congested = false;

  constructor(private readonly stream: Duplex) {
    stream.onData = (chunk) => {
      try {
        this.reader.push(chunk, (p) => this.onPacket?.(p));
      } catch (err) {
        this.close(err as Error);
      }
    };
    stream.onDrain = () => {
      this.congested = false;
      this.backlog = 0;
    };
    stream.onEnd = () => this.close();
    stream.onClose = (err) => this.finish(err);
    stream.resume();
  }

  send(p: Packet): void {
    if (this.closed) return;
    let at = 0;
    do {
      const frame = udpFrame(p.host, p.port, p.data.subarray(at, at + MAX_UDP_FRAME));
      at += MAX_UDP_FRAME;
      if (this.congested) {
        if (this.backlog + frame.length > UDP_BACKLOG_MAX) return;
        this.backlog += frame.length;
      }
      if (!this.stream.write(frame)) this.congested = true;
    } while (at < p.data.length);
  }

  close(err?: Error): void {
    this.stream.close(err);
    this.finish(err);
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
  }
}

export default definePlugin({
  name: "outbound-trojan",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("trojan", {
      options,
      validate,
      create: (o, ctx) => new TrojanOutbound(o, ctx),
    });
  },
});
