import { API_VERSION, type CreateContext, definePlugin, type Static, t, UserError } from "../../../src/sdk/index.ts";
import { commonOptions, flag, hostOf, labelOf, portOf, withParams } from "../common.ts";
import { tcpDial } from "../stream.ts";
import { DohResolver, type DohTls } from "./doh.ts";

/** The common parameters plus `h3`, which is read to be refused. */
const options = t.Object({ ...commonOptions, h3: t.Optional(t.String()) });

function validate(url: URL, o: Static<typeof options>): string | undefined {
  return flag(o, "h3") ? `h3=true (DNS over HTTP/3) is not supported by this build (${url.protocol}//${url.host})` : undefined;
}

function create(url: URL, o: Static<typeof options>, ctx: CreateContext, tls: boolean) {
  const port = portOf(url, tls ? 443 : 80);
  const what = labelOf(url, port);
  const problem = validate(url, o);
  if (problem) throw new UserError(`${what}: ${problem}`);
  const server = hostOf(url);
  let transports: DohTls | undefined;
  if (tls) {
    const def = ctx.transport("tls");
    if (!def) throw new UserError(`${what}: the tls transport is not registered`);
    const base = { serverName: server, skipCertVerify: flag(o, "skip-cert-verify") };
    transports = { probe: def.create({ ...base, alpn: ["h2", "http/1.1"] }, ctx), http1: def.create({ ...base, alpn: ["http/1.1"] }, ctx) };
  }
  // Go's HTTP client turns URL userinfo into Basic authorization, so mihomo sends it.
  const authorization =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`
      : undefined;
  const target = { what, authority: url.host, path: url.pathname || "/", authorization };
  return withParams(new DohResolver(target, tcpDial(ctx, server, port, o.proxy ?? ""), transports), o, what, ctx.log);
}

/** `https://host[:443]/path` (DoH, ./doh.ts) and `http://host[:80]/path` (the same without TLS). */
export default definePlugin({
  name: "dns-https",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("https", { options, validate, create: (url, o, ctx) => create(url, o, ctx, true) });
    host.registerResolver("http", { options, validate, create: (url, o, ctx) => create(url, o, ctx, false) });
  },
});
