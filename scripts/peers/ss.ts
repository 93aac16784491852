/**
 * shadowsocks-libev 3.3 (Debian `shadowsocks-libev`) as peers: ss-server for the AEAD ciphers
 * (TCP and UDP on one port), the same behind the SIP003 plugins simple-obfs (`obfs-server`, http
 * or tls) and v2ray-plugin (`ss-v2ray-plugin`, WebSocket with or without TLS), and ss-local (a
 * SOCKS5 front to an ss-server) for the bench; and v2ray's shadowsocks inbound (Go, a second
 * independent server). Entries of PEERS in ../peers.ts.
 *
 * Loopback only: ss-server listens on 127.0.0.1 and resolves names with `nameserver 127.0.0.1`
 * (the harness also gives it a loopback-only resolv.conf as root), so ask it for IP targets.
 * With a plugin, the plugin owns the public port and ss-server listens on a port it picks itself;
 * readiness is judged on the public port, owned by the process tree.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCerts } from "../lib/certs.ts";
import { HOST } from "../lib/launch.ts";
import type { Ctx, InfoValue, PeerDef } from "../peers.ts";

const peer = <K extends string, I extends Record<string, InfoValue>>(d: PeerDef<K, I>) => d;

export const SS_PASSWORD = "ferry-ss-pass";
export const SS_CIPHERS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305"] as const;

function cipherOf(c: Ctx<"cipher">): string {
  const cipher = c.get("cipher");
  if (!(SS_CIPHERS as readonly string[]).includes(cipher)) throw new Error(`ss: cipher must be one of ${SS_CIPHERS.join(", ")}, got '${cipher}'`);
  return cipher;
}

type ServerKeys = "port" | "cipher" | "password" | "udp";

/** ss-server's JSON config; `plugin` runs in front of it on the public port. */
function serverConfig(c: Ctx<ServerKeys>, plugin?: { name: string; opts: string }) {
  const port = c.port("port");
  const cipher = cipherOf(c);
  const password = c.word("password");
  const udp = c.bool("udp") && !plugin;
  const file = join(c.dir, "ss-server.json");
  writeFileSync(
    file,
    JSON.stringify({
      server: HOST,
      server_port: port,
      password,
      method: cipher,
      mode: udp ? "tcp_and_udp" : "tcp_only",
      timeout: 300,
      nameserver: HOST,
      ...(plugin ? { plugin: plugin.name, plugin_opts: plugin.opts } : {}),
    }),
  );
  return {
    cmd: [c.bin("ss-server"), "-c", file],
    tcp: [port],
    udp: udp ? [port] : [],
    port,
    cipher,
    password,
    udpOn: udp,
  };
}

