import { API_VERSION, definePlugin, type Group, type Outbound, t } from "../../../src/sdk/index.ts";

/** Options every group type shares (config.md §8.1); groups beyond `select` arrive with the groups issue. */
export const groupOptions = {
  proxies: t.Optional(t.Array(t.String())),
  use: t.Optional(t.Array(t.String())),
  url: t.Optional(t.String()),
  interval: t.Optional(t.Integer()),
  lazy: t.Optional(t.Boolean()),
  timeout: t.Optional(t.Integer()),
  "max-failed-times": t.Optional(t.Integer()),
  "expected-status": t.Optional(t.String()),
  "disable-udp": t.Optional(t.Boolean()),
  hidden: t.Optional(t.Boolean()),
  icon: t.Optional(t.String()),
  filter: t.Optional(t.String()),
  "exclude-filter": t.Optional(t.String()),
  "exclude-type": t.Optional(t.String()),
  "include-all": t.Optional(t.Boolean()),
  "include-all-proxies": t.Optional(t.Boolean()),
  "include-all-providers": t.Optional(t.Boolean()),
  "default-selected": t.Optional(t.String()),
  "interface-name": t.Optional(t.String()),
  "routing-mark": t.Optional(t.Integer()),
};

/** `select`: the user picks the member (API or stored selection); the first member by default. */
export default definePlugin({
  name: "group-select",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("select", {
      options: t.Object(groupOptions),
      create(o, ctx) {
        const members = o.proxies;
        let selected = members.includes(o["default-selected"] ?? "") ? o["default-selected"]! : (members[0] ?? "");
        // An empty group behaves as COMPATIBLE (DIRECT under another name), as in mihomo.
        const current = (): Outbound => ctx.outbound(selected) ?? ctx.outbound("COMPATIBLE")!;
        const group: Group = {
          isGroup: true,
          name: o.name,
          type: "Selector",
          addr: "",
          hidden: o.hidden,
          icon: o.icon,
          get supportsUdp() {
            return !o["disable-udp"] && current().supportsUdp;
          },
          now: () => selected || "COMPATIBLE",
          members: () => members,
          pick: () => current(),
          select(name) {
            if (!members.includes(name)) return false;
            selected = name;
            return true;
          },
          dialTcp: (m, d) => current().dialTcp(m, d),
        };
        return group;
      },
    });
  },
});
