/**
 * Option pieces shared by the proxy types: mihomo's common fields (config.md §6.2), the TLS fields
 * (§6.4) and the transport `*-opts` blocks (§6.5), plus translators from those mihomo keys into the
 * built-in transports' options (src/sdk/transports.ts).
 */
import {
  type CreateContext,
  type DialOptions,
  type Duplex,
  type GrpcTransportOptions,
  type H2TransportOptions,
  type HttpObfsTransportOptions,
  type OptionProblem,
  type Static,
  t,
  type TlsTransportOptions,
  type Transport,
  UserError,
  type WsTransportOptions,
} from "../../src/sdk/index.ts";

/** `server` and `port`: required by every type that talks to a server. */
export const serverOptions = {
  server: t.String(),
  port: t.Integer(),
};

/** The §6.2 keys about our own sockets: all `direct` takes, as it has no server to reach through another proxy. */
export const socketOptions = {
  udp: t.Optional(t.Boolean()),
  "ip-version": t.Optional(t.String()),
  "interface-name": t.Optional(t.String()),
  "routing-mark": t.Optional(t.Integer()),
  tfo: t.Optional(t.Boolean()),
  mptcp: t.Optional(t.Boolean()),
};

/** Keys every proxy type accepts (§6.2), all optional. */
export const commonOptions = {
  ...socketOptions,
  "dialer-proxy": t.Optional(t.String()),
  smux: t.Optional(t.Record(t.String(), t.Unknown())),
};

/** TLS keys (§6.4). `tls` itself is left to the types where it is optional. */
export const tlsFieldOptions = {
  sni: t.Optional(t.String()),
  servername: t.Optional(t.String()),
  "skip-cert-verify": t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String()),
  alpn: t.Optional(t.Array(t.String())),
  "client-fingerprint": t.Optional(t.String()),
};

/** The mihomo TLS keys `tlsOptionsFrom` reads. */
export interface TlsFields {
  sni?: string;
  servername?: string;
  "skip-cert-verify"?: boolean;
  fingerprint?: string;
  alpn?: string[];
}

/**
 * Normalise a certificate pin to 64 lower-case hex digits; `:` separators are allowed. Anything
 * else is a load error (mihomo reports some of these only on first use).
 */
export function normalizeFingerprint(value: string): string {
  const hex = value.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new UserError(`fingerprint: expected a SHA-256 digest (64 hex digits, ":" allowed), got "${value}"`);
  }
  return hex;
}

/** mihomo TLS keys → `TlsTransportOptions`; the server name falls back to `defaultSni`. */
export function tlsOptionsFrom(o: TlsFields, defaultSni: string): TlsTransportOptions {
  const options: TlsTransportOptions = { serverName: o.sni || o.servername || defaultSni };
  if (o.alpn && o.alpn.length > 0) options.alpn = o.alpn;
  if (o["skip-cert-verify"]) options.skipCertVerify = true;
  if (o.fingerprint) options.fingerprint = normalizeFingerprint(o.fingerprint);
  return options;
}

/** Reach a proxy server over TCP (through `dialer-proxy` when set), wrapped in `tls` when given. */
export async function dialProxyServer(
  ctx: CreateContext,
  o: { server: string; port: number; "dialer-proxy"?: string },
  tls: Transport | undefined,
  dial: DialOptions | undefined,
): Promise<Duplex> {
  const s = await ctx.dialServer(o.server, o.port, { signal: dial?.signal, dialerProxy: o["dialer-proxy"] });
  if (!tls) return s;
  try {
    return await tls.wrap(s, dial);
  } catch (err) {
    s.close();
    throw err;
  }
}

/** The tls transport for an outbound with `tls: true`, created once per proxy. */
export function tlsTransport(ctx: CreateContext, o: TlsFields & { server: string }): Transport {
  const def = ctx.transport("tls");
  if (!def) throw new UserError(`the "tls" transport is not available (no plugin registers it)`);
  return def.create(tlsOptionsFrom(o, o.server), ctx);
}

/** A `fingerprint` that is not a SHA-256 digest is refused at load (config.md §6.4). */
export function fingerprintProblems(o: { fingerprint?: string }): OptionProblem[] {
  if (!o.fingerprint) return [];
  try {
    normalizeFingerprint(o.fingerprint);
    return [];
  } catch (err) {
    return [{ key: "fingerprint", message: (err as Error).message.replace(/^fingerprint: /, "") }];
  }
}

