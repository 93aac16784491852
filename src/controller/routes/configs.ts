import { isAbsolute } from "node:path";
import { Elysia } from "elysia";
import ipaddr from "ipaddr.js";
import { log } from "../../log.ts";
import type { RouteContext } from "../context.ts";
import type { ConfigPatch, ConfigSource } from "../host.ts";
import { ERR, fail, isObject, json, noContent, query, readJson } from "../http.ts";
import { isSafePath, safePaths } from "../settings.ts";
import { configsJson } from "../wire.ts";

const PORT_KEYS = ["port", "socks-port", "redir-port", "tproxy-port", "mixed-port"] as const;
const BOOL_KEYS = ["allow-lan", "ipv6", "tcp-concurrent", "sniffing"] as const;
const STRING_KEYS = ["bind-address", "interface-name", "ss-config", "vmess-config", "tcptun-config", "udptun-config"] as const;
const CIDR_KEYS = ["lan-allowed-ips", "lan-disallowed-ips", "skip-auth-prefixes"] as const;
const ENUMS = {
  mode: ["rule", "global", "direct"],
  "log-level": ["debug", "info", "warning", "error", "silent"],
  "find-process-mode": ["always", "strict", "off"],
} as const;
const TUN_STACKS = ["gvisor", "system", "mixed"];

/** `/configs`, and the GEO update endpoints that mihomo serves from the same handler (§7.6–§7.9). */
export function configRoutes(ctx: RouteContext) {
  // Both paths run mihomo's one handler; a body is ignored. It blocks until the downloads are done.
  const updateGeo = async () => {
    try {
      await ctx.host.updateGeo();
    } catch (err) {
      return fail(500, err instanceof Error ? err.message : String(err));
    }
    return noContent();
  };
  return new Elysia()
    .get("/configs", () => json(configsJson(ctx.host.engine(), ctx.version)))
    .put(
      "/configs",
      async ({ request }) => {
        const body = await readJson(request);
        if (!body.ok || !isObject(body.value)) return ERR.bodyInvalid();
        const payload = typeof body.value.payload === "string" ? body.value.payload : "";
        const path = typeof body.value.path === "string" ? body.value.path : "";
        let source: ConfigSource;
        if (payload !== "") source = { kind: "payload", text: payload };
        else if (path === "") source = { kind: "startup" };
        else {
          if (!isAbsolute(path)) return fail(400, "path is not a absolute path");
          const allowed = safePaths(ctx.host.homeDir);
          if (!isSafePath(path, allowed)) {
            return fail(400, `path is not subpath of home directory or SAFE_PATHS: ${path} \n allowed paths: [${allowed.join(" ")}]`);
          }
          source = { kind: "path", path };
        }
        try {
          await ctx.host.applyConfig(source, query(request).get("force") === "true");
        } catch (err) {
          return fail(400, err instanceof Error ? err.message : String(err));
        }
        return noContent();
      },
      { parse: "none" },
    )
    .patch(
      "/configs",
      async ({ request }) => {
        const body = await readJson(request);
        if (!body.ok || !isObject(body.value)) return ERR.bodyInvalid();
        const patch = validatePatch(body.value);
        if (!patch) return ERR.bodyInvalid();
        try {
          await ctx.host.patchConfig(patch);
        } catch (err) {
          log.error(`[controller] PATCH /configs: ${err instanceof Error ? err.message : String(err)}`);
          return ERR.bodyInvalid();
        }
        return noContent();
      },
      { parse: "none" },
    )
    .post("/configs/geo", updateGeo, { parse: "none" })
    .post("/upgrade/geo", updateGeo, { parse: "none" });
}

/**
 * Check the whole body before anything applies (§7.8): a wrong type or an unknown enum value
 * refuses it all. Unknown keys are ignored, and so are the keys mihomo accepts without acting on
 * (`unified-delay`, `dns`, `sniffer`, `tunnels`, `socket-port`, `mitm-port`, `tcptun-config`,
 * `udptun-config`). Settings ferry does not run yet (TUN, sniffer, legacy inbounds) are accepted
 * and logged. Ports outside 0–65535 fail "at listen time" in mihomo: logged and skipped, still 204.
 */
export function validatePatch(body: Record<string, unknown>): ConfigPatch | undefined {
  const patch: ConfigPatch = {};
  for (const key of PORT_KEYS) {
    const v = body[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v)) return undefined;
    if (v < 0 || v > 65535) log.error(`[controller] ${key}: ${v} is not a port; left unchanged`);
    else patch[key] = v;
  }
  for (const key of BOOL_KEYS) if (body[key] !== undefined && typeof body[key] !== "boolean") return undefined;
  for (const key of STRING_KEYS) if (body[key] !== undefined && typeof body[key] !== "string") return undefined;
  for (const key of CIDR_KEYS) {
    const v = body[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || !v.every((c) => typeof c === "string" && isCidr(c))) return undefined;
    patch[key] = v as string[];
  }
  for (const [key, values] of Object.entries(ENUMS) as [keyof typeof ENUMS, readonly string[]][]) {
    const v = body[key];
    if (v === undefined) continue;
    if (typeof v !== "string" || !values.includes(v.toLowerCase())) return undefined;
    (patch as Record<string, string>)[key] = v.toLowerCase();
  }
  for (const key of ["tun", "tuic-server"] as const) {
    const v = body[key];
    if (v === undefined) continue;
    if (!isObject(v) || (v.enable !== undefined && typeof v.enable !== "boolean")) return undefined;
    if (key === "tun" && v.stack !== undefined && (typeof v.stack !== "string" || !TUN_STACKS.includes(v.stack.toLowerCase()))) return undefined;
    if (v.enable === true) log.warn(`[controller] ${key} is not available in this version of ferry; left off`);
  }
  if (typeof body.sniffing === "boolean") patch.sniffing = body.sniffing;
  for (const key of ["ss-config", "vmess-config"] as const) {
    if (body[key]) log.warn(`[controller] ${key} is not available in this version of ferry; ignored`);
  }
  if (typeof body["allow-lan"] === "boolean") patch["allow-lan"] = body["allow-lan"];
  if (typeof body.ipv6 === "boolean") patch.ipv6 = body.ipv6;
  if (typeof body["tcp-concurrent"] === "boolean") patch["tcp-concurrent"] = body["tcp-concurrent"];
  if (typeof body["bind-address"] === "string") patch["bind-address"] = body["bind-address"];
  if (typeof body["interface-name"] === "string") patch["interface-name"] = body["interface-name"];
  return patch;
}

function isCidr(text: string): boolean {
  try {
    ipaddr.parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}
