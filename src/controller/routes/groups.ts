import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { findGroup, groupDelay } from "../delay.ts";
import { ERR, json, segment } from "../http.ts";
import { ProxyWriter } from "../wire.ts";

/** `/group` (§7.19–§7.21): groups only; a leaf proxy name is a 404 here. */
export function groupRoutes(ctx: RouteContext) {
  const writer = () => new ProxyWriter(ctx.host.engine(), ctx.states);
  return new Elysia()
    .get("/group", () => json({ proxies: writer().groups() }))
    .get("/group/:name", ({ request }) => {
      const g = findGroup(ctx, segment(request, 1));
      return g ? json(writer().proxy(g)) : ERR.notFound();
    })
    .get("/group/:name/delay", ({ request }) => {
      const g = findGroup(ctx, segment(request, 1));
      return g ? groupDelay(ctx, g, request) : ERR.notFound();
    });
}
