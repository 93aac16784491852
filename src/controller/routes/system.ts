import { Elysia } from "elysia";
import { log } from "../../log.ts";
import type { RouteContext } from "../context.ts";
import { fail, json } from "../http.ts";
import { respawn } from "../restart.ts";
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
    // No self-update from the controller (and never a mihomo binary): refused without side effects.
    .post("/upgrade", () => fail(500, `update error: ferry ${ctx.version} does not update itself from the controller`), { parse: "none" })
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

async function restart(ctx: RouteContext): Promise<void> {
  log.info("[controller] restarting: closing listeners");
  await ctx.stopListeners();
  await ctx.host.shutdown();
  const pid = respawn();
  log.info(`[controller] restarting: new process ${pid ?? "?"} started, exiting`);
  process.exit(0);
}
