/**
 * The proxy types mihomo knows that ferry does not carry yet (config.md §7.6, §7.10–§7.17): their
 * options as mihomo reads them, and the load-time checks of config.md §23 items 11–15, so a config
 * is validated whole before the first connection is tried.
 */
import { type OptionProblem, parsePortRanges, parsePrefix, type TSchema, t } from "../../../src/sdk/index.ts";
import { commonOptions, normalizeFingerprint, serverOptions } from "../common.ts";

export interface UnsupportedType {
  /** `type:` in the config. */
  type: string;
  /** mihomo's display name (`/proxies` type). */
  display: string;
  options: TSchema;
  /** Whether mihomo offers UDP for this entry (rules fall through for UDP when not). */
  udp(o: Options): boolean;
  /** Server address shown by the controller. */
  addr(o: Options): string;
  validate?(o: Options, problems: OptionProblem[]): void;
}

/** Decoded options: what the schemas below declare, read loosely. */
type Options = Record<string, unknown> & { name: string };

const str = () => t.Optional(t.String());
const int = () => t.Optional(t.Integer());
const bool = () => t.Optional(t.Boolean());
const strList = () => t.Optional(t.Array(t.String()));
const oneOf = (values: readonly string[], opts: { caseInsensitive?: boolean } = {}) => t.Union(values.map((v) => t.Literal(v)), opts);

/** The TLS keys of the QUIC-based types (§6.4). */
const quicTls = {
  sni: str(),
  "skip-cert-verify": bool(),
  fingerprint: str(),
  alpn: strList(),
  ca: str(),
  "ca-str": str(),
};

const text = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const joinHostPort = (host: unknown, port: unknown): string => {
  const h = text(host);
  return h.includes(":") ? `[${h}]:${num(port)}` : `${h}:${num(port)}`;
};
const serverAddr = (o: Options) => joinHostPort(o.server, o.port);

function checkFingerprint(o: Options, problems: OptionProblem[]): void {
  const fp = text(o.fingerprint);
  if (!fp) return;
  try {
    normalizeFingerprint(fp);
  } catch (err) {
    problems.push({ key: "fingerprint", message: (err as Error).message });
  }
}

/** hysteria/hysteria2: `port` or `ports` (`443,8443` / `1000-2000/3000`) must give at least one port. */
function checkPorts(o: Options, problems: OptionProblem[]): void {
  const ports = text(o.ports).trim();
  if (ports) {
    try {
      parsePortRanges(ports);
      return;
    } catch (err) {
      problems.push({ key: "ports", message: (err as Error).message });
      return;
    }
  }
  if (num(o.port) === 0) problems.push({ key: "port", message: "invalid port: set port or ports" });
}

const BANDWIDTH = /^(\d+)\s*([KMGT]?)([Bb])ps$/;

