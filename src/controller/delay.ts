import { type Group, isGroup, type Outbound } from "../sdk/types.ts";
import type { RouteContext } from "./context.ts";
import { DEFAULT_TEST_URL, DelayTimeoutError, type ExpectedStatus, parseExpected, urlTest } from "../core/health.ts";
import { ERR, fail, json, parseGoInt, query } from "./http.ts";
import { pinnable } from "./wire.ts";

/** Provider health checks: mihomo's defaults (5 s per node, 10 at a time). */
const CHECK_TIMEOUT_MS = 5_000;
const CHECK_CONCURRENCY = 10;

function unified(ctx: RouteContext): boolean {
  return (ctx.host.engine().config.raw as Record<string, unknown>)["unified-delay"] === true;
}

/**
 * `GET /proxies/{name}/delay` and `/providers/proxies/{p}/{n}/healthcheck` (§7.18): `timeout` is a
 * required signed 16-bit integer, `expected` optional; 504 when the deadline hit first, 503 for
 * any other failure. The result lands in the proxy's history either way.
 */
export async function proxyDelay(ctx: RouteContext, o: Outbound, request: Request): Promise<Response> {
  const q = query(request);
  const timeoutMs = parseGoInt(q.get("timeout"), 16);
  if (timeoutMs === undefined) return ERR.bodyInvalid();
  const expected = parseExpected(q.get("expected"));
  if (expected === null) return ERR.bodyInvalid();
  try {
    const delay = await urlTest(o, q.get("url") ?? "", ctx.states.of(o), { timeoutMs, expected, unified: unified(ctx), signal: request.signal });
    return json({ delay });
  } catch (err) {
    if (err instanceof DelayTimeoutError) return ERR.timeout();
    return fail(503, "An error occurred in the delay test");
  }
}

/**
 * `GET /group/{name}/delay` (§7.21): pins are cleared first (even when the query is then refused),
 * every member is tested at once against one deadline, and only the successes are answered.
 * URLTest groups always use their own test URL.
 */
export async function groupDelay(ctx: RouteContext, g: Group, request: Request): Promise<Response> {
  if (g.type === "URLTest" || g.type === "Fallback") pinnable(g)?.unfix();
  const q = query(request);
  const timeoutMs = parseGoInt(q.get("timeout"), 32);
  if (timeoutMs === undefined) return ERR.bodyInvalid();
  const expected = parseExpected(q.get("expected"));
  if (expected === null) return ERR.bodyInvalid();
  const spec = ctx.host.engine().config.groups.find((x) => x.name === g.name);
  const own = typeof spec?.options.url === "string" && spec.options.url !== "" ? spec.options.url : DEFAULT_TEST_URL;
  const url = g.type === "URLTest" ? own : (q.get("url") ?? "");
  const results = await testAll(ctx, g.members(), url, timeoutMs, expected, request.signal, Number.POSITIVE_INFINITY);
  if (results.size === 0) return fail(504, "get delay: all proxies timeout");
  const out: Record<string, number> = {};
  for (const name of [...results.keys()].sort()) out[name] = results.get(name)!;
  return json(out);
}

/** A provider's health check (§7.30): every node, the provider's URL, at most 10 at a time. */
export async function providerHealthCheck(ctx: RouteContext, members: string[], url: string, expected: ExpectedStatus): Promise<void> {
  if (url !== "") await testAll(ctx, members, url, CHECK_TIMEOUT_MS, expected, undefined, CHECK_CONCURRENCY);
}

/** URL-test the named proxies, `concurrency` at a time; the delays of those that answered. */
async function testAll(
  ctx: RouteContext,
  members: string[],
  url: string,
  timeoutMs: number,
  expected: ExpectedStatus,
  signal: AbortSignal | undefined,
  concurrency: number,
): Promise<Map<string, number>> {
  const outbounds = ctx.host.engine().outbounds;
  const names = [...new Set(members)];
  const results = new Map<string, number>();
  const options = { timeoutMs, expected, unified: unified(ctx), signal };
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      const o = outbounds.get(name);
      if (!o) continue;
      try {
        results.set(name, await urlTest(o, url, ctx.states.of(o), options));
      } catch {
        // Failed members are left out of the answer; their history records the failure.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  return results;
}

export function findGroup(ctx: RouteContext, name: string): Group | undefined {
  const o = ctx.host.engine().outbounds.get(name);
  return o && isGroup(o) ? o : undefined;
}
