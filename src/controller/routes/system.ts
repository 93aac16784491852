import { Elysia } from "elysia";
import { log } from "../../log.ts";
import type { RouteContext } from "../context.ts";
import { fail, json } from "../http.ts";
import { respawn } from "../../lifecycle/exec.ts";
import { assertReplaceable, checkUpgrade, DEFAULT_UPDATE_URL, installUpgrade, UpgradeError } from "../../lifecycle/upgrade.ts";
import { updateUi } from "../ui.ts";

/**
 * The answer is written before the process goes away; Bun reports no "response flushed" event, so
 * the restart waits this long after handing the response over.
 */
const FLUSH_GRACE_MS = 100;

/** `/restart`, `/upgrade`, `/upgrade/ui` (§7.10–§7.12). */
export function systemRoutes(ctx: RouteContext) {
  return new Elysia()
    .post(
      "/restart",
      () => {
        setTimeout(() => void restart(ctx), FLUSH_GRACE_MS);
        return json({ status: "ok" });
      },
      { parse: "none" },
    )
    .post(
      "/upgrade",
      async ({ query }) => {
        try {
          await upgrade(ctx, query.channel, query.force === "true");
        } catch (err) {
          return fail(500, `update error: ${err instanceof Error ? err.message : String(err)}`);
        }
        setTimeout(() => void restart(ctx), FLUSH_GRACE_MS);
        return json({ status: "ok" });
      },
      { parse: "none" },
    )
    .post(
      "/upgrade/ui",
      async () => {
        try {
          await updateUi(ctx);
        } catch (err) {
          return fail(500, err instanceof Error ? err.message : String(err));
        }
        return json({ status: "ok" });
      },
      { parse: "none" },
    );
}

/**
 * §7.11 with ferry's own signed releases (never a mihomo binary), from `ferry-update-url`: the
 * request picks only the channel. Dashboards may call this on every connect, so "nothing newer"
 * and "running from source" fail cheaply before any download.
 */
async function upgrade(ctx: RouteContext, channelParam: string | undefined, force: boolean): Promise<void> {
  assertReplaceable();
  const raw = ctx.host.engine().config.raw as Record<string, unknown>;
  const base = typeof raw["ferry-update-url"] === "string" && raw["ferry-update-url"] ? raw["ferry-update-url"] : DEFAULT_UPDATE_URL;
  const requested = channelParam?.toLowerCase();
  const channel = requested === "release" || requested === "stable" ? "stable" : requested === "alpha" || ctx.version.includes("alpha") ? "alpha" : "stable";
  const options = { base, channel, force, currentVersion: ctx.version } as const;
  const check = await checkUpgrade(options);
  if (!check.install) throw new UpgradeError(`already using latest version ${ctx.version}`);
  log.info(`[controller] upgrading ${ctx.version} to ${check.latest} from ${base}`);
  await installUpgrade(options, check);
}

async function restart(ctx: RouteContext): Promise<void> {
  log.info("[controller] restarting: closing listeners");
  await ctx.stopListeners();
  await ctx.host.shutdown();
  const pid = respawn();
  log.info(`[controller] restarting: new process ${pid ?? "?"} started, exiting`);
  process.exit(0);
}
