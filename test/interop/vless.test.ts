/**
 * The vless outbound against v2ray 4.34 (the Debian package), through ferry's engine and mixed
 * port: tcp+tls and ws+tls (and plain tcp, which the benchmark uses). See v2ray-rows.ts for what
 * each row checks.
 */
import { describe } from "bun:test";
import { peersReady, requirePeer } from "./harness.ts";
import { describeRow, type Row, startTargets } from "./v2ray-rows.ts";

const ready = await peersReady("origin", "echo", "echo-udp", "v2ray-vless");

const vless = (uuid: string, port: number, extra: string) => `type: vless, server: 127.0.0.1, port: ${port}, uuid: ${uuid}, udp: true${extra}`;

const rows: Row[] = [
  {
    title: "vless tcp+tls, servername, certificate pinned",
    server: () => requirePeer("v2ray-vless", { tls: 1 }),
    proxy: (s, uuid) => vless(uuid, s.port, `, tls: true, servername: ${s.info.sni}, fingerprint: "${s.info.certSha256}"`),
    udp: true,
  },
  {
    title: "vless ws+tls, skip-cert-verify",
    server: () => requirePeer("v2ray-vless", { net: "ws", path: "/vl", tls: 1 }),
    proxy: (s, uuid) => vless(uuid, s.port, `, tls: true, servername: ${s.info.sni}, skip-cert-verify: true, network: ws, ws-opts: {path: /vl}`),
    udp: true,
  },
  {
    title: "vless tcp, no TLS",
    server: () => requirePeer("v2ray-vless"),
    proxy: (s, uuid) => vless(uuid, s.port, ""),
    udp: true,
  },
];

describe.skipIf(!ready)("vless outbound against v2ray 4.34", async () => {
  if (!ready) return;
  const targets = await startTargets();
  for (const row of rows) describeRow(row, targets);
});
