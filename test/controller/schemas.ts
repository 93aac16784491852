/**
 * The wire contract of controller-api.md as TypeBox schemas. `additionalProperties: false`
 * makes every object exact: a missing, extra or mistyped key fails the check.
 */
import { type Static, Type as t } from "@sinclair/typebox";

const exact = { additionalProperties: false } as const;

/** RFC 3339 with an offset, as Go prints times (fraction optional). */
export const Time = t.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$" });
const Uuid = t.String({ pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" });
const Digits = t.String({ pattern: "^\\d+$" });

export const ErrorBody = t.Object({ message: t.String() }, exact);
export const Hello = t.Object({ hello: t.Literal("mihomo") }, exact);
export const Version = t.Object({ meta: t.Literal(true), version: t.String({ pattern: "^v\\d+\\.\\d+\\.\\d+" }) }, exact);

export const DelayHistory = t.Object({ time: Time, delay: t.Integer({ minimum: 0, maximum: 65535 }) }, exact);
const Extra = t.Record(t.String(), t.Object({ alive: t.Boolean(), history: t.Array(DelayHistory, { maxItems: 10 }) }, exact));

const proxyCommon = {
  alive: t.Boolean(),
  "dialer-proxy": t.String(),
  extra: Extra,
  history: t.Array(DelayHistory, { maxItems: 10 }),
  interface: t.String(),
  mptcp: t.Boolean(),
  name: t.String(),
  "provider-name": t.String(),
  "routing-mark": t.Integer(),
  smux: t.Boolean(),
  tfo: t.Boolean(),
  udp: t.Boolean(),
  uot: t.Boolean(),
  xudp: t.Boolean(),
};

/** §8.1: leaf proxies carry an `id`, groups do not. */
export const Leaf = t.Object({ ...proxyCommon, type: t.String({ pattern: "^[A-Z][A-Za-z0-9]*$" }), id: Uuid }, exact);

/** §8.2, Selector: `now`, `all`, `testUrl`, `hidden`, `icon`, `emptyFallback`; no `expectedStatus`, `fixed`, `id`. */
export const SelectorGroup = t.Object(
  {
    ...proxyCommon,
    type: t.Literal("Selector"),
    now: t.String(),
    all: t.Array(t.String(), { minItems: 1 }),
    testUrl: t.String(),
    hidden: t.Boolean(),
    icon: t.String(),
    emptyFallback: t.String(),
  },
  exact,
);

export const Proxies = t.Object({ proxies: t.Record(t.String(), t.Union([Leaf, SelectorGroup])) }, exact);
export const Groups = t.Object({ proxies: t.Array(SelectorGroup) }, exact);
export const Delay = t.Object({ delay: t.Integer({ minimum: 1, maximum: 65535 }) }, exact);

export const Metadata = t.Object(
  {
    network: t.Union([t.Literal("tcp"), t.Literal("udp")]),
    type: t.String(),
    sourceIP: t.String(),
    destinationIP: t.String(),
    sourceGeoIP: t.Union([t.Null(), t.Array(t.String())]),
    destinationGeoIP: t.Union([t.Null(), t.Array(t.String())]),
    sourceIPASN: t.String(),
    destinationIPASN: t.String(),
    sourcePort: Digits,
    destinationPort: Digits,
    inboundIP: t.String(),
    inboundPort: Digits,
    inboundName: t.String(),
    inboundUser: t.String(),
    rematchName: t.String(),
    host: t.String(),
    dnsMode: t.Union([t.Literal("normal"), t.Literal("fake-ip"), t.Literal("redir-host"), t.Literal("hosts")]),
    uid: t.Integer(),
    process: t.String(),
    processPath: t.String(),
    specialProxy: t.String(),
    specialRules: t.String(),
    remoteDestination: t.String(),
    dscp: t.Integer(),
    sniffHost: t.String(),
  },
  exact,
);

export const Connection = t.Object(
  {
    id: Uuid,
    metadata: Metadata,
    upload: t.Integer({ minimum: 0 }),
    download: t.Integer({ minimum: 0 }),
    start: Time,
    chains: t.Array(t.String(), { minItems: 1 }),
    providerChains: t.Array(t.String()),
    rule: t.String(),
    rulePayload: t.String(),
  },
  exact,
);

/** §7.24 with the decided deviation: `connections` is always an array, never null. */
export const Snapshot = t.Object(
  {
    downloadTotal: t.Integer({ minimum: 0 }),
    uploadTotal: t.Integer({ minimum: 0 }),
    connections: t.Array(Connection),
    memory: t.Integer({ minimum: 0 }),
  },
  exact,
);

export const Traffic = t.Object({ up: t.Integer({ minimum: 0 }), down: t.Integer({ minimum: 0 }), upTotal: t.Integer({ minimum: 0 }), downTotal: t.Integer({ minimum: 0 }) }, exact);
export type TrafficFrame = Static<typeof Traffic>;
export const Memory = t.Object({ inuse: t.Integer({ minimum: 0 }), oslimit: t.Literal(0) }, exact);
export const Log = t.Object({ type: t.Union(["debug", "info", "warning", "error"].map((l) => t.Literal(l))), payload: t.String() }, exact);
export const StructuredLog = t.Object(
  {
    time: t.String({ pattern: "^\\d{2}:\\d{2}:\\d{2}$" }),
    level: t.Union(["debug", "info", "warn", "error"].map((l) => t.Literal(l))),
    message: t.String(),
    fields: t.Array(t.Object({ key: t.String(), value: t.String() }, exact), { maxItems: 0 }),
  },
  exact,
);

const Port = t.Integer({ minimum: 0, maximum: 65535 });
const CidrList = t.Union([t.Null(), t.Array(t.String())]);

/** §7.6: `tun` always has these keys, others only when set. */
const Tun = t.Object({
  enable: t.Boolean(),
  device: t.String(),
  stack: t.Union([t.Literal("gVisor"), t.Literal("System"), t.Literal("Mixed")]),
  "dns-hijack": t.Array(t.String()),
  "auto-route": t.Boolean(),
  "auto-detect-interface": t.Boolean(),
  "file-descriptor": t.Integer(),
});

export const Configs = t.Object(
  {
    port: Port,
    "socks-port": Port,
    "redir-port": Port,
    "tproxy-port": Port,
    "mixed-port": Port,
    tun: Tun,
    "tuic-server": t.Object({
      enable: t.Boolean(),
      listen: t.String(),
      certificate: t.String(),
      "private-key": t.String(),
      "ech-key": t.String(),
      "mux-option": t.Object({}),
    }),
    "ss-config": t.String(),
    "vmess-config": t.String(),
    authentication: t.Union([t.Null(), t.Array(t.String())]),
    "skip-auth-prefixes": CidrList,
    "lan-allowed-ips": CidrList,
    "lan-disallowed-ips": CidrList,
    "allow-lan": t.Boolean(),
    "bind-address": t.String(),
    "inbound-tfo": t.Boolean(),
    "inbound-mptcp": t.Boolean(),
    mode: t.Union([t.Literal("rule"), t.Literal("global"), t.Literal("direct")]),
    "unified-delay": t.Boolean(),
    "log-level": t.Union(["debug", "info", "warning", "error", "silent"].map((l) => t.Literal(l))),
    ipv6: t.Boolean(),
    "interface-name": t.String(),
    "routing-mark": t.Integer(),
    "geox-url": t.Object({ "geo-ip": t.String(), mmdb: t.String(), asn: t.String(), "geo-site": t.String() }, exact),
    "geo-auto-update": t.Boolean(),
    "geo-update-interval": t.Integer(),
    "geodata-mode": t.Boolean(),
    "geodata-loader": t.String(),
    "geosite-matcher": t.Union([t.Literal("succinct"), t.Literal("mph")]),
    "tcp-concurrent": t.Boolean(),
    "find-process-mode": t.Union([t.Literal("always"), t.Literal("strict"), t.Literal("off")]),
    sniffing: t.Boolean(),
    "global-ua": t.String(),
    "etag-support": t.Boolean(),
    "keep-alive-idle": t.Integer(),
    "keep-alive-interval": t.Integer(),
    "disable-keep-alive": t.Boolean(),
  },
  exact,
);

export const Rules = t.Object(
  {
    rules: t.Array(
      t.Object(
        {
          index: t.Integer({ minimum: 0 }),
          type: t.String({ pattern: "^[A-Z][A-Za-z0-9]*$" }),
          payload: t.String(),
          proxy: t.String(),
          size: t.Integer({ minimum: -1 }),
          extra: t.Object({ disabled: t.Boolean(), hitCount: t.Integer(), hitAt: Time, missCount: t.Integer(), missAt: Time }, exact),
        },
        exact,
      ),
    ),
  },
  exact,
);

export const CompatibleProvider = t.Object(
  {
    name: t.String(),
    type: t.Literal("Proxy"),
    vehicleType: t.Literal("Compatible"),
    proxies: t.Array(t.Union([Leaf, SelectorGroup])),
    testUrl: t.String(),
    expectedStatus: t.String(),
    updatedAt: t.Literal("0001-01-01T00:00:00Z"),
  },
  exact,
);

export const ProxyProviders = t.Object({ providers: t.Record(t.String(), CompatibleProvider) }, exact);
export const RuleProviders = t.Object({ providers: t.Object({}, exact) }, exact);
export const Status = t.Object({ status: t.Literal("ok") }, exact);
