import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { groupHealth, groupOptions, makeGroup, rememberedChoice, testUrl } from "../common.ts";

/**
 * `fallback`: the first member, in order, that is alive for the group's URL (never-tested members
 * count as alive); none alive → the first member. An API pin is used while alive and dropped (and
 * forgotten) once it is found dead.
 */
export default definePlugin({
  name: "group-fallback",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("fallback", {
      options: t.Object(groupOptions),
      create(o, ctx) {
        const url = testUrl(o);
        const pin = rememberedChoice(o, ctx);
        return makeGroup(
          o,
          ctx,
          {
            type: "Fallback",
            pick(members) {
              if (pin.get()) {
                const pinned = members.find((m) => m.name === pin.get());
                if (pinned && ctx.health.alive(pinned, url)) return pinned;
                if (pinned) pin.clear();
              }
              return members.find((m) => ctx.health.alive(m, url)) ?? members[0]!;
            },
            select: pin.select,
            fixed: pin.get,
            unfix: pin.clear,
          },
          groupHealth(o, ctx, true),
        );
      },
    });
  },
});
