import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { groupHealth, groupOptions, makeGroup, testUrl } from "../common.ts";

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
        let pinned = ctx.selections.get(o.name) ?? "";
        const unfix = () => {
          pinned = "";
          ctx.selections.delete(o.name);
        };
        return makeGroup(
          o,
          ctx,
          {
            type: "Fallback",
            pick(members) {
              if (pinned) {
                const pin = members.find((m) => m.name === pinned);
                if (pin && ctx.health.alive(pin, url)) return pin;
                if (pin) unfix();
              }
              return members.find((m) => ctx.health.alive(m, url)) ?? members[0]!;
            },
            select(name, members) {
              if (!members.some((m) => m.name === name)) return false;
              pinned = name;
              ctx.selections.set(o.name, name);
              return true;
            },
            fixed: () => pinned,
            unfix,
          },
          groupHealth(o, ctx, true),
        );
      },
    });
  },
});
