import { Elysia } from "elysia";
import { log } from "../log.ts";
import { authHook } from "./auth.ts";
import type { RouteContext } from "./context.ts";
import { corsHook } from "./cors.ts";
import { fail, pageNotFound } from "./http.ts";
import { cacheRoutes } from "./routes/cache.ts";
import { configRoutes } from "./routes/configs.ts";
import { connectionRoutes } from "./routes/connections.ts";
import { debugRoutes } from "./routes/debug.ts";
import { dnsRoutes } from "./routes/dns.ts";
import { dohRoutes } from "./routes/doh.ts";
import { groupRoutes } from "./routes/groups.ts";
import { metaRoutes } from "./routes/meta.ts";
import { providerRoutes } from "./routes/providers.ts";
import { proxyRoutes } from "./routes/proxies.ts";
import { ruleRoutes } from "./routes/rules.ts";
import { storageRoutes } from "./routes/storage.ts";
import { systemRoutes } from "./routes/system.ts";
import { uiRoutes } from "./routes/ui.ts";

/**
 * The controller app: CORS, then authentication (one `onRequest` hook each, so they run before
 * routing for every request, WebSocket upgrades included), then one route plugin per area.
 */
export function createApp(ctx: RouteContext) {
  const { settings } = ctx;
  const openPaths = ["/ui"];
  if (settings.externalDohServer) openPaths.push(settings.externalDohServer);
  const app = new Elysia()
    .onRequest(corsHook(settings.cors))
    .onRequest(authHook({ secret: settings.secret, openPaths, requests: ctx.requests }))
    .onError(({ code, error, request }) => {
      if (code === "NOT_FOUND") return pageNotFound();
      const message = error instanceof Error ? error.message : String(error);
      log.error(`[controller] ${request.method} ${new URL(request.url).pathname}: ${message}`);
      return fail(500, message);
    })
    .use(metaRoutes(ctx))
    .use(configRoutes(ctx))
    .use(proxyRoutes(ctx))
    .use(groupRoutes(ctx))
    .use(ruleRoutes(ctx))
    .use(connectionRoutes(ctx))
    .use(providerRoutes(ctx))
    .use(dnsRoutes(ctx))
    .use(cacheRoutes(ctx))
    .use(storageRoutes(ctx))
    .use(systemRoutes(ctx));
  if (settings.externalUi) app.use(uiRoutes(ctx));
  if (settings.debug) app.use(debugRoutes());
  if (settings.externalDohServer) app.use(dohRoutes(ctx, settings.externalDohServer));
  return app;
}
