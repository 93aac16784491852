import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { noContent } from "../http.ts";

/** `POST /cache/fakeip/flush` and `/cache/dns/flush` (§7.36, §7.37): no-ops (204) while there is no DNS cache or fake-IP pool. */
export function cacheRoutes(ctx: RouteContext) {
  return new Elysia()
    .post(
      "/cache/fakeip/flush",
      () => {
        ctx.host.dns()?.flushFakeIp();
        return noContent();
      },
      { parse: "none" },
    )
    .post(
      "/cache/dns/flush",
      () => {
        ctx.host.dns()?.flushCache();
        return noContent();
      },
      { parse: "none" },
    );
}
