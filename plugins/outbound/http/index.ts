import { API_VERSION, definePlugin, destinationOf, t } from "../../../src/sdk/index.ts";
import { commonOptions, dialProxyServer, fingerprintProblems, serverOptions, tlsTransport } from "../common.ts";
import { StreamReader } from "../handshake.ts";

/** config.md §7.3: mihomo's HttpOption keys. */
const options = t.Object({
  ...serverOptions,
  ...commonOptions,
  username: t.Optional(t.String()),
  password: t.Optional(t.String()),
  tls: t.Optional(t.Boolean()),
  sni: t.Optional(t.String()),
  "skip-cert-verify": t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String()),
  headers: t.Optional(t.Record(t.String(), t.String())),
});

const CRLFCRLF = new TextEncoder().encode("\r\n\r\n");
const MAX_REPLY_HEAD = 16 * 1024;

/** HTTP proxy outbound: `CONNECT host:port` (mihomo's adapter/outbound/http.go). TCP only. */
export default definePlugin({
  name: "outbound-http",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("http", {
      options,
      validate: fingerprintProblems,
      create(o, ctx) {
        const tls = o.tls ? tlsTransport(ctx, o) : undefined;
        let extra = "";
        // Host is always the CONNECT target, as in mihomo (Go writes req.Host, not a Host header).
        for (const [k, v] of Object.entries(o.headers ?? {})) if (k.toLowerCase() !== "host") extra += `${k}: ${v}\r\n`;
        if (o.username) extra += `Proxy-Authorization: Basic ${Buffer.from(`${o.username}:${o.password ?? ""}`).toString("base64")}\r\n`;
        const addr = o.server.includes(":") ? `[${o.server}]:${o.port}` : `${o.server}:${o.port}`;
        return {
          name: o.name,
          type: "Http",
          supportsUdp: false,
          addr,
          async dialTcp(m, dial) {
            const s = await dialProxyServer(ctx, o, tls, dial);
            const target = destinationOf(m);
            const reader = new StreamReader(s, `http proxy ${addr}`, { signal: dial?.signal });
            try {
              s.write(Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extra}Proxy-Connection: Keep-Alive\r\n\r\n`, "latin1"));
              const head = await reader.until(CRLFCRLF, MAX_REPLY_HEAD);
              const eol = head.indexOf(13);
              const status = Buffer.from(head.buffer, head.byteOffset, eol < 0 ? head.length : eol).toString("latin1");
              const code = /^HTTP\/\d\.\d (\d{3})/.exec(status)?.[1];
              if (code !== "200") throw new Error(`http proxy ${addr}: ${code ? status.slice(9) : `bad reply "${status.slice(0, 80)}"`}`);
              return reader.release();
            } catch (err) {
              throw reader.fail(err);
            }
          },
        };
      },
    });
  },
});
