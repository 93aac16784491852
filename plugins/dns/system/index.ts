import { API_VERSION, type CreateContext, definePlugin, type Resolver } from "../../../src/sdk/index.ts";
import { type ResolverOptions, resolverOptions, withParams } from "../common.ts";
import { resolvConfServers, SystemResolver } from "./system.ts";

/** The `system` resolver with an entry's parameters (also what `dhcp://system`, its old spelling, means). */
export function systemResolver(o: ResolverOptions, ctx: CreateContext): Resolver {
  return withParams(new SystemResolver("system", resolvConfServers(), ctx), o, "system", ctx.log);
}

/** `system` / `system://`: the OS resolver (./system.ts). */
export default definePlugin({
  name: "dns-system",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("system", {
      options: resolverOptions,
      create: (_url, o, ctx) => systemResolver(o, ctx),
    });
  },
});
