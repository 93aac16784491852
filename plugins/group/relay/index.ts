import { API_VERSION, definePlugin, isGroup, type Metadata, type Outbound, t } from "../../../src/sdk/index.ts";
import { groupOptions, makeGroup } from "../common.ts";

/** Nested groups stop here, as the tunnel does. */
const MAX_DEPTH = 32;

/**
 * `relay` (deprecated in mihomo in favour of `dialer-proxy`; kept for old configs): every member in
 * order, each reached through the previous. Groups among the members count as their current pick,
 * DIRECT members are skipped, no member left means DIRECT. UDP is offered only for a one-hop chain.
 */
export default definePlugin({
  name: "group-relay",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("relay", {
      options: t.Object(groupOptions),
      create(o, ctx) {
        ctx.log.warn(`${o.name}: the relay group type is deprecated; use dialer-proxy on the proxies instead`);
        const resolve = (m: Outbound, metadata: Metadata | undefined): Outbound => {
          let leaf = m;
          for (let depth = 0; isGroup(leaf) && depth < MAX_DEPTH; depth++) leaf = metadata ? leaf.pick(metadata) : (ctx.outbound(leaf.now()) ?? leaf);
          return leaf;
        };
        const chainOf = (members: Outbound[], metadata: Metadata | undefined): Outbound => {
          const hops = members.map((m) => resolve(m, metadata)).filter((m) => m.type !== "Direct" && m.type !== "Compatible");
          const last = hops[hops.length - 1];
          if (!last) return ctx.outbound("DIRECT")!;
          if (hops.length === 1) return last;
          const chain: Outbound = {
            name: last.name,
            type: last.type,
            addr: last.addr,
            supportsUdp: false,
            dialTcp: (m, d) => ctx.dialChain(hops, m, d),
          };
          return chain;
        };
        return makeGroup(o, ctx, { type: "Relay", pick: chainOf });
      },
    });
  },
});
