/**
 * `type: ss` — Shadowsocks client (config.md §7.5): AEAD-2017 and SIP022 ciphers, native UDP or
 * UDP-over-TCP, and the simple-obfs / v2ray-plugin transports. mihomo shows it as `Shadowsocks`.
 */
import {
  API_VERSION,
  type CreateContext,
  createMetadata,
  type Duplex,
  definePlugin,
  type DialOptions,
  type Metadata,
  type OptionProblem,
  type Static,
  t,
  UserError,
} from "../../../src/sdk/index.ts";
import { commonOptions, fingerprintProblems, serverOptions, tlsOptionsFrom } from "../common.ts";
import { encodeAddress, targetOf } from "./address.ts";
import { evpBytesToKey, METHODS, method, parsePsks } from "./cipher.ts";
import { mux } from "./mux.ts";
import { obfs } from "./obfs.ts";
import { clientSession, type Keys } from "./session.ts";
import { ShadowStream } from "./stream.ts";
import { udpCodec } from "./udp-codec.ts";
import { nativeUdp, UotPacketConn, uotMagic } from "./udp.ts";

const pluginOpts = t.Object({
  /** obfs: http | tls; v2ray-plugin: websocket. */
  mode: t.Optional(t.Union([t.Literal("http"), t.Literal("tls"), t.Literal("websocket")])),
  host: t.Optional(t.String()),
  path: t.Optional(t.String()),
  tls: t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String()),
  "skip-cert-verify": t.Optional(t.Boolean()),
  headers: t.Optional(t.Record(t.String(), t.String())),
  /** v2ray Mux.Cool inside the WebSocket (one sub-connection); default true as in mihomo, and what v2ray-plugin servers expect. */
  mux: t.Optional(t.Boolean()),
  "v2ray-http-upgrade": t.Optional(t.Boolean()),
  "v2ray-http-upgrade-fast-open": t.Optional(t.Boolean()),
});

const options = t.Object({
  ...serverOptions,
  ...commonOptions,
  cipher: t.Union(METHODS.map((m) => t.Literal(m))),
  password: t.String(),
  "udp-over-tcp": t.Optional(t.Boolean()),
  "udp-over-tcp-version": t.Optional(t.Union([t.Literal(0), t.Literal(1), t.Literal(2)])),
  /** mihomo ignores unknown values and speaks plain Shadowsocks; ferry refuses them (config.md §23 #12). */
  plugin: t.Optional(t.Union([t.Literal("obfs"), t.Literal("v2ray-plugin")])),
  "plugin-opts": t.Optional(pluginOpts),
});

type Options = Static<typeof options> & { name: string };

/** Cross-key checks, run while the config is built so `test-config` reports them (config.md §23 #11). */
function validate(o: Options): OptionProblem[] {
  const problems: OptionProblem[] = [];
  const m = method(o.cipher);
  if (m.is2022) {
    try {
      parsePsks(o.password, m);
    } catch (err) {
      problems.push({ key: "password", message: (err as Error).message });
    }
  }
  const po = o["plugin-opts"];
  if (o.plugin === "obfs" && po?.mode !== "http" && po?.mode !== "tls") {
    problems.push({ key: "plugin-opts.mode", message: `obfs needs mode http or tls${po?.mode ? `, got "${po.mode}"` : ""}` });
  }
  if (o.plugin === "v2ray-plugin") {
    if (po?.mode !== "websocket") problems.push({ key: "plugin-opts.mode", message: `v2ray-plugin needs mode websocket${po?.mode ? `, got "${po.mode}"` : ""}` });
    for (const p of fingerprintProblems(po ?? {})) problems.push({ ...p, key: `plugin-opts.${p.key}` });
  }
  return problems;
}

type Wrap = (inner: Duplex, dial: DialOptions | undefined) => Duplex | Promise<Duplex>;

