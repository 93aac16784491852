/**
 * Options and dialing shared by vmess and vless: the transport stack a `network` + `tls` choice
 * means (mihomo's StreamConnContext), built once per proxy, and the checks of §23 that concern it.
 */
import {
  type CreateContext,
  type DialOptions,
  type Duplex,
  type OptionProblem,
  t,
  type TlsTransportOptions,
  type Transport,
  UserError,
} from "../../../src/sdk/index.ts";
import {
  commonOptions,
  grpcOptionsFrom,
  grpcOptsSchema,
  h2OptionsFrom,
  h2OptsSchema,
  httpOptionsFrom,
  httpOptsSchema,
  normalizeFingerprint,
  serverOptions,
  type TlsFields,
  tlsFieldOptions,
  tlsOptionsFrom,
  type WsOpts,
  wsHost,
  wsOptionsFrom,
  wsOptsSchema,
} from "../common.ts";

const NETWORKS = ["tcp", "ws", "http", "h2", "grpc"] as const;
type Network = (typeof NETWORKS)[number];

/** Keys vmess and vless share beyond the common ones: network, its options, TLS, REALITY, UDP encoding. */
export const streamOptions = {
  tls: t.Optional(t.Boolean()),
  network: t.Optional(t.String()),
  "ws-opts": t.Optional(wsOptsSchema),
  "h2-opts": t.Optional(h2OptsSchema),
  "http-opts": t.Optional(httpOptsSchema),
  "grpc-opts": t.Optional(grpcOptsSchema),
  "reality-opts": t.Optional(
    t.Object({
      "public-key": t.Optional(t.String()),
      "short-id": t.Optional(t.String()),
      "support-x25519mlkem768": t.Optional(t.Boolean()),
    }),
  ),
  "packet-encoding": t.Optional(t.String()),
  "packet-addr": t.Optional(t.Boolean()),
  xudp: t.Optional(t.Boolean()),
};

// vmess and vless read `servername`, not `sni` (mihomo ignores a `sni` key on them).
const { sni: _sni, ...tlsFields } = tlsFieldOptions;

/** The keys vmess and vless both take, in their order: server, common, TLS, stream, `uuid`. */
export const v2rayOptions = {
  ...serverOptions,
  ...commonOptions,
  ...tlsFields,
  ...streamOptions,
  uuid: t.String(),
};

export interface StreamFields extends TlsFields {
  name: string;
  server: string;
  port: number;
  "dialer-proxy"?: string;
  tls?: boolean;
  network?: string;
  "ws-opts"?: WsOpts;
  "h2-opts"?: { host?: string[]; path?: string };
  "http-opts"?: { method?: string; path?: string[]; headers?: Record<string, string[]> };
  "grpc-opts"?: { "grpc-service-name"?: string };
  "reality-opts"?: { "public-key"?: string; "short-id"?: string };
  "packet-encoding"?: string;
  "packet-addr"?: boolean;
  xudp?: boolean;
  "client-fingerprint"?: string;
}

/** `network` with mihomo's default: empty means tcp. */
export function networkOf(o: StreamFields): string {
  return o.network || "tcp";
}

function isNetwork(s: string): s is Network {
  return (NETWORKS as readonly string[]).includes(s);
}

/**
 * The UDP encoding asked for: "" = plain VMess/VLESS UDP (the one v2ray 4.x speaks, and ferry's
 * only one so far), "xudp" or "packetaddr". mihomo's vless uses XUDP when nothing is set; ferry
 * sends plain UDP then.
 */
export function packetEncoding(o: StreamFields): "" | "xudp" | "packetaddr" {
  const e = o["packet-encoding"] ?? "";
  if (e === "xudp" || o.xudp) return "xudp";
  if (e === "packetaddr" || e === "packet" || o["packet-addr"]) return "packetaddr";
  return "";
}

/** REALITY key checks (mihomo's RealityOptions.Parse): 32-byte base64url key, short ID ≤ 8 bytes of hex. */
function realityProblems(r: StreamFields["reality-opts"]): OptionProblem[] {
  if (!r?.["public-key"]) return [];
  const problems: OptionProblem[] = [];
  const key = r["public-key"];
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(key) || Buffer.from(key, "base64url").length !== 32) {
    problems.push({ key: "reality-opts.public-key", message: `invalid REALITY public key "${key}" (want 32 bytes, base64url)` });
  }
  const sid = r["short-id"] ?? "";
  if (!/^([0-9a-fA-F]{2}){0,8}$/.test(sid)) {
    problems.push({ key: "reality-opts.short-id", message: `invalid REALITY short-id "${sid}" (want up to 8 bytes of hex)` });
  }
  if (problems.length === 0) {
    problems.push({ key: "reality-opts", message: "REALITY is not supported yet: connections through this proxy will fail", severity: "warning" });
  }
  return problems;
}

