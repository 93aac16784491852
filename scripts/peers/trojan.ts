/**
 * Trojan servers as peers: trojan-gfw 1.16 (Debian `trojan`, the reference implementation, TLS
 * only) and v2ray 4.34's trojan inbound (Go, a second implementation, TLS with tcp or WebSocket);
 * and trojan-gfw as a client (SOCKS5 in front) for the benchmarks. Entries of PEERS in ../peers.ts.
 *
 * Loopback only: trojan-gfw resolves targets itself (the harness gives it a loopback-only
 * resolv.conf as root): ask it for IP targets. The v2ray server routes only 127.0.0.0/8, ::1,
 * localhost and `*.test` to `freedom`; everything else goes to `blackhole`.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCerts } from "../lib/certs.ts";
import { HOST } from "../lib/launch.ts";
import type { InfoValue, PeerDef } from "../peers.ts";

const peer = <K extends string, I extends Record<string, InfoValue>>(d: PeerDef<K, I>) => d;

export const TROJAN_PASSWORD = "peer-pass";

export const trojanPeers = {
  /**
   * trojan-gfw server: TLS (ALPN http/1.1, certificate for `sni` from a throwaway CA: info.ca to
   * trust, info.certSha256 to pin), CONNECT and UDP ASSOCIATE. Anything that is not a valid trojan
   * request goes to 127.0.0.1:fallback_port (default 9: nothing listens, so it is refused).
   */
  trojan: peer({
    programs: ["trojan", "openssl"],
    params: { port: "", password: TROJAN_PASSWORD, fallback_port: "9", sni: "example.test" },
    configure(c) {
      const port = c.port("port");
      const password = c.word("password");
      const certs = makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl"));
      const conf = {
        run_type: "server",
        local_addr: HOST,
        local_port: port,
        remote_addr: HOST,
        remote_port: c.int("fallback_port"),
        password: [password],
        log_level: 2,
        ssl: {
          cert: certs.fullchain,
          key: certs.key,
          key_password: "",
          prefer_server_cipher: true,
          alpn: ["http/1.1"],
          reuse_session: true,
          session_ticket: false,
        },
        tcp: { prefer_ipv4: true, no_delay: true, keep_alive: true, reuse_port: false, fast_open: false },
        mysql: { enabled: false },
      };
      writeFileSync(join(c.dir, "trojan.json"), JSON.stringify(conf, null, 2));
      return {
        cmd: [c.bin("trojan"), "-c", join(c.dir, "trojan.json")],
        tcp: [port],
        info: {
          server: `${HOST}:${port}`,
          password,
          ca: certs.ca,
          sni: certs.cn,
          certSha256: certs.sha256,
          fallbackPort: c.int("fallback_port"),
        },
      };
    },
  }),

  /** v2ray's trojan inbound over TLS, net=tcp or net=ws (at `path`); TCP and UDP. */
  "v2ray-trojan": peer({
    programs: ["v2ray", "openssl"],
    params: { port: "", password: TROJAN_PASSWORD, net: "tcp", path: "/trojan", sni: "example.test", loglevel: "warning" },
    configure(c) {
      const port = c.port("port");
      const password = c.word("password");
      const net = c.get("net");
      if (net !== "tcp" && net !== "ws") throw new Error(`v2ray-trojan: net must be tcp or ws, got '${net}'`);
      const path = c.get("path");
      if (!/^\/[\w./-]*$/.test(path)) throw new Error(`v2ray-trojan: path must start with / and hold only letters, digits and . / - _`);
      const certs = makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl"));
      const stream: Record<string, unknown> = {
        network: net,
        security: "tls",
        tlsSettings: { serverName: certs.cn, alpn: ["http/1.1"], certificates: [{ certificateFile: certs.fullchain, keyFile: certs.key }] },
      };
      if (net === "ws") stream.wsSettings = { path };
      const config = {
        log: { loglevel: c.word("loglevel"), access: "none" },
        inbounds: [{ tag: "in", listen: HOST, port, protocol: "trojan", settings: { clients: [{ password }] }, streamSettings: stream }],
        // The first outbound is the default: anything no rule sends to freedom is dropped.
        outbounds: [
          { tag: "block", protocol: "blackhole", settings: {} },
          { tag: "direct", protocol: "freedom", settings: { domainStrategy: "UseIP" } },
        ],
        dns: { hosts: { "full:localhost": HOST, "domain:localhost": HOST, "domain:test": HOST }, servers: [{ address: HOST, port: 53 }] },
        routing: {
          domainStrategy: "AsIs",
          rules: [
            { type: "field", ip: ["127.0.0.0/8", "::1/128"], outboundTag: "direct" },
            { type: "field", domain: ["full:localhost", "domain:localhost", "domain:test"], outboundTag: "direct" },
          ],
        },
      };
      const file = join(c.dir, "v2ray.json");
      writeFileSync(file, JSON.stringify(config, null, 2));
      return {
        cmd: [c.bin("v2ray"), "-config", file],
        tcp: [port],
        info: { server: `${HOST}:${port}`, password, net, path: net === "ws" ? path : undefined, ca: certs.ca, sni: certs.cn, certSha256: certs.sha256 },
      };
    },
  }),

  /**
   * trojan-gfw as the client: SOCKS5 (CONNECT) on 127.0.0.1:port → a trojan-gfw (or other trojan)
   * server on 127.0.0.1:server_port over TLS with `sni`. It verifies the server against `ca` (the
   * server peer's info.ca), or skips verification with insecure=1. For the benchmarks.
   */
  "trojan-client": peer({
    programs: ["trojan"],
    params: { port: "", server_port: "", password: TROJAN_PASSWORD, sni: "example.test", ca: "", insecure: "0" },
    configure(c) {
      const port = c.port("port");
      const serverPort = c.int("server_port");
      const insecure = c.bool("insecure");
      const ca = c.get("ca");
      if (!insecure && !(ca && existsSync(ca))) throw new Error("trojan-client: needs ca=PATH (the server's CA) or insecure=1");
      const conf = {
        run_type: "client",
        local_addr: HOST,
        local_port: port,
        remote_addr: HOST,
        remote_port: serverPort,
        password: [c.word("password")],
        log_level: 2,
        ssl: {
          verify: !insecure,
          verify_hostname: !insecure,
          cert: insecure ? "" : ca,
          sni: c.word("sni"),
          alpn: ["http/1.1"],
          reuse_session: true,
          session_ticket: false,
        },
        tcp: { no_delay: true, keep_alive: true, reuse_port: false, fast_open: false },
      };
      writeFileSync(join(c.dir, "trojan-client.json"), JSON.stringify(conf, null, 2));
      return { cmd: [c.bin("trojan"), "-c", join(c.dir, "trojan-client.json")], tcp: [port], info: { socks: `${HOST}:${port}` } };
    },
  }),
};
