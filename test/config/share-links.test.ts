/**
 * Share links and subscriptions (config.md §7.18), with links shaped like the ones real
 * subscriptions carry: emoji and CJK names, IPv6 servers, percent-encoded passwords, base64 bodies.
 */
import { describe, expect, test } from "bun:test";
import { type ProxyMap, parseShareLink, parseSubscription, toShareLink } from "../../src/config/share-links.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const b64url = (s: string) => Buffer.from(s, "utf8").toString("base64url");

describe("ss://", () => {
  test("SIP002 with base64url userinfo", () => {
    expect(parseShareLink("ss://YWVzLTEyOC1nY206dGVzdA@192.0.2.1:8888#Example1")).toEqual({
      name: "Example1",
      type: "ss",
      server: "192.0.2.1",
      port: 8888,
      cipher: "aes-128-gcm",
      password: "test",
      udp: true,
    });
  });

  test("SIP002 with padded standard base64 and an obfs plugin", () => {
    const link = `ss://${b64("chacha20-ietf-poly1305:pa ss/+")}@example.com:443/?plugin=obfs-local%3Bobfs%3Dhttp%3Bobfs-host%3Dwww.bing.com#%F0%9F%87%AF%F0%9F%87%B5%20Tokyo`;
    expect(parseShareLink(link)).toEqual({
      name: "🇯🇵 Tokyo",
      type: "ss",
      server: "example.com",
      port: 443,
      cipher: "chacha20-ietf-poly1305",
      password: "pa ss/+",
      udp: true,
      plugin: "obfs",
      "plugin-opts": { mode: "http", host: "www.bing.com" },
    });
  });

  test("AEAD-2022 plain userinfo, IPv6 server, uot and v2ray-plugin with tls", () => {
    const link =
      "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D@[2001:db8::1]:8888/?uot=1&plugin=v2ray-plugin%3Bmode%3Dwebsocket%3Bhost%3Dcdn.example.com%3Bpath%3D%2Fws%3Btls#%E9%A6%99%E6%B8%AF%2001";
    expect(parseShareLink(link)).toEqual({
      name: "香港 01",
      type: "ss",
      server: "2001:db8::1",
      port: 8888,
      cipher: "2022-blake3-aes-256-gcm",
      password: "YctPZ6U7xPPcU+gp3u+0tx/tRizJN9K8y+uKlW2qjlI=",
      udp: true,
      "udp-over-tcp": true,
      plugin: "v2ray-plugin",
      "plugin-opts": { mode: "websocket", host: "cdn.example.com", path: "/ws", tls: true },
    });
  });

  test("legacy whole-link base64", () => {
    const link = `ss://${b64("aes-256-gcm:p@ss:word@[::1]:8388")}#legacy`;
    expect(parseShareLink(link)).toMatchObject({ name: "legacy", server: "::1", port: 8388, cipher: "aes-256-gcm", password: "p@ss:word" });
  });

  test("an unknown plugin is an error, not a silently plain node", () => {
    expect(() => parseShareLink("ss://YWVzLTEyOC1nY206dGVzdA@192.0.2.1:8888/?plugin=kcptun%3Bkey%3Dx#k")).toThrow(
      'ss plugin "kcptun" is not supported',
    );
  });
});

