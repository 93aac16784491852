/**
 * vmess outbound (config.md §7.7): AEAD header for alterId 0, legacy MD5 header above; securities
 * aes-128-gcm, chacha20-poly1305, none/zero (mihomo sends the same for both: plain bytes on TCP,
 * bare chunks on UDP); chunk masking for the AEAD securities, global padding when asked; network
 * tcp, ws, http, h2 (and grpc where a transport registers it), with TLS. UDP is plain VMess UDP
 * (command 2, a chunk per datagram), one stream per destination; XUDP and packet-addr are not
 * spoken yet, nor REALITY or authenticated length: proxies that ask for them fail to dial with a
 * message that says so.
 */
import { createHash } from "node:crypto";
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
import { type Aead, chacha20Poly1305 } from "../ss/aead.ts";
import { userId } from "../v2ray-shared/address.ts";
import { type Codec, ProxyConn } from "../v2ray-shared/conn.ts";
import { addrOf, buildTransports, dialStack, packetEncoding, streamProblems, v2rayOptions } from "../v2ray-shared/dial.ts";
import { StreamPacketConn } from "../v2ray-shared/packet.ts";
import type { ByteQueue } from "../v2ray-shared/queue.ts";
import { ChunkOpener, ChunkSealer, MAX_CHUNK } from "./body.ts";
import { aes128Gcm } from "./gcm.ts";
import {
  authIdKey,
  COMMAND_TCP,
  COMMAND_UDP,
  cmdKey,
  firstAlterId,
  OPTION_CHUNK_MASKING,
  OPTION_CHUNK_STREAM,
  OPTION_GLOBAL_PADDING,
  type RequestParams,
  ResponseHead,
  randomRequest,
  responseKeys,
  type Security,
  sealAeadHeader,
  sealLegacyHeader,
} from "./protocol.ts";

const CIPHERS = ["auto", "aes-128-gcm", "chacha20-poly1305", "none", "zero"] as const;

const options = t.Object({
  ...v2rayOptions,
  alterId: t.Integer(),
  cipher: t.Union(
    CIPHERS.map((c) => t.Literal(c)),
    { caseInsensitive: true },
  ),
  "global-padding": t.Optional(t.Boolean()),
  "authenticated-length": t.Optional(t.Boolean()),
});
type Options = Static<typeof options> & { name: string };

function validate(o: Options): OptionProblem[] {
  const problems = streamProblems(o);
  if (o.alterId < 0) problems.push({ key: "alterId", message: `must not be negative (got ${o.alterId})` });
  if (o["authenticated-length"]) {
    problems.push({
      key: "authenticated-length",
      message: "authenticated length is not supported yet: connections through this proxy will fail",
      severity: "warning",
    });
  }
  return problems;
}

/** `auto` as mihomo resolves it: AES-128-GCM where the CPU has AES instructions (amd64, arm64, s390x). */
function securityOf(cipher: (typeof CIPHERS)[number]): Security {
  if (cipher === "auto") return ["x64", "arm64", "s390x"].includes(process.arch) ? "aes-128-gcm" : "chacha20-poly1305";
  return cipher === "zero" ? "none" : cipher;
}

const EMPTY = new Uint8Array(0);
/** A datagram must fit a chunk: 16-bit size covering payload, tag and up to 63 bytes of padding. */
const MAX_DATAGRAM = 0xffff - 16 - 63;

/** ChaCha20-Poly1305 body keys are MD5(key) ‖ MD5(MD5(key)) (v2ray's GenerateChacha20Poly1305Key). */
function chachaKey(key: Uint8Array): Uint8Array {
  const a = createHash("md5").update(key).digest();
  return Buffer.concat([a, createHash("md5").update(a).digest()]);
}

/** VMess framing of one connection. */
class VmessCodec implements Codec {
  private readonly sealer: ChunkSealer | undefined;
  private readonly opener: ChunkOpener | undefined;
  private readonly head: ResponseHead;

  constructor(
    p: RequestParams,
    aead: Aead | undefined,
    legacy: boolean,
    private readonly packets: boolean,
  ) {
    const response = responseKeys(p, legacy);
    this.head = new ResponseHead(p.responseByte, response, legacy);
    if (p.options & OPTION_CHUNK_STREAM) {
      const keyOf = p.security === "chacha20-poly1305" ? chachaKey : (k: Uint8Array) => k;
      const masking = (p.options & OPTION_CHUNK_MASKING) !== 0;
      const padding = (p.options & OPTION_GLOBAL_PADDING) !== 0;
      this.sealer = new ChunkSealer({ aead, key: keyOf(p.bodyKey), iv: p.bodyIv, masking, padding });
      this.opener = new ChunkOpener({ aead, key: keyOf(response.key), iv: response.iv, masking, padding });
    }
  }

