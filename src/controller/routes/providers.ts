import { Elysia } from "elysia";
import { parseExpected } from "../../core/health.ts";
import type { ProxyProvider } from "../../providers/provider.ts";
import type { Outbound } from "../../sdk/types.ts";
import type { RouteContext } from "../context.ts";
import { providerHealthCheck, proxyDelay } from "../delay.ts";
import { ERR, fail, json, noContent, segment } from "../http.ts";
import { ProxyWriter } from "../wire.ts";

/**
 * `/providers/proxies` and `/providers/rules` (§7.27–§7.34). Proxy providers are the
 * `proxy-providers` entries plus mihomo's Compatible ones (one per group with a `proxies:` list, and
 * `default`); a `proxy-providers` entry wins a name clash. There are no rule providers yet, so that
 * list is `{}`.
 */
export function providerRoutes(ctx: RouteContext) {
  const writer = () => new ProxyWriter(ctx.host.engine(), ctx.states);
  type Found = { real: ProxyProvider; members?: undefined } | { real?: undefined; members: string[] } | undefined;
  const provider = (request: Request): Found => {
    const name = segment(request, 2);
    const real = ctx.host.engine().providers.get(name);
    if (real) return { real };
    const members = writer().providerMembers(name);
    return members ? { members } : undefined;
  };
  const node = (request: Request): { o: Outbound; real?: ProxyProvider } | undefined => {
    const found = provider(request);
    const name = segment(request, 3);
    if (found?.real) {
      const o = found.real.nodes.find((n) => n.name === name);
      return o && { o, real: found.real };
    }
    const o = found?.members.includes(name) ? ctx.host.engine().outbounds.get(name) : undefined;
    return o && { o };
  };
  return new Elysia()
    .get("/providers/proxies", () => json({ providers: writer().providers() }))
    .get("/providers/proxies/:provider", ({ request }) => {
      const found = provider(request);
      if (!found) return ERR.notFound();
      return json(found.real ? writer().provider(found.real) : writer().providers()[segment(request, 2)]);
    })
    .put(
      "/providers/proxies/:provider",
      async ({ request }) => {
        const found = provider(request);
        if (!found) return ERR.notFound();
        // Compatible providers have nothing to refresh.
        if (!found.real) return noContent();
        try {
          await found.real.refresh();
          return noContent();
        } catch (err) {
          return fail(503, err instanceof Error ? err.message : String(err));
        }
      },
      { parse: "none" },
    )
    .get("/providers/proxies/:provider/healthcheck", async ({ request }) => {
      const found = provider(request);
      if (!found) return ERR.notFound();
      if (found.real) {
        await found.real.checkAll();
        return noContent();
      }
      const p = writer().providers()[segment(request, 2)] as { testUrl: string; expectedStatus: string };
      await providerHealthCheck(ctx, found.members, p.testUrl, parseExpected(p.expectedStatus) ?? undefined);
      return noContent();
    })
    .get("/providers/proxies/:provider/:name", ({ request }) => {
      const found = node(request);
      return found ? json(writer().proxy(found.o, found.real)) : ERR.notFound();
    })
    .get("/providers/proxies/:provider/:name/healthcheck", ({ request }) => {
      const found = node(request);
      return found ? proxyDelay(ctx, found.o, request) : ERR.notFound();
    })
    .get("/providers/rules", () => json({ providers: {} }))
    .put("/providers/rules/:name", () => ERR.notFound(), { parse: "none" });
}
