import { API_VERSION, definePlugin } from "../../../src/sdk/index.ts";
import { hostOf, labelOf, portOf, resolverOptions, withParams } from "../common.ts";
import { UdpResolver } from "./udp.ts";

/** `udp://host[:53]`, and every bare `IP` or `IP:port` entry (config.md §5.2). */
export default definePlugin({
  name: "dns-udp",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("udp", {
      options: resolverOptions,
      create(url, o, ctx) {
        const port = portOf(url, 53);
        const what = labelOf(url, port);
        return withParams(new UdpResolver(what, hostOf(url), port, o.proxy ?? "", ctx), o, what, ctx.log);
      },
    });
  },
});
