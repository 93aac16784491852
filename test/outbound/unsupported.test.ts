/**
 * Proxy types ferry does not carry yet: a config with them loads, they are validated like real
 * ones (config.md §23 items 11–15), listed among the outbounds, warned about once per type and
 * config load, and every dial through them fails with a clear error.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { builtinPlugins } from "../../plugins/index.ts";
import { buildConfig } from "../../src/config/build.ts";
import type { ConfigIssue } from "../../src/config/issues.ts";
import { Registry } from "../../src/core/registry.ts";
import { type LogEntry, onLog } from "../../src/log.ts";
import { createMetadata, type Logger } from "../../src/sdk/index.ts";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };
const KEY = "gPtJ4vGiH6Ns8xfYM8VCAd+5Gp9F0JBtH4y0S7KQr3A=";

let registry: Registry;
let origin: ReturnType<typeof startOrigin>;
beforeAll(async () => {
  registry = new Registry();
  for (const p of builtinPlugins) await registry.load(p, "builtin", quiet);
  origin = startOrigin();
});
afterAll(() => origin.stop());

/** Build a config whose `proxies:` is the given YAML list items; returns the errors and warnings. */
function check(proxies: string[]): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const text = `proxies:\n${proxies.map((p) => `  - ${p}`).join("\n")}\n`;
  const { issues } = buildConfig(text, registry);
  return { errors: issues.filter((i) => i.severity === "error"), warnings: issues.filter((i) => i.severity === "warning") };
}

const at = (issues: ConfigIssue[]) => issues.map((i) => `${i.path}: ${i.message}`);

