/**
 * Options of the built-in transports, shared by the outbounds that use them (vmess, vless, trojan,
 * ss plugins, http/socks5 with TLS). Outbounds translate their mihomo keys (`servername`, `ws-opts`,
 * …) into these and call `ctx.transport(name).create(options, ctx).wrap(stream)`.
 */
export interface TlsTransportOptions {
  /** SNI and the name the certificate is checked against. */
  serverName: string;
  alpn?: string[];
  /** Accept any certificate (`skip-cert-verify`). */
  skipCertVerify?: boolean;
  /** Pin the leaf certificate: SHA-256, hex, `:` separators allowed (`fingerprint`). */
  fingerprint?: string;
  /** Extra trusted CA certificates, PEM. */
  ca?: string[];
}

export interface WsTransportOptions {
  /** HTTP Host header (and SNI when TLS is under it and no server name was given). */
  host: string;
  /** Request path, with any `?ed=N` already taken out into `maxEarlyData`. */
  path: string;
  headers?: Record<string, string>;
  /** Bytes of the first payload sent inside the handshake (v2ray early data). */
  maxEarlyData?: number;
  /** Header carrying early data; empty means the path (`?ed=`) convention. */
  earlyDataHeaderName?: string;
  /** v2ray HTTPUpgrade instead of WebSocket framing. */
  v2rayHttpUpgrade?: boolean;
}

export interface H2TransportOptions {
  /** Candidate :authority values; one is picked per connection. */
  host: string[];
  path: string;
}

export interface HttpObfsTransportOptions {
  method: string;
  /** Candidate paths; one is picked per connection. */
  path: string[];
  headers: Record<string, string[]>;
  host: string;
}

export interface GrpcTransportOptions {
  serviceName: string;
  host: string;
}
