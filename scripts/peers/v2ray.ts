/**
 * v2ray 4.34 (Debian package `v2ray`) as peers: VMess and VLESS servers over tcp, ws or h2, with
 * or without TLS, and v2ray as a client (a SOCKS5 inbound, UDP too, in front of a VMess or VLESS
 * outbound) for the benchmarks. Entries of PEERS in ../peers.ts.
 *
 * Loopback only: a server's routing sends 127.0.0.0/8, ::1, localhost and `*.test` to `freedom`
 * and everything else to `blackhole`; names resolve in v2ray's own DNS, where `*.test` and
 * localhost are 127.0.0.1 (and the harness gives it a loopback-only resolv.conf as root).
 *
 * v2ray 4.34 accepts AEAD and legacy VMess headers alike (there is no switch to refuse legacy ones
 * before 4.35), so a passing client proves interoperability, not which header it sent.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCerts } from "../lib/certs.ts";
import { HOST } from "../lib/launch.ts";
import type { Ctx, InfoValue, PeerDef } from "../peers.ts";

const peer = <K extends string, I extends Record<string, InfoValue>>(d: PeerDef<K, I>) => d;

export const DEFAULT_UUID = "9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f";

type StreamKeys = "net" | "path" | "tls" | "sni" | "h2_host";

/**
 * streamSettings of one side; `tls` carries the certificate (server) or the CA to trust (client;
 * an empty `ca` skips verification).
 */
function streamSettings(
  c: Ctx<StreamKeys>,
  tls: { certificateFile: string; keyFile: string } | { ca: string } | undefined,
): Record<string, unknown> {
  const net = c.get("net");
  const s: Record<string, unknown> = { network: net, security: "none" };
  if (net === "ws") s.wsSettings = { path: c.get("path") };
  else if (net === "h2") s.httpSettings = { path: c.get("path"), host: [c.word("h2_host")] };
  else if (net === "http") {
    // TCP with v2ray's HTTP/1.1 header obfuscation (mihomo `network: http`).
    s.network = "tcp";
    s.tcpSettings = { header: { type: "http", request: { path: [c.get("path")] } } };
  } else if (net !== "tcp") throw new Error(`v2ray: net must be tcp, ws, h2 or http, got '${net}'`);
  if (tls) {
    s.security = "tls";
    const alpn = net === "h2" ? ["h2"] : ["http/1.1"];
    const serverName = c.word("sni");
    if (!("ca" in tls)) s.tlsSettings = { serverName, alpn, certificates: [tls] };
    else if (tls.ca) s.tlsSettings = { serverName, alpn, certificates: [{ usage: "verify", certificateFile: tls.ca }] };
    else s.tlsSettings = { serverName, alpn, allowInsecure: true };
  }
  return s;
}

function writeConfig(dir: string, loglevel: string, config: Record<string, unknown>): string {
  const file = join(dir, "v2ray.json");
  writeFileSync(file, JSON.stringify({ log: { loglevel, access: "none" }, ...config }, null, 2));
  return file;
}

type ServerKeys = StreamKeys | "port" | "uuid" | "loglevel";

/** A VMess, VLESS or SOCKS5 server; h2 always runs over TLS. */
function server(c: Ctx<ServerKeys>, protocol: "vmess" | "vless" | "socks", settings: Record<string, unknown>) {
  const port = c.port("port");
  const uuid = c.word("uuid");
  const tls = c.bool("tls") || c.get("net") === "h2";
  const certs = tls ? makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl")) : undefined;
  const loopback = ["127.0.0.0/8", "::1/128"];
  const names = ["full:localhost", "domain:localhost", "domain:test"];
  const file = writeConfig(c.dir, c.word("loglevel"), {
    inbounds: [
      {
        tag: "in",
        listen: HOST,
        port,
        protocol,
        settings,
        streamSettings: streamSettings(c, certs ? { certificateFile: certs.fullchain, keyFile: certs.key } : undefined),
      },
    ],
    // The first outbound is the default: anything no rule sends to freedom is dropped.
    outbounds: [
      { tag: "block", protocol: "blackhole", settings: {} },
      { tag: "direct", protocol: "freedom", settings: { domainStrategy: "UseIP" } },
    ],
    dns: {
      hosts: { "full:localhost": HOST, "domain:localhost": HOST, "domain:test": HOST },
      servers: [{ address: HOST, port: 53 }],
    },
    routing: {
      domainStrategy: "AsIs",
      rules: [
        { type: "field", ip: loopback, outboundTag: "direct" },
        { type: "field", domain: names, outboundTag: "direct" },
      ],
    },
  });
  return {
    cmd: [c.bin("v2ray"), "-config", file],
    tcp: [port],
    info: {
      server: `${HOST}:${port}`,
      uuid,
      net: c.get("net"),
      path: c.get("path"),
      tls: tls ? 1 : 0,
      sni: certs?.cn,
      ca: certs?.ca,
      certSha256: certs?.sha256,
      h2Host: c.get("net") === "h2" ? c.word("h2_host") : undefined,
    },
  };
}

