import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { groupHealth, groupOptions, makeGroup, rememberedChoice } from "../common.ts";

export { groupOptions } from "../common.ts";

/**
 * `select`: the member chosen through the API, remembered across restarts (`profile.store-selected`);
 * `default-selected`, else the first member. A remembered or chosen member that left the group
 * gives way to the first member without being forgotten: it is used again if it comes back.
 */
export default definePlugin({
  name: "group-select",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("select", {
      options: t.Object(groupOptions),
      create(o, ctx) {
        const choice = rememberedChoice(o, ctx, o["default-selected"]);
        return makeGroup(
          o,
          ctx,
          {
            type: "Selector",
            pick: (members) => members.find((m) => m.name === choice.get()) ?? members[0]!,
            select: choice.select,
          },
          groupHealth(o, ctx, false),
        );
      },
    });
  },
});