/** The plugin layer between TCP and Shadowsocks, or undefined for plain Shadowsocks. */
function pluginLayer(o: Options, ctx: CreateContext): Wrap | undefined {
  const po = o["plugin-opts"] ?? {};
  if (o.plugin === "obfs") {
    const host = po.host || "bing.com";
    const mode = po.mode === "tls" ? "tls" : "http";
    return (inner) => obfs(inner, mode, host, o.port);
  }
  if (o.plugin !== "v2ray-plugin") return undefined;
  const need = (name: string) => {
    const def = ctx.transport(name);
    if (!def) throw new UserError(`v2ray-plugin needs the "${name}" transport, which no loaded plugin registers`);
    return def;
  };
  // As in mihomo: a Host in `headers` wins over `host` for the WebSocket Host and the TLS name.
  const headers = { ...po.headers };
  let host = po.host || "bing.com";
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() !== "host") continue;
    host = headers[k] || host;
    delete headers[k];
  }
  const tlsFields = { "skip-cert-verify": po["skip-cert-verify"], fingerprint: po.fingerprint, alpn: ["http/1.1"] };
  const tls = po.tls ? need("tls").create(tlsOptionsFrom(tlsFields, host), ctx) : undefined;
  let path = po.path || "/";
  if (!path.startsWith("/")) path = `/${path}`;
  const ws = need("ws").create({ host, path, headers, v2rayHttpUpgrade: po["v2ray-http-upgrade"] === true }, ctx);
  const muxed = po.mux !== false;
  return async (inner, dial) => {
    const s = await ws.wrap(tls ? await tls.wrap(inner, dial) : inner, dial);
    return muxed ? mux(s) : s;
  };
}

export default definePlugin({
  name: "outbound-ss",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("ss", {
      options,
      validate,
      create(o, ctx) {
        const m = method(o.cipher);
        const label = `"${o.name}"`;
        const keysReady: Promise<Keys> = m.aead().then((aead) => {
          ctx.log.debug(`${label}: ${m.name} with ${aead.name}`);
          return m.is2022 ? { method: m, aead, edition: 2022, psks: parsePsks(o.password, m) } : { method: m, aead, edition: 2017, master: evpBytesToKey(o.password, m.keySize) };
        });
        // Awaited by every dial; the catch only keeps an early failure from being unhandled.
        keysReady.catch(() => {});
        const wrap = pluginLayer(o, ctx);
        const uotVersion = o["udp-over-tcp-version"] === 2 ? 2 : 1;
        const where = `${o.server.includes(":") ? `[${o.server}]` : o.server}:${o.port}`;

        const connect = async (dial: DialOptions | undefined): Promise<Duplex> => {
          let s: Duplex;
          try {
            s = await ctx.dialServer(o.server, o.port, { dialerProxy: o["dialer-proxy"], signal: dial?.signal });
          } catch (err) {
            throw new UserError(`${label}: ${(err as Error).message}`);
          }
          if (!wrap) return s;
          try {
            return await wrap(s, dial);
          } catch (err) {
            s.close();
            throw new UserError(`${label}: ${o.plugin} to ${where}: ${(err as Error).message}`);
          }
        };

        const dialTcp = async (meta: Metadata, dial?: DialOptions): Promise<Duplex> => {
          const keys = await keysReady;
          const target = encodeAddress(targetOf(meta), meta.destinationPort);
          return new ShadowStream(await connect(dial), clientSession(keys, target), label);
        };

        return {
          name: o.name,
          type: "Shadowsocks",
          supportsUdp: o.udp === true,
          addr: where,
          dialTcp,
          async dialUdp(meta, dial) {
            if (o["udp-over-tcp"]) {
              const magic = createMetadata({ network: "tcp", type: "Inner", host: uotMagic(uotVersion), destinationPort: 0 });
              return new UotPacketConn(await dialTcp(magic, dial), uotVersion, { host: targetOf(meta), port: meta.destinationPort });
            }
            const keys = await keysReady;
            return nativeUdp(ctx, udpCodec(keys), { server: o.server, port: o.port, dialerProxy: o["dialer-proxy"], label });
          },
        };
      },
    });
  },
});
