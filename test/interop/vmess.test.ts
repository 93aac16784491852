/**
 * The vmess outbound against v2ray 4.34 (the Debian package), through ferry's engine and mixed
 * port: each security, global padding, the legacy header (alterId 4), and the ws, ws+tls,
 * h2+tls, http and tcp+tls transports.
 * See v2ray-rows.ts for what each row checks.
 */
import { describe } from "bun:test";
import { peersReady, requirePeer } from "./harness.ts";
import { describeRow, type Row, startTargets } from "./v2ray-rows.ts";

const ready = await peersReady("origin", "echo", "echo-udp", "v2ray-vmess");

const vmess = (uuid: string, port: number, extra: string) => `type: vmess, server: 127.0.0.1, port: ${port}, uuid: ${uuid}, udp: true, ${extra}`;

const rows: Row[] = [
  ...(["aes-128-gcm", "chacha20-poly1305", "none"] as const).map(
    (cipher): Row => ({
      title: `vmess tcp, ${cipher}, alterId 0 (AEAD header)`,
      server: () => requirePeer("v2ray-vmess"),
      proxy: (s, uuid) => vmess(uuid, s.port, `alterId: 0, cipher: ${cipher}`),
      udp: true,
    }),
  ),
  {
    title: "vmess tcp, aes-128-gcm, global-padding",
    server: () => requirePeer("v2ray-vmess"),
    proxy: (s, uuid) => vmess(uuid, s.port, "alterId: 0, cipher: aes-128-gcm, global-padding: true"),
    udp: true,
  },
  {
    title: "vmess tcp, auto, alterId 4 (legacy header)",
    server: () => requirePeer("v2ray-vmess", { alter_id: 4 }),
    proxy: (s, uuid) => vmess(uuid, s.port, "alterId: 4, cipher: auto"),
    udp: true,
  },
  {
    title: "vmess ws, aes-128-gcm",
    server: () => requirePeer("v2ray-vmess", { net: "ws", path: "/vm" }),
    proxy: (s, uuid) => vmess(uuid, s.port, "alterId: 0, cipher: aes-128-gcm, network: ws, ws-opts: {path: /vm}"),
    udp: true,
  },
  {
    title: "vmess ws+tls, SNI from the ws Host header, certificate pinned",
    server: () => requirePeer("v2ray-vmess", { net: "ws", path: "/vm", tls: 1 }),
    proxy: (s, uuid) =>
      vmess(
        uuid,
        s.port,
        `alterId: 0, cipher: auto, network: ws, tls: true, fingerprint: "${s.info.certSha256}", ws-opts: {path: /vm, headers: {Host: ${s.info.sni}}}`,
      ),
    udp: true,
  },
  {
    title: "vmess h2+tls, h2-opts host and path",
    server: () => requirePeer("v2ray-vmess", { net: "h2", path: "/h2" }),
    proxy: (s, uuid) =>
      vmess(uuid, s.port, `alterId: 0, cipher: aes-128-gcm, network: h2, tls: true, servername: ${s.info.sni}, skip-cert-verify: true, h2-opts: {host: [${s.info.h2Host}], path: /h2}`),
    udp: true,
  },
  {
    title: "vmess http (HTTP/1.1 header obfuscation)",
    server: () => requirePeer("v2ray-vmess", { net: "http", path: "/obfs" }),
    proxy: (s, uuid) => vmess(uuid, s.port, "alterId: 0, cipher: aes-128-gcm, network: http, http-opts: {path: [/obfs]}"),
    udp: true,
  },
  {
    title: "vmess tcp+tls, servername, skip-cert-verify",
    server: () => requirePeer("v2ray-vmess", { tls: 1 }),
    proxy: (s, uuid) => vmess(uuid, s.port, `alterId: 0, cipher: chacha20-poly1305, tls: true, servername: ${s.info.sni}, skip-cert-verify: true`),
    udp: true,
  },
];

describe.skipIf(!ready)("vmess outbound against v2ray 4.34", async () => {
  if (!ready) return;
  const targets = await startTargets();
  for (const row of rows) describeRow(row, targets);
});
