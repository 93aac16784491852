import { type TSchema, Type as t } from "@sinclair/typebox";

/**
 * Schemas of the typed sections (decoded strictly, as mihomo decodes them into Go structs).
 * Sections that later issues implement (dns, tun, sniffer, providers…) are validated here now so
 * a config is checked whole; the engine warns that they are not active yet.
 */

const port = () => t.Optional(t.Integer({ minimum: 0, maximum: 65535 }));
const bool = () => t.Optional(t.Boolean());
const str = () => t.Optional(t.String());
const int = () => t.Optional(t.Integer());
const strList = () => t.Optional(t.Array(t.String()));
const oneOf = (values: string[]) =>
  t.Optional(t.Union(values.map((v) => t.Literal(v)), { caseInsensitive: true }));
const stringOrList = () => t.Optional(t.Union([t.String(), t.Array(t.String())]));

const dns = t.Object({
  enable: bool(),
  "prefer-h3": bool(),
  listen: str(),
  ipv6: bool(),
  "ipv6-timeout": int(),
  "use-hosts": bool(),
  "use-system-hosts": bool(),
  "respect-rules": bool(),
  "enhanced-mode": oneOf(["fake-ip", "redir-host", "normal"]),
  "fake-ip-range": str(),
  "fake-ip-range6": str(),
  "fake-ip-ttl": int(),
  "fake-ip-filter": strList(),
  "fake-ip-filter-mode": oneOf(["blacklist", "whitelist", "rule"]),
  "default-nameserver": strList(),
  nameserver: strList(),
  fallback: strList(),
  "fallback-filter": t.Optional(
    t.Object({
      geoip: bool(),
      "geoip-code": str(),
      ipcidr: strList(),
      domain: strList(),
      geosite: strList(),
    }),
  ),
  "nameserver-policy": t.Optional(t.Record(t.String(), t.Union([t.String(), t.Array(t.String())]))),
  "proxy-server-nameserver": strList(),
  "proxy-server-nameserver-policy": t.Optional(t.Record(t.String(), t.Union([t.String(), t.Array(t.String())]))),
  "direct-nameserver": strList(),
  "direct-nameserver-follow-policy": bool(),
  "cache-algorithm": oneOf(["lru", "arc"]),
  "cache-max-size": int(),
  "fallback-lazy-query": bool(),
  "listen-routing-mark": int(),
});

const tun = t.Object({
  enable: bool(),
  stack: oneOf(["gvisor", "system", "mixed"]),
  device: str(),
  "auto-route": bool(),
  "auto-detect-interface": bool(),
  "dns-hijack": strList(),
  mtu: int(),
  gso: bool(),
  "gso-max-size": int(),
  "inet4-address": strList(),
  "inet6-address": strList(),
  "strict-route": bool(),
  "auto-redirect": bool(),
  "auto-redirect-input-mark": int(),
  "auto-redirect-output-mark": int(),
  "route-address": strList(),
  "route-exclude-address": strList(),
  "inet4-route-address": strList(),
  "inet6-route-address": strList(),
  "inet4-route-exclude-address": strList(),
  "inet6-route-exclude-address": strList(),
  "route-address-set": strList(),
  "route-exclude-address-set": strList(),
  "iproute2-table-index": int(),
  "iproute2-rule-index": int(),
  "include-interface": strList(),
  "exclude-interface": strList(),
  "include-uid": t.Optional(t.Array(t.Integer())),
  "include-uid-range": strList(),
  "exclude-uid": t.Optional(t.Array(t.Integer())),
  "exclude-uid-range": strList(),
  "include-android-user": t.Optional(t.Array(t.Integer())),
  "include-package": strList(),
  "exclude-package": strList(),
  "include-mac-address": strList(),
  "exclude-mac-address": strList(),
  "endpoint-independent-nat": bool(),
  "udp-timeout": int(),
  "file-descriptor": int(),
  recvmsgx: bool(),
  sendmsgx: bool(),
});

/** One protocol of `sniffer.sniff`; decoded by config/sniffer.ts, where a bare `TLS:` (null) counts as `{}` as in mihomo. */
export const SniffProtocolSchema = t.Object({
  ports: t.Optional(t.Array(t.Union([t.Integer(), t.String()]))),
  "override-destination": bool(),
});

const sniffer = t.Object({
  enable: bool(),
  "override-destination": bool(),
  "force-dns-mapping": bool(),
  "parse-pure-ip": bool(),
  sniff: t.Optional(t.Record(t.String(), t.Unknown())),
  "force-domain": strList(),
  "skip-domain": strList(),
  "skip-src-address": strList(),
  "skip-dst-address": strList(),
  sniffing: strList(),
  "port-whitelist": t.Optional(t.Array(t.Union([t.Integer(), t.String()]))),
});

