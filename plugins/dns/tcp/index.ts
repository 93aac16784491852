import { API_VERSION, definePlugin } from "../../../src/sdk/index.ts";
import { hostOf, labelOf, portOf, resolverOptions, withParams } from "../common.ts";
import { StreamResolver, tcpDial } from "../stream.ts";

/** `tcp://host[:53]`: length-framed queries, pipelined on one kept connection (../stream.ts). */
export default definePlugin({
  name: "dns-tcp",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("tcp", {
      options: resolverOptions,
      create(url, o, ctx) {
        const port = portOf(url, 53);
        const what = labelOf(url, port);
        return withParams(new StreamResolver(what, tcpDial(ctx, hostOf(url), port, o.proxy ?? "")), o, what, ctx.log);
      },
    });
  },
});
