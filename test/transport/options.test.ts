/** mihomo keys → transport options (plugins/outbound/common.ts), and the http/socks5 option checks at load. */
import { describe, expect, test } from "bun:test";
import { h2OptionsFrom, httpOptionsFrom, normalizeFingerprint, tlsOptionsFrom, wsOptionsFrom } from "../../plugins/outbound/common.ts";
import { UserError } from "../../src/sdk/index.ts";
import { startRuntime } from "../helpers.ts";

const PIN = "44:8C:DD:C0:50:89:4A:E6:32:C4:E0:1C:34:A7:FB:C1:95:04:51:D1:CD:68:60:AB:43:28:F0:A7:1C:EC:7A:5B";

describe("tlsOptionsFrom", () => {
  test("sni, then servername, then the default; pins normalised", () => {
    expect(tlsOptionsFrom({ sni: "a.test", servername: "b.test" }, "c.test").serverName).toBe("a.test");
    expect(tlsOptionsFrom({ servername: "b.test" }, "c.test").serverName).toBe("b.test");
    expect(tlsOptionsFrom({}, "c.test")).toEqual({ serverName: "c.test" });
    expect(tlsOptionsFrom({ "skip-cert-verify": true, alpn: ["h2"], fingerprint: PIN }, "c.test")).toEqual({
      serverName: "c.test",
      skipCertVerify: true,
      alpn: ["h2"],
      fingerprint: PIN.replaceAll(":", "").toLowerCase(),
    });
  });

  test("a fingerprint that is not 32 bytes of hex is a UserError", () => {
    expect(() => normalizeFingerprint("abc")).toThrow(UserError);
    expect(() => tlsOptionsFrom({ fingerprint: "zz".repeat(32) }, "x")).toThrow(/fingerprint/);
  });
});

describe("wsOptionsFrom", () => {
  test("?ed=N in the path becomes early data in Sec-WebSocket-Protocol and leaves the path", () => {
    expect(wsOptionsFrom({ path: "/ws?ed=2048" }, "srv.test")).toEqual({
      host: "srv.test",
      path: "/ws",
      headers: {},
      maxEarlyData: 2048,
      earlyDataHeaderName: "Sec-WebSocket-Protocol",
    });
    expect(wsOptionsFrom({ path: "/p?a=1&ed=10" }, "s").path).toBe("/p?a=1");
  });

  test("the Host header becomes host; a path gets its leading slash; explicit early-data keys pass", () => {
    const o = wsOptionsFrom(
      { path: "ws", headers: { host: "cdn.test", "User-Agent": "x" }, "max-early-data": 100, "early-data-header-name": "X-Ed", "v2ray-http-upgrade": true },
      "srv.test",
    );
    expect(o).toEqual({ host: "cdn.test", path: "/ws", headers: { "User-Agent": "x" }, maxEarlyData: 100, earlyDataHeaderName: "X-Ed", v2rayHttpUpgrade: true });
    expect(wsOptionsFrom(undefined, "srv.test")).toEqual({ host: "srv.test", path: "/", headers: {} });
  });
});

describe("h2 and http option defaults (mihomo's)", () => {
  test("h2: host www.example.com, path /", () => {
    expect(h2OptionsFrom(undefined)).toEqual({ host: ["www.example.com"], path: "/" });
    expect(h2OptionsFrom({ host: ["a.test"], path: "x" })).toEqual({ host: ["a.test"], path: "/x" });
  });

  test("http: GET, path /, Host = server", () => {
    expect(httpOptionsFrom(undefined, "srv.test")).toEqual({ method: "GET", path: ["/"], headers: {}, host: "srv.test" });
  });
});

describe("http and socks5 options at load", () => {
  test("a bad fingerprint and an over-long SOCKS username are config errors at their key paths", async () => {
    const config = [
      "proxies:",
      `  - {name: a, type: socks5, server: 127.0.0.1, port: 1, fingerprint: "abc", username: ${"x".repeat(300)}}`,
      "  - {name: b, type: http, server: 127.0.0.1, port: 2, tls: true, fingerprint: nothex}",
      "rules:",
      "  - MATCH,a",
    ].join("\n");
    const err = await startRuntime(config).then(
      async (f) => {
        await f.stop();
        return undefined;
      },
      (e: Error) => e.message,
    );
    expect(err).toContain("proxies[0].fingerprint");
    expect(err).toContain("proxies[0].username");
    expect(err).toContain("longer than 255 bytes");
    expect(err).toContain("proxies[1].fingerprint");
  });

  test("mihomo's common keys and spellings are accepted (udp as int, skip_cert_verify, port as string)", async () => {
    const f = await startRuntime(
      [
        "proxies:",
        '  - {name: a, type: http, server: 127.0.0.1, port: "1080", udp: 1, tls: true, skip_cert_verify: true, headers: {X-A: b}, ip-version: ipv4, tfo: false, mptcp: false, routing-mark: 0, interface-name: lo, smux: {enabled: false}}',
        "  - {name: b, type: socks5, server: 127.0.0.1, port: 1081, udp: true, dialer-proxy: a}",
        "rules:",
        "  - MATCH,b",
      ].join("\n"),
    );
    try {
      expect(f.engine.outbounds.get("a")?.addr).toBe("127.0.0.1:1080");
      expect(f.engine.outbounds.get("b")?.supportsUdp).toBe(true);
    } finally {
      await f.stop();
    }
  });
});
