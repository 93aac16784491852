import { Elysia } from "elysia";
import { parseExpected } from "../../core/health.ts";
import type { ProxyProvider } from "../../providers/provider.ts";
import type { RuleProvider } from "../../providers/rule-provider.ts";
import type { Outbound } from "../../sdk/types.ts";
import type { RouteContext } from "../context.ts";
import { providerHealthCheck, proxyDelay } from "../delay.ts";
import { ERR, fail, json, noContent, segment } from "../http.ts";
import { rfc3339, ZERO_TIME } from "../time.ts";
import { ProxyWriter } from "../wire.ts";

/**
 * `/providers/proxies` and `/providers/rules` (§7.27–§7.34). Proxy providers are the
 * `proxy-providers` entries plus mihomo's Compatible ones (one per group with a `proxies:` list, and
 * `default`); a `proxy-providers` entry wins a name clash. Rule providers are the `rule-providers`
 * entries.
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
    .get("/providers/rules", () => {
      const providers: Record<string, unknown> = {};
      for (const [name, p] of ctx.host.engine().ruleProviders) providers[name] = ruleProviderJson(p);
      return json({ providers });
    })
    .put(
      "/providers/rules/:name",
      async ({ request }) => {
        const found = ctx.host.engine().ruleProviders.get(segment(request, 2));
        if (!found) return ERR.notFound();
        try {
          await found.refresh();
          return noContent();
        } catch (err) {
          return fail(503, err instanceof Error ? err.message : String(err));
        }
      },
      { parse: "none" },
    );
}

const BEHAVIORS = { domain: "Domain", ipcidr: "IPCIDR", classical: "Classical" } as const;
const FORMATS = { yaml: "YamlRule", text: "TextRule", mrs: "MrsRule" } as const;

/** controller-api.md §7.33: inline providers have no format and show their payload. */
function ruleProviderJson(p: RuleProvider) {
  const inline = p.vehicleType === "Inline";
  return {
    behavior: BEHAVIORS[p.set.behavior],
    format: inline ? "" : FORMATS[p.set.format],
    name: p.name,
    ruleCount: p.set.count,
    type: "Rule",
    vehicleType: p.vehicleType,
    updatedAt: p.updatedAt ? rfc3339(p.updatedAt) : ZERO_TIME,
    ...(inline ? { payload: p.spec.options.payload ?? [] } : {}),
  };
}
