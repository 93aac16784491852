import { API_VERSION, definePlugin, UserError } from "../../../src/sdk/index.ts";
import { flag, hostOf, labelOf, portOf, resolverOptions, withParams } from "../common.ts";
import { StreamResolver, tcpDial } from "../stream.ts";

/**
 * `tls://host[:853]`, DNS over TLS (RFC 7858): the stream resolver of tcp:// inside the tls
 * transport the proxies use, SNI and certificate name = the URL's host, `skip-cert-verify=true`
 * accepting any certificate. One kept connection carries pipelined queries.
 */
export default definePlugin({
  name: "dns-tls",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("tls", {
      options: resolverOptions,
      create(url, o, ctx) {
        const port = portOf(url, 853);
        const what = labelOf(url, port);
        const server = hostOf(url);
        const def = ctx.transport("tls");
        if (!def) throw new UserError(`${what}: the tls transport is not registered`);
        const tls = def.create({ serverName: server, skipCertVerify: flag(o, "skip-cert-verify") }, ctx);
        const dial = tcpDial(ctx, server, port, o.proxy ?? "");
        const resolver = new StreamResolver(what, async (signal) => {
          const raw = await dial(signal);
          try {
            return await tls.wrap(raw, { signal });
          } catch (err) {
            raw.close();
            throw err;
          }
        });
        return withParams(resolver, o, what, ctx.log);
      },
    });
  },
});