const profile = t.Object({
  "store-selected": bool(),
  "store-fake-ip": bool(),
  tracing: bool(),
});

const cors = t.Object({
  "allow-origins": strList(),
  "allow-private-network": bool(),
});

const anyMap = () => t.Optional(t.Record(t.String(), t.Unknown()));

/** The whole config. Keys here are the ones ferry knows; anything else is warned as unknown. */
export const ConfigSchema = t.Object({
  port: port(),
  "socks-port": port(),
  "mixed-port": port(),
  "redir-port": port(),
  "tproxy-port": port(),
  "allow-lan": bool(),
  "bind-address": str(),
  "lan-allowed-ips": strList(),
  "lan-disallowed-ips": strList(),
  authentication: strList(),
  "skip-auth-prefixes": strList(),
  "inbound-tfo": bool(),
  "inbound-mptcp": bool(),
  "ss-config": str(),
  "vmess-config": str(),
  "tuic-server": anyMap(),
  mode: oneOf(["rule", "global", "direct"]),
  "log-level": oneOf(["silent", "error", "warning", "info", "debug"]),
  ipv6: bool(),
  "unified-delay": bool(),
  "tcp-concurrent": bool(),
  "find-process-mode": oneOf(["always", "strict", "off"]),
  "interface-name": str(),
  "routing-mark": int(),
  "keep-alive-interval": int(),
  "keep-alive-idle": int(),
  "disable-keep-alive": bool(),
  "global-client-fingerprint": str(),
  "global-ua": str(),
  "etag-support": bool(),
  hosts: t.Optional(t.Record(t.String(), stringOrList())),
  profile: t.Optional(profile),
  "geodata-mode": bool(),
  "geodata-loader": oneOf(["memconservative", "memc", "standard"]),
  "geosite-matcher": oneOf(["succinct", "mph", "hybrid"]),
  "geox-url": t.Optional(t.Object({ geoip: str(), geosite: str(), mmdb: str(), asn: str() })),
  "geo-auto-update": bool(),
  "geo-update-interval": int(),
  "external-controller": str(),
  secret: str(),
  "external-controller-tls": str(),
  "external-controller-unix": str(),
  "external-controller-pipe": str(),
  "external-controller-cors": t.Optional(cors),
  "external-controller-routing-mark": int(),
  "external-ui": str(),
  "external-ui-name": str(),
  "external-ui-url": str(),
  "external-doh-server": str(),
  "ferry-update-url": str(),
  tls: anyMap(),
  experimental: anyMap(),
  ntp: anyMap(),
  iptables: anyMap(),
  "clash-for-android": anyMap(),
  dns: t.Optional(dns),
  tun: t.Optional(tun),
  sniffer: t.Optional(sniffer),
  proxies: t.Optional(t.Array(t.Unknown())),
  "proxy-groups": t.Optional(t.Array(t.Unknown())),
  "proxy-providers": anyMap(),
  "rule-providers": anyMap(),
  rules: strList(),
  "sub-rules": t.Optional(t.Record(t.String(), t.Array(t.String()))),
  listeners: t.Optional(t.Array(t.Unknown())),
  tunnels: t.Optional(t.Array(t.Union([t.String(), t.Record(t.String(), t.Unknown())]))),
});

/** Sections that parse and validate now but do nothing until their issue lands. */
export const INACTIVE_SECTIONS = [
  "tun",
  "redir-port",
  "tproxy-port",
  "ntp",
  "iptables",
  "tuic-server",
  "ss-config",
  "vmess-config",
] as const;

/** Keys every listener entry has, besides its type's own (config.md §13.1). */
export const ListenerCommonSchema = t.Object({
  name: t.String(),
  type: t.String(),
  listen: t.Optional(t.String()),
  port: t.Union([t.Integer(), t.String()]),
  rule: t.Optional(t.String()),
  proxy: t.Optional(t.String()),
  users: t.Optional(t.Array(t.Object({ username: t.String(), password: t.String() }))),
  "routing-mark": t.Optional(t.Integer()),
});

/** Keys every proxy has (config.md §6.2) besides its type's own. */
export const ProxyCommonSchema = t.Object({
  name: t.String(),
  type: t.String(),
  "dialer-proxy": t.Optional(t.String()),
  smux: t.Optional(t.Record(t.String(), t.Unknown())),
});

export const GroupCommonSchema = t.Object({
  name: t.String(),
  type: t.String(),
});

export type JsonSchema = TSchema;