describe("validation of the types not carried yet", () => {
  const valid = [
    "{name: ssr, type: ssr, server: 192.0.2.1, port: 443, password: p, cipher: AES-256-CFB, obfs: tls1.2_ticket_auth, protocol: auth_chain_a}",
    "{name: snell, type: snell, server: 192.0.2.1, port: 443, psk: k, version: 3, udp: true, obfs-opts: {mode: tls}}",
    "{name: mieru, type: mieru, server: 192.0.2.1, port-range: 2090-2099, transport: TCP, username: u, password: p, multiplexing: MULTIPLEXING_LOW}",
    "{name: anytls, type: anytls, server: 192.0.2.1, port: 443, password: p, fingerprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99'}",
    "{name: hy1, type: hysteria, server: 192.0.2.1, ports: '1000-2000/3000', up: 30 Mbps, down: 100, auth: c2VjcmV0}",
    "{name: hy2, type: hysteria2, server: 192.0.2.1, port: 443, password: p, obfs: salamander, obfs-password: o, up: 10MBps}",
    "{name: tuic, type: tuic, server: 192.0.2.1, port: 443, uuid: u, password: p, udp-over-stream-version: 2}",
    `{name: wg, type: wireguard, server: 192.0.2.1, port: 51820, ip: 172.16.0.2, ipv6: 'fd00::2/128', private-key: '${KEY}', public-key: '${KEY}', reserved: U4An, udp: true}`,
    `{name: wg-peers, type: wireguard, ip: 172.16.0.2/32, private-key: '${KEY}', peers: [{server: 192.0.2.2, port: 51820, public-key: '${KEY}', reserved: [1, 2, 3], allowed-ips: ['0.0.0.0/0', '::/0']}]}`,
    "{name: ssh, type: ssh, server: 192.0.2.1, port: 22, username: root, private-key: key.pem}",
    "{name: dns-out, type: dns}",
  ];

  test("well-formed entries of every type load without errors", () => {
    const { errors } = check(valid);
    expect(at(errors)).toEqual([]);
  });

  const invalid: [string, string, string][] = [
    ["{name: a, type: ssr, server: s, port: 1, password: p, cipher: aes-128-gcm, obfs: plain, protocol: origin}", "proxies[0].cipher", "expected one of none, dummy, rc4-md5"],
    ["{name: a, type: ssr, server: s, port: 1, password: p, cipher: none, obfs: tls, protocol: origin}", "proxies[0].obfs", "expected one of plain"],
    ["{name: a, type: ssr, server: s, port: 1, password: p, cipher: none, obfs: plain, protocol: auth_chain_z}", "proxies[0].protocol", "expected one of origin"],
    ["{name: a, type: ssr, server: s, port: 1, cipher: none, obfs: plain, protocol: origin}", "proxies[0].password", "missing required key"],
    ["{name: a, type: snell, server: s, port: 1, psk: k, version: 4}", "proxies[0].version", "snell version must be 1, 2 or 3, got 4"],
    ["{name: a, type: snell, server: s, port: 1, psk: k, udp: true}", "proxies[0].udp", "UDP needs snell version 3 (this entry is version 1)"],
    ["{name: a, type: snell, server: s, port: 1, psk: k, obfs-opts: {mode: ws}}", "proxies[0].obfs-opts.mode", "expected one of , http, tls"],
    ["{name: a, type: mieru, server: s, transport: TCP, username: u, password: p}", "proxies[0]", "either port or port-range must be set"],
    ["{name: a, type: mieru, server: s, port: 1, port-range: 1-2, transport: TCP, username: u, password: p}", "proxies[0].port-range", "cannot be set at the same time"],
    ["{name: a, type: mieru, server: s, port-range: 9-2, transport: TCP, username: u, password: p}", "proxies[0].port-range", 'got "9-2"'],
    ["{name: a, type: mieru, server: s, port: 1, transport: UDP, username: u, password: p}", "proxies[0].transport", "expected one of TCP"],
    ["{name: a, type: mieru, server: s, port: 1, transport: TCP, username: u, password: p, multiplexing: MAX}", "proxies[0].multiplexing", "MULTIPLEXING_OFF"],
    ["{name: a, type: anytls, server: s, port: 1, password: p, fingerprint: abc}", "proxies[0].fingerprint", "expected a SHA-256 digest"],
    ["{name: a, type: hysteria, server: s, port: 1, down: 10}", "proxies[0].up", "missing required key"],
    ["{name: a, type: hysteria, server: s, port: 1, up: 30 mbps, down: 10}", "proxies[0].up", 'invalid upload speed "30 mbps"'],
    ["{name: a, type: hysteria, server: s, port: 1, up: 1, down: 1, protocol: tcp}", "proxies[0].protocol", "expected one of , udp, wechat-video, faketcp"],
    ["{name: a, type: hysteria, server: s, up: 1, down: 1}", "proxies[0].port", "invalid port: set port or ports"],
    ["{name: a, type: hysteria2, server: s, port: 1, obfs: salamander}", "proxies[0].obfs-password", "required when obfs is set"],
    ["{name: a, type: hysteria2, server: s, port: 1, obfs: xplus, obfs-password: o}", "proxies[0].obfs", 'unknown obfs type "xplus" (only salamander)'],
    ["{name: a, type: hysteria2, server: s}", "proxies[0].port", "invalid port: set port or ports"],
    ["{name: a, type: hysteria2, server: s, ports: '443,x'}", "proxies[0].ports", 'invalid port "x"'],
    ["{name: a, type: hysteria2, server: s, ports: '1-70000'}", "proxies[0].ports", "out of range"],
    ["{name: a, type: tuic, server: s, port: 1, uuid: u, udp-over-stream-version: 3}", "proxies[0].udp-over-stream-version", "must be 1 or 2, got 3"],
    ["{name: a, type: tuic, server: s, port: 1}", "proxies[0]", "needs token (TUIC v4) or uuid"],
    [`{name: a, type: wireguard, server: s, port: 1, private-key: '${KEY}', public-key: '${KEY}'}`, "proxies[0]", "missing local address"],
    [`{name: a, type: wireguard, server: s, port: 1, ip: 10.0.0.1, private-key: 'abc=', public-key: '${KEY}'}`, "proxies[0].private-key", "expected base64 of 32 bytes"],
    [`{name: a, type: wireguard, server: s, port: 1, ip: 10.0.0.1, private-key: '${KEY}', public-key: '${KEY}', reserved: [1, 2]}`, "proxies[0].reserved", "reserved must be 3 bytes"],
    [`{name: a, type: wireguard, server: s, port: 1, ip: 10.0.0.1, private-key: '${KEY}', public-key: '${KEY}', reserved: AAAAAA==}`, "proxies[0].reserved", "reserved must be 3 bytes"],
    [`{name: a, type: wireguard, ip: 10.0.0.1, private-key: '${KEY}', peers: [{server: s, port: 1, public-key: '${KEY}'}]}`, "proxies[0].peers[0].allowed-ips", "missing allowed-ips"],
    [`{name: a, type: wireguard, ip: 10.0.0.1, private-key: '${KEY}', peers: [{server: s, port: 1, public-key: x, allowed-ips: [0.0.0.0/0]}]}`, "proxies[0].peers[0].public-key", "expected base64 of 32 bytes"],
    [`{name: a, type: wireguard, ip: 10.0.0.999, private-key: '${KEY}', public-key: '${KEY}', server: s, port: 1}`, "proxies[0].ip", "is not an IP address"],
    ["{name: a, type: ssh, server: s, port: 22}", "proxies[0].username", "missing required key"],
  ];
  for (const [entry, path, message] of invalid) {
    test(`${path}: ${message}`, () => {
      const { errors } = check([entry]);
      expect(errors.find((e) => e.path === path)?.message ?? at(errors).join("\n")).toContain(message);
    });
  }

  test("an unparsable hysteria2 bandwidth is a warning (mihomo reads it as 0)", () => {
    const { errors, warnings } = check(["{name: a, type: hysteria2, server: s, port: 1, up: 1.5 Mbps}"]);
    expect(errors).toEqual([]);
    expect(at(warnings)).toEqual(['proxies[0].up: "1.5 Mbps" is not a bandwidth mihomo reads (e.g. 100, "30 Mbps"): it counts as unset']);
  });

  test("an unknown type is a config error naming the key path", () => {
    const { errors } = check(["{name: ok, type: direct}", "{name: odd, type: foo, server: s, port: 1}"]);
    expect(at(errors)).toEqual(['proxies[1].type: unsupported proxy type "foo"']);
  });
});