/** `ws-opts` (§6.5). */
export const wsOptsSchema = t.Object({
  path: t.Optional(t.String()),
  headers: t.Optional(t.Record(t.String(), t.String())),
  "max-early-data": t.Optional(t.Integer()),
  "early-data-header-name": t.Optional(t.String()),
  "v2ray-http-upgrade": t.Optional(t.Boolean()),
  "v2ray-http-upgrade-fast-open": t.Optional(t.Boolean()),
});
export type WsOpts = Static<typeof wsOptsSchema>;

/** `h2-opts` (§6.5). */
export const h2OptsSchema = t.Object({
  host: t.Optional(t.Array(t.String())),
  path: t.Optional(t.String()),
});
export type H2Opts = Static<typeof h2OptsSchema>;

/** `http-opts` (§6.5). */
export const httpOptsSchema = t.Object({
  method: t.Optional(t.String()),
  path: t.Optional(t.Array(t.String())),
  headers: t.Optional(t.Record(t.String(), t.Array(t.String()))),
});
export type HttpOpts = Static<typeof httpOptsSchema>;

/** `grpc-opts` (§6.5). */
export const grpcOptsSchema = t.Object({
  "grpc-service-name": t.Optional(t.String()),
});
export type GrpcOpts = Static<typeof grpcOptsSchema>;

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** The Host a ws-opts block asks for (its `Host` header), if any: vmess/vless use it as default SNI. */
export function wsHost(wsOpts: WsOpts | undefined): string | undefined {
  return headerValue(wsOpts?.headers, "host") || undefined;
}

/**
 * `ws-opts` → `WsTransportOptions`. `server` is the Host used when the headers carry none. A
 * `?ed=N` query in the path sets early data in `Sec-WebSocket-Protocol` and is removed from the
 * path, as mihomo and v2ray do; the path gets a leading `/` when it lacks one.
 */
export function wsOptionsFrom(wsOpts: WsOpts | undefined, server: string): WsTransportOptions {
  let path = wsOpts?.path || "/";
  if (!path.startsWith("/")) path = `/${path}`;
  let maxEarlyData = wsOpts?.["max-early-data"] ?? 0;
  let earlyDataHeaderName = wsOpts?.["early-data-header-name"] ?? "";
  const q = path.indexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(path.slice(q + 1));
    const ed = params.get("ed");
    if (ed !== null && /^\d+$/.test(ed)) {
      maxEarlyData = Number(ed);
      earlyDataHeaderName = "Sec-WebSocket-Protocol";
      params.delete("ed");
      const rest = params.toString();
      path = path.slice(0, q) + (rest ? `?${rest}` : "");
    }
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(wsOpts?.headers ?? {})) if (k.toLowerCase() !== "host") headers[k] = v;
  const options: WsTransportOptions = { host: wsHost(wsOpts) ?? server, path, headers };
  if (maxEarlyData > 0) options.maxEarlyData = maxEarlyData;
  if (earlyDataHeaderName) options.earlyDataHeaderName = earlyDataHeaderName;
  if (wsOpts?.["v2ray-http-upgrade"]) options.v2rayHttpUpgrade = true;
  return options;
}

/** `h2-opts` → `H2TransportOptions` (mihomo's defaults: host `www.example.com`, path `/`). */
export function h2OptionsFrom(h2Opts: H2Opts | undefined): H2TransportOptions {
  const host = h2Opts?.host?.filter((h) => h !== "") ?? [];
  let path = h2Opts?.path || "/";
  if (!path.startsWith("/")) path = `/${path}`;
  return { host: host.length > 0 ? host : ["www.example.com"], path };
}

/** `http-opts` → `HttpObfsTransportOptions` (vmess defaults: `GET`, path `/`; Host = server). */
export function httpOptionsFrom(httpOpts: HttpOpts | undefined, server: string): HttpObfsTransportOptions {
  const path = httpOpts?.path?.filter((p) => p !== "") ?? [];
  return {
    method: httpOpts?.method || "GET",
    path: path.length > 0 ? path : ["/"],
    headers: httpOpts?.headers ?? {},
    host: server,
  };
}

/** `grpc-opts` → `GrpcTransportOptions`; `host` is the `:authority` (servername or server:port). */
export function grpcOptionsFrom(grpcOpts: GrpcOpts | undefined, host: string): GrpcTransportOptions {
  return { serviceName: grpcOpts?.["grpc-service-name"] ?? "", host };
}
