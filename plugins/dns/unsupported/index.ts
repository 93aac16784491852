import { API_VERSION, definePlugin, UserError } from "../../../src/sdk/index.ts";
import { resolverOptions } from "../common.ts";
import { systemResolver } from "../system/index.ts";

/**
 * Schemes mihomo has and this build does not: registered so that a config naming them gets an
 * error that says so (instead of "unknown scheme"), at load time.
 */
export default definePlugin({
  name: "dns-unsupported",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("quic", {
      options: resolverOptions,
      validate: () => "DNS over QUIC is not supported by this build (use tls:// or https://)",
      create(url) {
        throw new UserError(`quic://${url.host}: DNS over QUIC is not supported by this build (use tls:// or https://)`);
      },
    });
    host.registerResolver("dhcp", {
      options: resolverOptions,
      validate: (url) => (url.hostname === "system" ? undefined : "nameservers from DHCP are not supported by this build"),
      create(url, o, ctx) {
        // `dhcp://system` is mihomo's old spelling of `system`.
        if (url.hostname === "system") return systemResolver(o, ctx);
        throw new UserError(`dhcp://${url.host}: nameservers from DHCP are not supported by this build`);
      },
    });
  },
});