const STREAM_DEFAULTS = { net: "tcp", path: "/ws", tls: "0", sni: "example.test", h2_host: "example.test" };

export const v2rayPeers = {
  /**
   * VMess server: net=tcp|ws|h2|http (path for ws, h2 and http, the latter being TCP with the
   * HTTP/1.1 header obfuscation; h2 implies TLS), tls=1 for TLS with a
   * throwaway CA (info.ca to trust, info.certSha256 to pin, info.sni), alter_id>0 for a user with
   * alter IDs (then legacy headers authenticate too).
   */
  "v2ray-vmess": peer({
    programs: ["v2ray", "openssl"],
    params: { port: "", uuid: DEFAULT_UUID, alter_id: "0", loglevel: "warning", ...STREAM_DEFAULTS },
    configure(c) {
      const spec = server(c, "vmess", { clients: [{ id: c.word("uuid"), alterId: c.int("alter_id") }] });
      return { ...spec, info: { ...spec.info, alterId: c.int("alter_id") } };
    },
  }),

  /** v2ray's SOCKS5 inbound straight to freedom (loopback only): the Go reference relay of the bench. */
  "v2ray-socks": peer({
    programs: ["v2ray"],
    params: { port: "", uuid: DEFAULT_UUID, loglevel: "warning", ...STREAM_DEFAULTS },
    configure(c) {
      const spec = server(c, "socks", { auth: "noauth", udp: true, ip: HOST });
      return { ...spec, info: { ...spec.info, socks: spec.info.server } };
    },
  }),

  /** VLESS server (`decryption: none`, no flow): the same transports as v2ray-vmess. */
  "v2ray-vless": peer({
    programs: ["v2ray", "openssl"],
    params: { port: "", uuid: DEFAULT_UUID, loglevel: "warning", ...STREAM_DEFAULTS },
    configure(c) {
      return server(c, "vless", { clients: [{ id: c.word("uuid") }], decryption: "none" });
    },
  }),

  /**
   * v2ray as the client: SOCKS5 (with UDP) on 127.0.0.1:port → a VMess or VLESS outbound to
   * 127.0.0.1:server_port. With tls=1 (or net=h2) it trusts `ca`, or skips verification when none
   * is given.
   */
  "v2ray-client": peer({
    programs: ["v2ray"],
    params: {
      port: "",
      server_port: "",
      proto: "vmess",
      uuid: DEFAULT_UUID,
      alter_id: "0",
      security: "aes-128-gcm",
      ca: "",
      loglevel: "warning",
      ...STREAM_DEFAULTS,
    },
    configure(c) {
      const port = c.port("port");
      const proto = c.get("proto");
      const user =
        proto === "vmess"
          ? { id: c.word("uuid"), alterId: c.int("alter_id"), security: c.word("security") }
          : proto === "vless"
            ? { id: c.word("uuid"), encryption: "none" }
            : undefined;
      if (!user) throw new Error(`v2ray-client: proto must be vmess or vless, got '${proto}'`);
      const tls = c.bool("tls") || c.get("net") === "h2";
      const stream = streamSettings(c, tls ? { ca: c.get("ca") } : undefined);
      const file = writeConfig(c.dir, c.word("loglevel"), {
        inbounds: [{ tag: "socks-in", listen: HOST, port, protocol: "socks", settings: { auth: "noauth", udp: true, ip: HOST } }],
        outbounds: [
          {
            tag: "proxy",
            protocol: proto,
            settings: { vnext: [{ address: HOST, port: c.int("server_port"), users: [user] }] },
            streamSettings: stream,
          },
        ],
      });
      return { cmd: [c.bin("v2ray"), "-config", file], tcp: [port], udp: [port], info: { socks: `${HOST}:${port}`, proto } };
    },
  }),
};