describe("vmess://", () => {
  const json = {
    v: "2",
    ps: "🇭🇰 香港 | 01",
    add: "hk.example.com",
    port: "443",
    id: "9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f",
    aid: "0",
    scy: "auto",
    net: "ws",
    type: "none",
    host: "cdn.example.com",
    path: "/ray?ed=2048",
    tls: "tls",
    sni: "cdn.example.com",
    alpn: "h2,http/1.1",
    fp: "chrome",
  };

  test("v2rayN base64 JSON: ws with early data in the path", () => {
    expect(parseShareLink(`vmess://${b64(JSON.stringify(json))}`)).toEqual({
      name: "🇭🇰 香港 | 01",
      type: "vmess",
      server: "hk.example.com",
      port: 443,
      uuid: "9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f",
      alterId: 0,
      cipher: "auto",
      udp: true,
      xudp: true,
      tls: true,
      servername: "cdn.example.com",
      "client-fingerprint": "chrome",
      alpn: ["h2", "http/1.1"],
      network: "ws",
      "ws-opts": {
        path: "/ray",
        headers: { Host: "cdn.example.com" },
        "max-early-data": 2048,
        "early-data-header-name": "Sec-WebSocket-Protocol",
      },
    });
  });

  test("numbers where v2rayN writes strings, unpadded base64, grpc, h2 and tcp+http", () => {
    const grpc = { ...json, port: 8443, aid: 2, net: "grpc", path: "svc", tls: "", alpn: "", fp: "" };
    const p = parseShareLink(`vmess://${b64(JSON.stringify(grpc)).replace(/=+$/, "")}`);
    expect(p).toMatchObject({ port: 8443, alterId: 2, network: "grpc", "grpc-opts": { "grpc-service-name": "svc" } });
    expect(p.tls).toBeUndefined();
    const h2 = parseShareLink(`vmess://${b64(JSON.stringify({ ...json, net: "h2", path: "/h2" }))}`);
    expect(h2).toMatchObject({ network: "h2", "h2-opts": { path: "/h2", host: ["cdn.example.com"] } });
    const http = parseShareLink(`vmess://${b64(JSON.stringify({ ...json, net: "tcp", type: "http", path: "" }))}`);
    expect(http).toMatchObject({ network: "http", "http-opts": { path: ["/"], headers: { Host: ["cdn.example.com"] } } });
  });

  test("Xray URL form", () => {
    const p = parseShareLink("vmess://9d3c6e1a-2b4f-4c1d-8e7a-0f5b6c7d8e9f@192.0.2.7:10086?encryption=aes-128-gcm&security=tls&sni=a.example&type=ws&path=%2Fv#x");
    expect(p).toMatchObject({ type: "vmess", alterId: 0, cipher: "aes-128-gcm", tls: true, servername: "a.example", network: "ws", "ws-opts": { path: "/v" } });
  });

  test("kcp has no mihomo transport: an error", () => {
    expect(() => parseShareLink(`vmess://${b64(JSON.stringify({ ...json, net: "kcp" }))}`)).toThrow('transport "kcp" is not supported');
  });
});

describe("vless://", () => {
  test("REALITY with flow, IPv6 server and a CJK name", () => {
    const link =
      "vless://b831381d-6324-4d53-ad4f-8cda48b30811@[2001:db8::2]:443?encryption=none&flow=xtls-rprx-vision&security=reality&sni=www.microsoft.com&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=6ba85179e30d4fc2&type=tcp&headerType=none#%E6%97%A5%E6%9C%AC%20Tokyo";
    expect(parseShareLink(link)).toEqual({
      name: "日本 Tokyo",
      type: "vless",
      server: "2001:db8::2",
      port: 443,
      uuid: "b831381d-6324-4d53-ad4f-8cda48b30811",
      udp: true,
      tls: true,
      servername: "www.microsoft.com",
      "client-fingerprint": "chrome",
      "reality-opts": { "public-key": "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw", "short-id": "6ba85179e30d4fc2" },
      flow: "xtls-rprx-vision",
      xudp: true,
    });
  });

  test("REALITY without fp gets chrome (it cannot work without one); plain TLS does not", () => {
    expect(parseShareLink("vless://u@h.example:443?security=reality&pbk=k#r")["client-fingerprint"]).toBe("chrome");
    expect(parseShareLink("vless://u@h.example:443?security=tls#t")["client-fingerprint"]).toBeUndefined();
  });

  test("ws with query early data, httpupgrade, packet encodings", () => {
    const ws = parseShareLink("vless://u@h.example:80?type=ws&host=w.example&path=%2Fws&ed=2560&eh=X-Early&packetEncoding=packet#w");
    expect(ws).toMatchObject({
      network: "ws",
      "packet-addr": true,
      "ws-opts": { path: "/ws", headers: { Host: "w.example" }, "max-early-data": 2560, "early-data-header-name": "X-Early" },
    });
    expect(ws.xudp).toBeUndefined();
    const up = parseShareLink("vless://u@h.example:80?type=httpupgrade&path=%2Fup%3Fed%3D2048&packetEncoding=none#u");
    expect(up).toMatchObject({ network: "ws", "ws-opts": { path: "/up", "v2ray-http-upgrade": true, "v2ray-http-upgrade-fast-open": true } });
    expect(up.xudp).toBeUndefined();
    expect(up["packet-addr"]).toBeUndefined();
  });
});