  encode(data: Uint8Array, head: Uint8Array | undefined): Uint8Array {
    if (this.sealer) return this.sealer.seal(data, head, this.packets ? Number.POSITIVE_INFINITY : MAX_CHUNK);
    return head ? Buffer.concat([head, data]) : data;
  }

  encodeEnd(head: Uint8Array | undefined): Uint8Array | undefined {
    return this.sealer?.seal(EMPTY, head);
  }

  readHead(q: ByteQueue): "more" | "done" | { error: string } {
    return this.head.feed(q);
  }

  decode(q: ByteQueue, emit: (data: Uint8Array) => void): boolean {
    const opener = this.opener;
    if (!opener) {
      if (q.length > 0) emit(q.drain());
      return false;
    }
    if (this.packets) {
      for (;;) {
        const datagram = opener.openOne(q);
        if (datagram === undefined) return false;
        if (datagram === null) return true;
        emit(datagram);
      }
    }
    const { data, end } = opener.openAll(q);
    if (data) emit(data);
    return end;
  }

  midFrame(): boolean {
    return this.opener?.midChunk() ?? false;
  }
}

class VmessOutbound implements Outbound {
  readonly type = "Vmess";
  readonly name: string;
  readonly supportsUdp: boolean;
  readonly addr: string;
  private readonly label: string;
  private readonly key: Uint8Array;
  private readonly authKey: Uint8Array;
  /** Legacy header (alterId > 0): the ID that signs it. */
  private readonly alterId: Uint8Array | undefined;
  private readonly security: Security;
  private readonly globalPadding: boolean;
  private readonly transports: Transport[];
  /** Why every dial fails (a feature the options ask for that ferry lacks), or undefined. */
  private readonly unsupported: string | undefined;

  constructor(
    private readonly o: Options,
    private readonly ctx: CreateContext,
  ) {
    this.name = o.name;
    this.label = `vmess "${o.name}"`;
    this.supportsUdp = o.udp === true;
    this.addr = addrOf(o.server, o.port);
    const id = userId(o.uuid, "vmess");
    this.key = cmdKey(id);
    this.authKey = authIdKey(this.key);
    this.alterId = o.alterId > 0 ? firstAlterId(id) : undefined;
    this.security = securityOf(o.cipher);
    this.globalPadding = o["global-padding"] === true;
    this.transports = buildTransports(o, ctx);
    this.unsupported = o["reality-opts"]?.["public-key"]
      ? "REALITY is not supported yet"
      : o["authenticated-length"]
        ? "authenticated-length is not supported yet"
        : undefined;
  }

  dialTcp(m: Metadata, dial?: DialOptions): Promise<Duplex> {
    return this.open(COMMAND_TCP, m.host || m.destinationIP, m.destinationPort, dial);
  }

  async dialUdp(): Promise<PacketConn> {
    const encoding = packetEncoding(this.o);
    if (encoding) throw new UserError(`${this.label}: UDP with packet-encoding ${encoding} is not supported yet`);
    return new StreamPacketConn((host, port) => this.open(COMMAND_UDP, host, port), this.ctx.log, MAX_DATAGRAM, 1);
  }

  private async open(command: number, host: string, port: number, dial?: DialOptions): Promise<Duplex> {
    if (this.unsupported) throw new UserError(`${this.label}: ${this.unsupported}`);
    const security = this.security;
    const aead = security === "aes-128-gcm" ? aes128Gcm() : security === "chacha20-poly1305" ? await chacha20Poly1305() : undefined;
    const udp = command === COMMAND_UDP;
    // As sing-vmess (mihomo) sends it: none = plain bytes on TCP, bare chunks on UDP; the AEAD
    // securities mask chunk sizes, and pad when global-padding is set.
    let options = 0;
    if (security !== "none") options = OPTION_CHUNK_STREAM | OPTION_CHUNK_MASKING | (this.globalPadding ? OPTION_GLOBAL_PADDING : 0);
    else if (udp) options = OPTION_CHUNK_STREAM;
    const p = randomRequest({ command, security, options, host, port });
    const head = this.alterId ? sealLegacyHeader(this.key, this.alterId, p) : sealAeadHeader(this.key, this.authKey, p);
    const stream = await dialStack(this.ctx, this.o, this.transports, this.label, dial);
    return new ProxyConn(stream, head, new VmessCodec(p, aead, this.alterId !== undefined, udp), this.label);
  }
}

export default definePlugin({
  name: "outbound-vmess",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("vmess", {
      options,
      validate,
      create: (o, ctx) => new VmessOutbound(o, ctx),
    });
  },
});
