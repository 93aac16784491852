import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { ERR, isObject, json, noContent, readJson } from "../http.ts";
import { rulesJson } from "../wire.ts";

/** `/rules` and `PATCH /rules/disable` (§7.22, §7.23). */
export function ruleRoutes(ctx: RouteContext) {
  return new Elysia().get("/rules", () => json({ rules: rulesJson(ctx.host.engine()) })).patch(
    "/rules/disable",
    async ({ request }) => {
      const body = await readJson(request);
      if (!body.ok || !isObject(body.value)) return ERR.bodyInvalid();
      const changes: [number, boolean][] = [];
      for (const [key, value] of Object.entries(body.value)) {
        if (!/^[+-]?\d+$/.test(key) || typeof value !== "boolean") return ERR.bodyInvalid();
        changes.push([Number(key), value]);
      }
      const engine = ctx.host.engine();
      const disabled = new Set(engine.disabledRules);
      for (const [index, off] of changes) {
        // Out-of-range indices are skipped silently (mihomo).
        if (index < 0 || index >= engine.config.rules.length) continue;
        if (off) disabled.add(index);
        else disabled.delete(index);
      }
      engine.setDisabledRules(disabled);
      return noContent();
    },
    { parse: "none" },
  );
}