describe("trojan://", () => {
  test("percent-encoded password, ws, alpn, allowInsecure and an emoji name", () => {
    const link =
      "trojan://p%40ss%2Fw0rd%3A1@example.com:443?security=tls&sni=cdn.example.com&type=ws&host=cdn.example.com&path=%2Ftrojan-ws&alpn=h2%2Chttp%2F1.1&allowInsecure=1&fp=firefox#%F0%9F%87%BA%F0%9F%87%B8%20US%20%7C%20trojan";
    expect(parseShareLink(link)).toEqual({
      name: "🇺🇸 US | trojan",
      type: "trojan",
      server: "example.com",
      port: 443,
      password: "p@ss/w0rd:1",
      udp: true,
      sni: "cdn.example.com",
      alpn: ["h2", "http/1.1"],
      "skip-cert-verify": true,
      "client-fingerprint": "firefox",
      network: "ws",
      "ws-opts": { path: "/trojan-ws", headers: { Host: "cdn.example.com" } },
    });
  });

  test("unescaped @ and / in the password (seen in the wild), grpc", () => {
    const p = parseShareLink("trojan://a/b@c@[::1]:8443?type=grpc&serviceName=gun#g");
    expect(p).toMatchObject({ password: "a/b@c", server: "::1", port: 8443, network: "grpc", "grpc-opts": { "grpc-service-name": "gun" } });
  });

  test("missing port and bad port are errors", () => {
    expect(() => parseShareLink("trojan://pw@example.com#x")).toThrow("port missing");
    expect(() => parseShareLink("trojan://pw@example.com:70000#x")).toThrow("out of range");
    expect(() => parseShareLink("trojan://pw@2001:db8::1:443#x")).toThrow("must be in brackets");
  });
});

