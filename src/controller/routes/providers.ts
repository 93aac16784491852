import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { providerHealthCheck, proxyDelay } from "../delay.ts";
import { parseExpected } from "../health.ts";
import { ERR, json, noContent, segment } from "../http.ts";
import { ProxyWriter } from "../wire.ts";

/**
 * `/providers/proxies` and `/providers/rules` (§7.27–§7.34). Until proxy-providers exist the only
 * proxy providers are mihomo's Compatible ones (one per group with a `proxies:` list, and
 * `default`); there are no rule providers, so that list is `{}`.
 */
export function providerRoutes(ctx: RouteContext) {
  const writer = () => new ProxyWriter(ctx.host.engine(), ctx.states);
  const provider = (request: Request) => {
    const name = segment(request, 2);
    return { name, members: writer().providerMembers(name) };
  };
  const node = (request: Request) => {
    const { members } = provider(request);
    const name = segment(request, 3);
    return members?.includes(name) ? ctx.host.engine().outbounds.get(name) : undefined;
  };
  return new Elysia()
    .get("/providers/proxies", () => json({ providers: writer().providers() }))
    .get("/providers/proxies/:provider", ({ request }) => {
      const { name, members } = provider(request);
      return members ? json(writer().providers()[name]) : ERR.notFound();
    })
    .put(
      "/providers/proxies/:provider",
      // Compatible providers have nothing to refresh.
      ({ request }) => (provider(request).members ? noContent() : ERR.notFound()),
      { parse: "none" },
    )
    .get("/providers/proxies/:provider/healthcheck", async ({ request }) => {
      const { name, members } = provider(request);
      if (!members) return ERR.notFound();
      const p = writer().providers()[name] as { testUrl: string; expectedStatus: string };
      await providerHealthCheck(ctx, members, p.testUrl, parseExpected(p.expectedStatus) ?? undefined);
      return noContent();
    })
    .get("/providers/proxies/:provider/:name", ({ request }) => {
      const o = node(request);
      return o ? json(writer().proxy(o)) : ERR.notFound();
    })
    .get("/providers/proxies/:provider/:name/healthcheck", ({ request }) => {
      const o = node(request);
      return o ? proxyDelay(ctx, o, request) : ERR.notFound();
    })
    .get("/providers/rules", () => json({ providers: {} }))
    .put("/providers/rules/:name", () => ERR.notFound(), { parse: "none" });
}