/** Checks of §23 items 13, 16 and 18 that apply to both protocols. */
export function streamProblems(o: StreamFields): OptionProblem[] {
  const problems: OptionProblem[] = [];
  const network = networkOf(o);
  if (!isNetwork(network)) {
    problems.push({ key: "network", message: `unsupported network "${network}" (want one of ${NETWORKS.join(", ")})` });
  }
  if (o.fingerprint) {
    try {
      normalizeFingerprint(o.fingerprint);
    } catch (err) {
      problems.push({ key: "fingerprint", message: (err as Error).message });
    }
  }
  problems.push(...realityProblems(o["reality-opts"]));
  if (o["skip-cert-verify"]) problems.push({ key: "skip-cert-verify", message: "the server's certificate is not checked", severity: "warning" });
  if (network === "h2" && !o.tls) problems.push({ key: "network", message: "h2 always uses TLS (tls: false is ignored)", severity: "warning" });
  for (const [key, uses] of [
    ["ws-opts", "ws"],
    ["h2-opts", "h2"],
    ["http-opts", "http"],
    ["grpc-opts", "grpc"],
  ] as const) {
    if (o[key] !== undefined && network !== uses) {
      problems.push({ key, message: `${key} is unused with network ${network}`, severity: "warning" });
    }
  }
  const encoding = packetEncoding(o);
  if (encoding) {
    problems.push({ key: "packet-encoding", message: `${encoding} is not supported yet: UDP through this proxy will fail`, severity: "warning" });
  }
  return problems;
}

function transportOf(ctx: CreateContext, name: string) {
  const t = ctx.transport(name);
  if (!t) throw new UserError(`the "${name}" transport is not available (no plugin registers it)`);
  return t;
}

/**
 * The transports to wrap the server stream in, innermost first (mihomo's StreamConnContext):
 * tcp → [tls]; ws → [tls (ALPN http/1.1, SNI falls back to the ws Host)], ws; http → [tls], http;
 * h2 → tls (ALPN h2, always), h2; grpc → [tls (ALPN h2)], grpc.
 */
export function buildTransports(o: StreamFields, ctx: CreateContext): Transport[] {
  const network = networkOf(o);
  const out: Transport[] = [];
  const tls = (defaultSni: string, alpn?: string[]) => {
    const options: TlsTransportOptions = tlsOptionsFrom(o, defaultSni);
    if (alpn) options.alpn ??= alpn;
    out.push(transportOf(ctx, "tls").create(options, ctx));
  };
  switch (network) {
    case "tcp":
      if (o.tls) tls(o.server);
      break;
    case "ws":
      if (o.tls) tls(wsHost(o["ws-opts"]) ?? o.server, ["http/1.1"]);
      out.push(transportOf(ctx, "ws").create(wsOptionsFrom(o["ws-opts"], o.server), ctx));
      break;
    case "http":
      if (o.tls) tls(o.server);
      out.push(transportOf(ctx, "http").create(httpOptionsFrom(o["http-opts"], o.server), ctx));
      break;
    case "h2":
      tls(o.server, ["h2"]);
      out.push(transportOf(ctx, "h2").create(h2OptionsFrom(o["h2-opts"]), ctx));
      break;
    case "grpc": {
      if (o.tls) tls(o.server, ["h2"]);
      const authority = o.servername || (o.server.includes(":") ? `[${o.server}]:${o.port}` : `${o.server}:${o.port}`);
      out.push(transportOf(ctx, "grpc").create(grpcOptionsFrom(o["grpc-opts"], authority), ctx));
      break;
    }
    default:
      throw new UserError(`unsupported network "${network}"`);
  }
  return out;
}

/** `host:port` as mihomo shows a proxy's address. */
export function addrOf(server: string, port: number): string {
  return server.includes(":") ? `[${server}]:${port}` : `${server}:${port}`;
}

/**
 * Reach the server: TCP (through `dialer-proxy` when set), then each transport. A failure closes
 * what was opened and says which step failed and for which proxy.
 */
export async function dialStack(
  ctx: CreateContext,
  o: StreamFields,
  transports: readonly Transport[],
  label: string,
  dial?: DialOptions,
): Promise<Duplex> {
  let stream: Duplex;
  try {
    stream = await ctx.dialServer(o.server, o.port, { signal: dial?.signal, dialerProxy: o["dialer-proxy"] });
  } catch (err) {
    throw new UserError(`${label}: ${messageOf(err)}`);
  }
  for (const t of transports) {
    try {
      stream = await t.wrap(stream, dial);
    } catch (err) {
      stream.close();
      throw new UserError(`${label}: ${addrOf(o.server, o.port)}: ${messageOf(err)}`);
    }
  }
  return stream;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