describe("hysteria2://, hy2://, hysteria://, tuic://, ssr://", () => {
  test("hysteria2 with salamander, pin and bandwidth", () => {
    const pin = "a".repeat(64);
    expect(
      parseShareLink(`hysteria2://let%20me%20in@example.com:8443/?obfs=salamander&obfs-password=gawr&sni=real.example&insecure=1&pinSHA256=${pin}&up=30%20Mbps&down=100%20Mbps#hy2`),
    ).toEqual({
      name: "hy2",
      type: "hysteria2",
      server: "example.com",
      port: 8443,
      password: "let me in",
      obfs: "salamander",
      "obfs-password": "gawr",
      sni: "real.example",
      "skip-cert-verify": true,
      fingerprint: pin,
      up: "30 Mbps",
      down: "100 Mbps",
    });
  });

  test("hy2 defaults to port 443; a port list becomes ports", () => {
    expect(parseShareLink("hy2://pw@example.com/#d")).toMatchObject({ type: "hysteria2", port: 443 });
    const hop = parseShareLink("hy2://pw@example.com:443,5000-6000/?sni=x#h");
    expect(hop).toMatchObject({ ports: "443,5000-6000" });
    expect(hop.port).toBeUndefined();
  });

  test("hysteria v1", () => {
    expect(parseShareLink("hysteria://example.com:443?protocol=udp&auth=secret&peer=sni.example&upmbps=10&downmbps=50&alpn=hysteria#v1")).toEqual({
      name: "v1",
      type: "hysteria",
      server: "example.com",
      port: 443,
      protocol: "udp",
      "auth-str": "secret",
      sni: "sni.example",
      alpn: ["hysteria"],
      up: "10",
      down: "50",
    });
  });

  test("tuic v5 and v4", () => {
    expect(parseShareLink("tuic://uuid-1:pass%2F1@[2001:db8::5]:443?congestion_control=bbr&alpn=h3&sni=t.example&udp_relay_mode=native#t5")).toEqual({
      name: "t5",
      type: "tuic",
      server: "2001:db8::5",
      port: 443,
      uuid: "uuid-1",
      password: "pass/1",
      udp: true,
      "congestion-controller": "bbr",
      alpn: ["h3"],
      sni: "t.example",
      "udp-relay-mode": "native",
    });
    expect(parseShareLink("tuic://tok@t.example:443?disable_sni=1#t4")).toMatchObject({ token: "tok", "disable-sni": true });
  });

  test("ssr", () => {
    const body = `ssr.example.com:8989:auth_aes128_md5:aes-256-cfb:tls1.2_ticket_auth:${b64url("s3cret")}/?obfsparam=${b64url("o.example")}&protoparam=${b64url("32:abc")}&remarks=${b64url("SSR 节点")}`;
    expect(parseShareLink(`ssr://${b64url(body)}`)).toEqual({
      name: "SSR 节点",
      type: "ssr",
      server: "ssr.example.com",
      port: 8989,
      cipher: "aes-256-cfb",
      password: "s3cret",
      obfs: "tls1.2_ticket_auth",
      protocol: "auth_aes128_md5",
      "obfs-param": "o.example",
      "protocol-param": "32:abc",
      udp: true,
    });
  });

  test("unknown scheme and non-links", () => {
    expect(() => parseShareLink("wireguard://x@y:1#z")).toThrow('unsupported share link scheme "wireguard"');
    expect(() => parseShareLink("hello")).toThrow("not a share link");
  });
});

describe("parseSubscription", () => {
  const lines = [
    "trojan://pw@example.com:443#%E8%8A%82%E7%82%B9",
    "ss://YWVzLTEyOC1nY206dGVzdA@192.0.2.1:8888#%E8%8A%82%E7%82%B9",
    "",
    "vless://u@h.example:notaport#%F0%9F%94%A5%20bad",
    "trojan://pw2@example.com:443#%E8%8A%82%E7%82%B9",
    "STATUS=remaining 1GB",
  ];

  test("base64 body with CRLF: duplicate names numbered, bad lines skipped with warnings naming them", () => {
    const text = b64(lines.join("\r\n")).replace(/(.{76})/g, "$1\n");
    const sub = parseSubscription(text);
    expect(sub.proxies.map((p) => p.name)).toEqual(["节点", "节点-01", "节点-02"]);
    expect(sub.proxies.map((p) => p.type)).toEqual(["trojan", "ss", "trojan"]);
    expect(sub.warnings).toEqual([
      'line 4 "🔥 bad" (vless://): invalid port "notaport"; skipped',
      "line 6 (not a share link): not a share link (no scheme://); skipped",
    ]);
    expect(sub.warnings.join("\n")).not.toContain("pw");
  });

  test("plain list and URL-safe unpadded base64 give the same proxies", () => {
    const plain = parseSubscription(lines.join("\n"));
    const urlSafe = parseSubscription(b64url(lines.join("\n")));
    expect(urlSafe.proxies).toEqual(plain.proxies);
  });

  test("no usable line is an error", () => {
    expect(() => parseSubscription("vless://u@h:1:2#x\nnothing here")).toThrow("no usable share link");
  });
});

