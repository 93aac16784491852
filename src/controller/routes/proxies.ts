import { Elysia } from "elysia";
import { log } from "../../log.ts";
import { isGroup, type Outbound } from "../../sdk/types.ts";
import type { RouteContext } from "../context.ts";
import { proxyDelay } from "../delay.ts";
import { ERR, fail, isObject, json, noContent, readJson, segment } from "../http.ts";
import { pinnable, ProxyWriter } from "../wire.ts";

/** `/proxies` (§7.14–§7.18). The name is looked up first, so an unknown name is always a 404. */
export function proxyRoutes(ctx: RouteContext) {
  const writer = () => new ProxyWriter(ctx.host.engine(), ctx.states);
  const find = (request: Request): Outbound | undefined => ctx.host.engine().outbounds.get(segment(request, 1));
  return new Elysia()
    .get("/proxies", () => json({ proxies: writer().all() }))
    .get("/proxies/:name", ({ request }) => {
      const o = find(request);
      return o ? json(writer().proxy(o)) : ERR.notFound();
    })
    .put(
      "/proxies/:name",
      async ({ request }) => {
        const o = find(request);
        if (!o) return ERR.notFound();
        const body = await readJson(request);
        if (!body.ok || !isObject(body.value)) return ERR.bodyInvalid();
        const name = body.value.name;
        if (name !== undefined && typeof name !== "string") return ERR.bodyInvalid();
        if (!isGroup(o) || !o.select || o.type === "LoadBalance") return fail(400, "Must be a Selector");
        if (!o.select(name ?? "")) return fail(400, "Selector update error: proxy not exist");
        log.info(`[controller] ${o.name} now uses ${name}`);
        return noContent();
      },
      { parse: "none" },
    )
    .delete(
      "/proxies/:name",
      ({ request }) => {
        const o = find(request);
        if (!o) return ERR.notFound();
        const pins = isGroup(o) && o.type !== "Selector" ? pinnable(o) : undefined;
        if (!pins) return ERR.bodyInvalid();
        pins.unfix();
        return noContent();
      },
      { parse: "none" },
    )
    .get("/proxies/:name/delay", ({ request }) => {
      const o = find(request);
      return o ? proxyDelay(ctx, o, request) : ERR.notFound();
    });
}