describe("a config with one unsupported node among fifty", () => {
  test("starts, lists the node, routes through the others, and fails dials to it clearly", async () => {
    const mixed = freePort();
    const blockedPort = freePort();
    // Nodes of the core types are loaded, never dialled: only d-7 and the hysteria2 node carry traffic.
    const proxies = [
      ...Array.from({ length: 42 }, (_, i) => `  - {name: d-${i}, type: direct}`),
      "  - {name: ss-0, type: ss, server: 192.0.2.1, port: 8388, cipher: aes-128-gcm, password: p, udp: true}",
      "  - {name: vmess-0, type: vmess, server: 192.0.2.1, port: 443, uuid: 9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f, alterId: 0, cipher: auto}",
      "  - {name: vless-0, type: vless, server: 192.0.2.1, port: 443, uuid: 9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f}",
      "  - {name: http-0, type: http, server: 192.0.2.1, port: 3128}",
      "  - {name: socks-0, type: socks5, server: 192.0.2.1, port: 1080}",
      "  - {name: t-0, type: trojan, server: 192.0.2.1, port: 443, password: p, udp: true}",
      "  - {name: '🇯🇵 hy2', type: hysteria2, server: 192.0.2.1, port: 443, password: p}",
      "  - {name: r-0, type: reject}",
    ];
    const config = [
      `mixed-port: ${mixed}`,
      "proxies:",
      ...proxies,
      "rules:",
      `  - DST-PORT,${blockedPort},🇯🇵 hy2`,
      "  - MATCH,d-7",
    ].join("\n");
    const lines: LogEntry[] = [];
    const stop = onLog((e) => lines.push(e));
    const ferry = await startRuntime(config);
    try {
      expect(ferry.engine.order).toHaveLength(50);
      expect(["ss-0", "vmess-0", "vless-0", "http-0", "socks-0", "t-0"].map((n) => ferry.engine.outbounds.get(n)?.type)).toEqual([
        "Shadowsocks",
        "Vmess",
        "Vless",
        "Http",
        "Socks5",
        "Trojan",
      ]);
      const hy2 = ferry.engine.outbounds.get("🇯🇵 hy2")!;
      expect({ type: hy2.type, addr: hy2.addr, udp: hy2.supportsUdp }).toEqual({ type: "Hysteria2", addr: "192.0.2.1:443", udp: true });

      const ok = await curl(["-x", `http://127.0.0.1:${mixed}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(ok.stdout).toBe("hello from origin\n");

      const message = 'proxy type "hysteria2" is not supported yet';
      const m = createMetadata({ network: "tcp", type: "Inner", destinationIP: "127.0.0.1", destinationPort: 80 });
      await expect(hy2.dialTcp(m)).rejects.toThrow(`🇯🇵 hy2: ${message}`);
      await expect(hy2.dialUdp!({ ...m, network: "udp" })).rejects.toThrow(`🇯🇵 hy2: ${message}`);

      const failed = await curl(["-x", `http://127.0.0.1:${mixed}`, `http://127.0.0.1:${blockedPort}/`]);
      expect(failed.stdout).not.toContain("hello");
      expect(lines.some((l) => l.type === "warning" && l.payload.includes(`dial 🇯🇵 hy2`) && l.payload.includes(message))).toBe(true);
    } finally {
      stop();
      await ferry.stop();
    }
  });

  test("one warning per type and config load, naming the nodes", async () => {
    const config = [
      `mixed-port: ${freePort()}`,
      "proxies:",
      "  - {name: h-a, type: hysteria2, server: 192.0.2.1, port: 443}",
      "  - {name: d, type: direct}",
      "  - {name: h-b, type: hysteria2, server: 192.0.2.1, port: 443}",
      "  - {name: t-a, type: tuic, server: 192.0.2.1, port: 443, token: x}",
      "rules:",
      "  - MATCH,d",
    ].join("\n");
    const lines: string[] = [];
    const stop = onLog((e) => {
      if (e.type === "warning" && e.payload.includes("is not supported yet")) lines.push(e.payload);
    });
    const ferry = await startRuntime(config);
    try {
      await Promise.resolve();
      expect(lines).toEqual([
        '[outbound-unsupported-hysteria2] proxy type "hysteria2" is not supported yet; connections through "h-a", "h-b" will fail',
        '[outbound-unsupported-tuic] proxy type "tuic" is not supported yet; connections through "t-a" will fail',
      ]);
      expect(await ferry.runtime.reload(config)).toBe(true);
      expect(lines).toHaveLength(4);
    } finally {
      stop();
      await ferry.stop();
    }
  });
});