describe("toShareLink round trips: parse(toShareLink(x)) == x", () => {
  const links = [
    "ss://YWVzLTEyOC1nY206dGVzdA@192.0.2.1:8888#Example1",
    "ss://2022-blake3-aes-128-gcm:AAAAAAAAAAAAAAAAAAAAAA%3D%3D@[2001:db8::1]:8388/?uot=1#%E9%A6%99%E6%B8%AF",
    `ss://${b64url("aes-256-gcm:p@ss")}@example.com:443/?plugin=obfs-local%3Bobfs%3Dtls%3Bobfs-host%3Dcdn.example#obfs`,
    `ss://${b64url("aes-256-gcm:p")}@example.com:443/?plugin=v2ray-plugin%3Bmode%3Dwebsocket%3Bpath%3D%2Fx%3Btls#v2`,
    `vmess://${b64(JSON.stringify({ v: "2", ps: "🇭🇰 01", add: "::1", port: 443, id: "id-1", aid: 0, net: "ws", host: "h", path: "/p?ed=2048", tls: "tls", sni: "s", alpn: "h2", fp: "chrome" }))}`,
    `vmess://${b64(JSON.stringify({ v: "2", ps: "g", add: "a.example", port: 1, id: "id", aid: 4, scy: "none", net: "grpc", path: "svc" }))}`,
    `vmess://${b64(JSON.stringify({ v: "2", ps: "h", add: "a.example", port: 2, id: "id", net: "tcp", type: "http", host: "x", path: "/y" }))}`,
    `vmess://${b64(JSON.stringify({ v: "2", ps: "u", add: "a.example", port: 3, id: "id", net: "httpupgrade", path: "/u?ed=1" }))}`,
    "vless://b831381d-6324-4d53-ad4f-8cda48b30811@[2001:db8::2]:443?encryption=none&flow=xtls-rprx-vision&security=reality&sni=www.microsoft.com&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=6ba85179e30d4fc2&type=tcp#%E6%97%A5%E6%9C%AC",
    "vless://u@h.example:80?type=ws&host=w.example&path=%2Fws&ed=2560&eh=X-Early&packetEncoding=packet#w",
    "vless://u@h.example:80?type=http&host=h2.example&path=%2Fh2&packetEncoding=none&security=tls&alpn=h2#h2",
    "vless://u@h.example:80?type=tcp&headerType=http&host=o.example&path=%2Fo&method=POST#obfs",
    "trojan://p%40ss%2Fw0rd@example.com:443?sni=cdn.example.com&type=ws&host=cdn.example.com&path=%2Fws&alpn=h2%2Chttp%2F1.1&allowInsecure=1#%F0%9F%87%BA%F0%9F%87%B8",
    "trojan://pw@[::1]:8443?type=grpc&serviceName=gun&fp=safari&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw#g",
    "trojan://pw@example.com:443#plain",
  ];
  for (const link of links) {
    test(link.slice(0, 60), () => {
      const x = parseShareLink(link);
      const again = toShareLink(x);
      expect(parseShareLink(again)).toEqual(x);
    });
  }

  test("a hand-written config map survives the round trip", () => {
    const x: ProxyMap = {
      name: "手写 trojan",
      type: "trojan",
      server: "2001:db8::9",
      port: 443,
      password: "a#b?c&d=e%f",
      udp: true,
      sni: "t.example",
      network: "ws",
      "ws-opts": { path: "/a b", headers: { Host: "ws.example" }, "max-early-data": 2048, "early-data-header-name": "Sec-WebSocket-Protocol" },
    };
    expect(parseShareLink(toShareLink(x))).toEqual(x);
  });

  test("other types have no writer", () => {
    expect(() => toShareLink({ type: "hysteria2", name: "x" })).toThrow("not \"hysteria2\"");
  });
});