export const ssPeers = {
  /**
   * ss-server, AEAD ciphers; TCP and (udp=1, default) UDP relay on one port. A client with the
   * wrong password gets no answer: ss-server logs "authentication error" and keeps reading and
   * dropping on that connection (so probes learn nothing) until the client closes it.
   */
  "ss-server": peer({
    programs: ["ss-server"],
    params: { port: "", cipher: "aes-128-gcm", password: SS_PASSWORD, udp: "1" },
    configure(c) {
      const s = serverConfig(c);
      return { cmd: s.cmd, tcp: s.tcp, udp: s.udp, info: { server: `${HOST}:${s.port}`, cipher: s.cipher, password: s.password, udp: s.udpOn ? 1 : 0 } };
    },
  }),

  /** ss-server behind simple-obfs (`obfs-server`), mode http or tls; TCP only. */
  "ss-server-obfs": peer({
    programs: ["ss-server", "obfs-server"],
    params: { port: "", cipher: "aes-128-gcm", password: SS_PASSWORD, udp: "0", mode: "http" },
    configure(c) {
      const mode = c.get("mode");
      if (mode !== "http" && mode !== "tls") throw new Error(`ss-server-obfs: mode must be http or tls, got '${mode}'`);
      const s = serverConfig(c, { name: c.bin("obfs-server"), opts: `obfs=${mode}` });
      return { cmd: s.cmd, tcp: s.tcp, info: { server: `${HOST}:${s.port}`, cipher: s.cipher, password: s.password, mode } };
    },
  }),

  /**
   * ss-server behind v2ray-plugin: WebSocket on `path`, with tls=1 over TLS (a throwaway CA;
   * info.certSha256 to pin, info.ca to trust). TCP only.
   */
  "ss-server-v2ray": peer({
    programs: ["ss-server", "ss-v2ray-plugin", "openssl"],
    params: { port: "", cipher: "aes-128-gcm", password: SS_PASSWORD, udp: "0", tls: "0", host: "example.test", path: "/ss" },
    configure(c) {
      const host = c.word("host");
      const path = c.get("path");
      if (!/^\/[\w./-]*$/.test(path)) throw new Error(`ss-server-v2ray: bad path '${path}'`);
      const opts = ["server", `host=${host}`, `path=${path}`, "loglevel=none"];
      const certs = c.bool("tls") ? makeCerts(join(c.dir, "certs"), host, c.bin("openssl")) : undefined;
      if (certs) opts.push("tls", `cert=${certs.fullchain}`, `key=${certs.key}`);
      const s = serverConfig(c, { name: c.bin("ss-v2ray-plugin"), opts: opts.join(";") });
      return {
        cmd: s.cmd,
        tcp: s.tcp,
        info: { server: `${HOST}:${s.port}`, cipher: s.cipher, password: s.password, host, wsPath: path, ca: certs?.ca, certSha256: certs?.sha256 },
      };
    },
  }),

  /**
   * v2ray 4.34's shadowsocks inbound (aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305), TCP and
   * UDP. Routing passes only loopback targets (127.0.0.0/8, ::1); everything else is dropped.
   */
  "v2ray-ss": peer({
    programs: ["v2ray"],
    params: { port: "", cipher: "aes-256-gcm", password: SS_PASSWORD },
    configure(c) {
      const port = c.port("port");
      const cipher = cipherOf(c);
      if (!["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"].includes(cipher)) throw new Error(`v2ray-ss: v2ray 4.34 has no ${cipher}`);
      const password = c.word("password");
      const file = join(c.dir, "v2ray.json");
      writeFileSync(
        file,
        JSON.stringify({
          log: { loglevel: "warning", access: "none" },
          inbounds: [{ listen: HOST, port, protocol: "shadowsocks", settings: { method: cipher, password, network: "tcp,udp" } }],
          // The first outbound is the default: whatever no rule sends to freedom is dropped.
          outbounds: [
            { tag: "block", protocol: "blackhole", settings: {} },
            { tag: "direct", protocol: "freedom", settings: {} },
          ],
          routing: { domainStrategy: "AsIs", rules: [{ type: "field", ip: ["127.0.0.0/8", "::1/128"], outboundTag: "direct" }] },
        }),
      );
      return { cmd: [c.bin("v2ray"), "-config", file], tcp: [port], udp: [port], info: { server: `${HOST}:${port}`, cipher, password } };
    },
  }),

  /** ss-local: a SOCKS5 server (UDP too) in front of an ss-server at server_port. */
  "ss-local": peer({
    programs: ["ss-local"],
    params: { port: "", server_port: "", cipher: "aes-128-gcm", password: SS_PASSWORD },
    configure(c) {
      const port = c.port("port");
      const file = join(c.dir, "ss-local.json");
      writeFileSync(
        file,
        JSON.stringify({
          server: HOST,
          server_port: c.int("server_port"),
          local_address: HOST,
          local_port: port,
          password: c.word("password"),
          method: cipherOf(c),
          mode: "tcp_and_udp",
          timeout: 300,
        }),
      );
      return { cmd: [c.bin("ss-local"), "-c", file], tcp: [port], info: { socks: `${HOST}:${port}` } };
    },
  }),
};
