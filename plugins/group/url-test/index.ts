import { API_VERSION, definePlugin, type Outbound, t } from "../../../src/sdk/index.ts";
import { groupHealth, groupOptions, makeGroup, rememberedChoice, testUrl } from "../common.ts";

/** The choice is re-computed at most this often, unless a check round or the API changes things. */
const RECOMPUTE_MS = 10_000;
/** mihomo's delay for a member that is dead or never tested for the URL. */
const MAX_DELAY = 0xffff;

/**
 * `url-test`: the alive member with the lowest delay for the group's URL. The current pick is kept
 * unless it died, left the group, or another is faster by more than `tolerance`; before the first
 * check every member counts as 65535 ms, so the first member wins. An API pin is used while alive.
 */
export default definePlugin({
  name: "group-url-test",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("url-test", {
      // mihomo reads `tolerance` only when it is a YAML integer; anything else is ignored.
      options: t.Object({ ...groupOptions, tolerance: t.Optional(t.Unknown()) }),
      create(o, ctx) {
        const tolerance = typeof o.tolerance === "number" && Number.isInteger(o.tolerance) ? o.tolerance : 0;
        if (o.tolerance !== undefined && tolerance === 0 && o.tolerance !== 0) ctx.log.warn(`${o.name}: tolerance ${JSON.stringify(o.tolerance)} is not an integer and is ignored`);
        const url = testUrl(o);
        const alive = (m: Outbound) => ctx.health.alive(m, url);
        const delay = (m: Outbound) => (alive(m) && ctx.health.delay(m, url)) || MAX_DELAY;
        const pin = rememberedChoice(o, ctx);
        let fast: Outbound | undefined;
        let computedAt = Number.NEGATIVE_INFINITY;
        const invalidate = () => {
          computedAt = Number.NEGATIVE_INFINITY;
        };
        const recompute = (members: Outbound[]): Outbound => {
          let best = members[0]!;
          for (const m of members.slice(1)) if (alive(m) && delay(m) < delay(best)) best = m;
          if (!fast || !members.includes(fast) || !alive(fast) || delay(fast) > delay(best) + tolerance) fast = best;
          computedAt = Date.now();
          return fast;
        };
        const health = groupHealth(o, ctx, true, invalidate);
        return makeGroup(
          o,
          ctx,
          {
            type: "URLTest",
            pick(members) {
              const pinned = pin.get() ? members.find((m) => m.name === pin.get()) : undefined;
              if (pinned && alive(pinned)) return pinned;
              if (fast && Date.now() - computedAt < RECOMPUTE_MS && members.includes(fast)) return fast;
              return recompute(members);
            },
            select: pin.select,
            fixed: pin.get,
            unfix() {
              pin.clear();
              invalidate();
            },
          },
          health,
        );
      },
    });
  },
});