/** mihomo's StringToBps: a bare integer is Mbps; otherwise `30 Mbps`, `10MBps`, `500 Kbps`. 0 when unparsable. */
function bandwidth(s: string): number {
  if (/^\d+$/.test(s)) return Number(s) * 125_000;
  const m = BANDWIDTH.exec(s);
  if (!m) return 0;
  const scale = { "": 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return (Number(m[1]) * scale) / (m[3] === "b" ? 8 : 1);
}

/** Standard base64 that decodes to exactly `bytes` bytes (WireGuard keys: 32). */
function checkKey(value: unknown, key: string, problems: OptionProblem[], required: boolean): void {
  const s = text(value);
  if (!s) {
    if (required) problems.push({ key, message: "missing required key (base64 of 32 bytes)" });
    return;
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0 || Buffer.from(s, "base64").length !== 32) {
    problems.push({ key, message: `expected base64 of 32 bytes, got "${s}"` });
  }
}

/** `reserved`: 3 bytes, as base64 text or a list of integers. */
function checkReserved(value: unknown, key: string, problems: OptionProblem[]): void {
  if (value === undefined) return;
  const length = Array.isArray(value) ? value.length : /^[A-Za-z0-9+/]*={0,2}$/.test(text(value)) ? Buffer.from(text(value), "base64").length : -1;
  if (length !== 3) problems.push({ key, message: `reserved must be 3 bytes (base64 text or a list of 3 integers), got ${JSON.stringify(value)}` });
}

const reserved = () => t.Optional(t.Union([t.String(), t.Array(t.Integer({ minimum: 0, maximum: 255 }))]));

const wireguardPeer = t.Object({
  server: str(),
  port: int(),
  "public-key": str(),
  "pre-shared-key": str(),
  reserved: reserved(),
  "allowed-ips": strList(),
});

function checkPrefix(value: string, hostBits: number, key: string, problems: OptionProblem[]): void {
  try {
    parsePrefix(value.includes("/") ? value : `${value}/${hostBits}`);
  } catch (err) {
    problems.push({ key, message: (err as Error).message });
  }
}

const SSR_CIPHERS = [
  "none",
  "dummy",
  "rc4-md5",
  "aes-128-ctr",
  "aes-192-ctr",
  "aes-256-ctr",
  "aes-128-cfb",
  "aes-192-cfb",
  "aes-256-cfb",
  "chacha20",
  "chacha20-ietf",
  "xchacha20",
] as const;
const SSR_OBFS = ["plain", "http_simple", "http_post", "random_head", "tls1.2_ticket_auth", "tls1.2_ticket_fastauth"] as const;
const SSR_PROTOCOLS = ["origin", "auth_sha1_v4", "auth_aes128_md5", "auth_aes128_sha1", "auth_chain_a", "auth_chain_b"] as const;
const HYSTERIA_PROTOCOLS = ["", "udp", "wechat-video", "faketcp"] as const;
const MIERU_MULTIPLEXING = ["MULTIPLEXING_DEFAULT", "MULTIPLEXING_OFF", "MULTIPLEXING_LOW", "MULTIPLEXING_MIDDLE", "MULTIPLEXING_HIGH"] as const;

export const UNSUPPORTED_TYPES: UnsupportedType[] = [
  {
    type: "ssr",
    display: "ShadowsocksR",
    options: t.Object({
      ...serverOptions,
      ...commonOptions,
      password: t.String(),
      // mihomo upper-cases the cipher name; obfs and protocol are looked up as written.
      cipher: oneOf(SSR_CIPHERS, { caseInsensitive: true }),
      obfs: oneOf(SSR_OBFS),
      protocol: oneOf(SSR_PROTOCOLS),
      "obfs-param": str(),
      "protocol-param": str(),
    }),
    udp: (o) => o.udp === true,
    addr: serverAddr,
  },
  {
    type: "snell",
    display: "Snell",
    options: t.Object({
      ...serverOptions,
      ...commonOptions,
      psk: t.String(),
      version: int(),
      "obfs-opts": t.Optional(t.Object({ mode: t.Optional(oneOf(["", "http", "tls"])), host: str() })),
    }),
    udp: (o) => o.udp === true,
    addr: serverAddr,
    validate(o, problems) {
      // 0 (or absent) means version 1, as in mihomo.
      const version = num(o.version) || 1;
      if (version < 1 || version > 3) problems.push({ key: "version", message: `snell version must be 1, 2 or 3, got ${num(o.version)}` });
      else if (o.udp === true && version < 3) problems.push({ key: "udp", message: `UDP needs snell version 3 (this entry is version ${version})` });
    },
  },
  {
    type: "mieru",
    display: "Mieru",
    options: t.Object({
      ...commonOptions,
      server: t.String(),
      port: int(),
      "port-range": str(),
      transport: t.Literal("TCP"),
      username: t.String(),
      password: t.String(),
      multiplexing: t.Optional(oneOf(MIERU_MULTIPLEXING)),
    }),
    udp: () => false,
    addr: (o) => joinHostPort(o.server, num(o.port) || Number(text(o["port-range"]).split("-")[0]) || 0),
    validate(o, problems) {
      if (!text(o.server)) problems.push({ key: "server", message: "server is empty" });
      if (!text(o.username)) problems.push({ key: "username", message: "username is empty" });
      if (!text(o.password)) problems.push({ key: "password", message: "password is empty" });
      const port = num(o.port);
      const range = text(o["port-range"]);
      if (port === 0 && !range) problems.push({ key: "", message: "either port or port-range must be set" });
      if (port !== 0 && range) problems.push({ key: "port-range", message: "port and port-range cannot be set at the same time" });
      if (port !== 0 && (port < 1 || port > 65535)) problems.push({ key: "port", message: `port must be between 1 and 65535, got ${port}` });
      if (range) {
        const m = /^(\d+)-(\d+)$/.exec(range.trim());
        const begin = Number(m?.[1]);
        const end = Number(m?.[2]);
        if (!m || begin < 1 || end > 65535 || begin > end) {
          problems.push({ key: "port-range", message: `expected "begin-end" with 1 <= begin <= end <= 65535, got "${range}"` });
        }
      }
    },
  },
  {
    type: "anytls",
    display: "AnyTLS",
    options: t.Object({
      ...serverOptions,
      ...commonOptions,
      password: t.String(),
      sni: str(),
      alpn: strList(),
      "client-fingerprint": str(),
      "skip-cert-verify": bool(),
      fingerprint: str(),
      "idle-session-check-interval": int(),
      "idle-session-timeout": int(),
      "min-idle-session": int(),
    }),
    udp: (o) => o.udp === true,
    addr: serverAddr,
    validate: checkFingerprint,
  },
  {
    type: "hysteria",
    display: "Hysteria",
    options: t.Object({
      ...commonOptions,
      ...quicTls,
      server: t.String(),
      port: int(),
      ports: str(),
      protocol: t.Optional(oneOf(HYSTERIA_PROTOCOLS)),
      "obfs-protocol": t.Optional(oneOf(HYSTERIA_PROTOCOLS)),
      up: t.String(),
      "up-speed": int(),
      down: t.String(),
      "down-speed": int(),
      auth: str(),
      "auth-str": str(),
      obfs: str(),
      "recv-window-conn": int(),
      "recv-window": int(),
      "disable-mtu-discovery": bool(),
      "fast-open": bool(),
      "hop-interval": int(),
    }),
    udp: () => true,
    addr: serverAddr,
    validate(o, problems) {
      checkPorts(o, problems);
      checkFingerprint(o, problems);
      for (const key of ["up", "down"] as const) {
        if (bandwidth(text(o[key])) === 0) {
          problems.push({ key, message: `invalid ${key === "up" ? "upload" : "download"} speed "${text(o[key])}" (e.g. 100, "30 Mbps", "10 MBps")` });
        }
      }
      const auth = text(o.auth);
      if (auth && (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth) || auth.length % 4 !== 0)) {
        problems.push({ key: "auth", message: "auth must be standard base64 (use auth-str for plain text)" });
      }
    },
  },
  {
    type: "hysteria2",
    display: "Hysteria2",
    options: t.Object({
      ...commonOptions,
      ...quicTls,
      server: t.String(),
      port: int(),
      ports: str(),
      "hop-interval": int(),
      up: str(),
      down: str(),
      password: str(),
      obfs: str(),
      "obfs-password": str(),
      cwnd: int(),
      "udp-mtu": int(),
      "initial-stream-receive-window": int(),
      "max-stream-receive-window": int(),
      "initial-connection-receive-window": int(),
      "max-connection-receive-window": int(),
    }),
    udp: () => true,
    addr: serverAddr,
    validate(o, problems) {
      const obfs = text(o.obfs);
      if (obfs) {
        if (!text(o["obfs-password"])) problems.push({ key: "obfs-password", message: "required when obfs is set" });
        if (obfs !== "salamander") problems.push({ key: "obfs", message: `unknown obfs type "${obfs}" (only salamander)` });
      }
      checkPorts(o, problems);
      checkFingerprint(o, problems);
      for (const key of ["up", "down"] as const) {
        const v = text(o[key]);
        if (v && bandwidth(v) === 0) {
          problems.push({ key, severity: "warning", message: `"${v}" is not a bandwidth mihomo reads (e.g. 100, "30 Mbps"): it counts as unset` });
        }
      }
    },
  },
  {
    type: "tuic",
    display: "Tuic",
    options: t.Object({
      ...serverOptions,
      ...commonOptions,
      ...quicTls,
      token: str(),
      uuid: str(),
      password: str(),
      ip: str(),
      "heartbeat-interval": int(),
      "reduce-rtt": bool(),
      "request-timeout": int(),
      "udp-relay-mode": str(),
      "congestion-controller": str(),
      "disable-sni": bool(),
      "max-udp-relay-packet-size": int(),
      "fast-open": bool(),
      "max-open-streams": int(),
      cwnd: int(),
      "recv-window-conn": int(),
      "recv-window": int(),
      "disable-mtu-discovery": bool(),
      "max-datagram-frame-size": int(),
      "udp-over-stream": bool(),
      "udp-over-stream-version": int(),
    }),
    udp: () => true,
    addr: serverAddr,
    validate(o, problems) {
      checkFingerprint(o, problems);
      const uos = num(o["udp-over-stream-version"]);
      if (uos !== 0 && uos !== 1 && uos !== 2) problems.push({ key: "udp-over-stream-version", message: `must be 1 or 2, got ${uos}` });
      if (!text(o.token) && !text(o.uuid)) problems.push({ key: "", message: "needs token (TUIC v4) or uuid and password (TUIC v5)" });
    },
  },
  {
    type: "wireguard",
    display: "WireGuard",
    options: t.Object({
      ...commonOptions,
      server: str(),
      port: int(),
      ip: str(),
      ipv6: str(),
      "private-key": t.String(),
      "public-key": str(),
      "pre-shared-key": str(),
      reserved: reserved(),
      "allowed-ips": strList(),
      workers: int(),
      mtu: int(),
      "persistent-keepalive": int(),
      "amnezia-wg-option": t.Optional(
        t.Object({ jc: int(), jmin: int(), jmax: int(), s1: int(), s2: int(), h1: int(), h2: int(), h3: int(), h4: int() }),
      ),
      peers: t.Optional(t.Array(wireguardPeer)),
      "remote-dns-resolve": bool(),
      dns: strList(),
      "refresh-server-ip-interval": int(),
    }),
    udp: (o) => o.udp === true,
    addr: (o) => {
      const peers = Array.isArray(o.peers) ? (o.peers as Record<string, unknown>[]) : [];
      return peers[0] ? joinHostPort(peers[0].server, peers[0].port) : serverAddr(o);
    },
    validate(o, problems) {
      checkKey(o["private-key"], "private-key", problems, true);
      if (!text(o.ip) && !text(o.ipv6)) problems.push({ key: "", message: "missing local address: set ip and/or ipv6" });
      if (text(o.ip)) checkPrefix(text(o.ip), 32, "ip", problems);
      if (text(o.ipv6)) checkPrefix(text(o.ipv6), 128, "ipv6", problems);
      const peers = Array.isArray(o.peers) ? (o.peers as Record<string, unknown>[]) : [];
      if (peers.length === 0) {
        // Single-peer form: the peer's keys sit on the entry itself.
        if (!text(o.server)) problems.push({ key: "server", message: "missing: set server, port and public-key, or peers" });
        if (num(o.port) === 0) problems.push({ key: "port", message: "missing: set server, port and public-key, or peers" });
        checkKey(o["public-key"], "public-key", problems, true);
        checkKey(o["pre-shared-key"], "pre-shared-key", problems, false);
        checkReserved(o.reserved, "reserved", problems);
        (Array.isArray(o["allowed-ips"]) ? (o["allowed-ips"] as string[]) : []).forEach((p, i) => {
          checkPrefix(p, p.includes(":") ? 128 : 32, `allowed-ips[${i}]`, problems);
        });
        return;
      }
      peers.forEach((peer, i) => {
        const at = `peers[${i}]`;
        if (!text(peer.server) || num(peer.port) === 0) problems.push({ key: at, message: "a peer needs server and port" });
        checkKey(peer["public-key"], `${at}.public-key`, problems, true);
        checkKey(peer["pre-shared-key"], `${at}.pre-shared-key`, problems, false);
        checkReserved(peer.reserved, `${at}.reserved`, problems);
        const allowed = Array.isArray(peer["allowed-ips"]) ? (peer["allowed-ips"] as string[]) : [];
        if (allowed.length === 0) problems.push({ key: `${at}.allowed-ips`, message: "missing allowed-ips for this peer" });
        allowed.forEach((p, j) => {
          checkPrefix(p, p.includes(":") ? 128 : 32, `${at}.allowed-ips[${j}]`, problems);
        });
      });
    },
  },
  {
    type: "ssh",
    display: "Ssh",
    options: t.Object({
      ...serverOptions,
      ...commonOptions,
      username: t.String(),
      password: str(),
      "private-key": str(),
      "private-key-passphrase": str(),
      "host-key": strList(),
      "host-key-algorithms": strList(),
    }),
    udp: () => false,
    addr: serverAddr,
  },
  {
    // Answered by the DNS module in mihomo (the `dns-out` pattern); ferry's has no hook for it yet.
    type: "dns",
    display: "Dns",
    options: t.Object({ ...commonOptions }),
    udp: () => true,
    addr: () => "",
  },
];
