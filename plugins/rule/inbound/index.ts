import { API_VERSION, definePlugin, type Rule, UserError } from "../../../src/sdk/index.ts";

/** IN-TYPE names (case-insensitive) → the `metadata.type` values inbounds set (mihomo's runtime names). */
const IN_TYPES: Record<string, readonly string[]> = {
  HTTP: ["HTTP"],
  HTTPS: ["HTTPS"],
  SOCKS4: ["Socks4"],
  SOCKS5: ["Socks5"],
  SOCKS: ["Socks4", "Socks5"],
  SHADOWSOCKS: ["ShadowSocks"],
  VMESS: ["Vmess"],
  VLESS: ["Vless"],
  TROJAN: ["Trojan"],
  REDIR: ["Redir"],
  TPROXY: ["TProxy"],
  TUNNEL: ["Tunnel"],
  TUN: ["Tun"],
  TUIC: ["Tuic"],
  HYSTERIA2: ["Hysteria2"],
  ANYTLS: ["AnyTLS"],
  INNER: ["Inner"],
};

/** `/`-separated list items, trimmed; an empty item is an error as in mihomo. */
function items(payload: string, what: string): string[] {
  const out = payload.split("/").map((s) => s.trim());
  if (out.some((s) => s === "")) throw new UserError(`empty ${what} in "${payload}"`);
  return out;
}

export default definePlugin({
  name: "rule-inbound",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("IN-TYPE", {
      parse(payload): Rule {
        const types = new Set<string>();
        for (const item of items(payload, "inbound type")) {
          const runtime = IN_TYPES[item.toUpperCase()];
          if (!runtime) {
            throw new UserError(`unknown inbound type "${item}" (expected one of ${Object.keys(IN_TYPES).join(", ")})`);
          }
          for (const t of runtime) types.add(t);
        }
        return { type: "InType", payload: payload.toUpperCase(), needsIp: false, match: (m) => types.has(m.type) };
      },
    });

    host.registerRule("IN-USER", {
      parse(payload): Rule {
        const users = new Set(items(payload, "user"));
        return { type: "InUser", payload, needsIp: false, match: (m) => m.inboundUser !== "" && users.has(m.inboundUser) };
      },
    });

    host.registerRule("IN-NAME", {
      parse(payload): Rule {
        const names = new Set(items(payload, "inbound name"));
        return { type: "InName", payload, needsIp: false, match: (m) => names.has(m.inboundName) };
      },
    });
  },
});
