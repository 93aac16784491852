import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { cacheOf } from "../../store/cache.ts";
import { ERR, fail, jsonText, noContent, segment } from "../http.ts";

const MAX_VALUE_BYTES = 1024 * 1024;

/**
 * `/storage/{key}` (§7.38): a small JSON key-value store for dashboards (zashboard syncs its
 * settings), kept in HOME/cache.db (the core's cache connection) so it survives restarts.
 */
export function storageRoutes(ctx: RouteContext) {
  const open = () => cacheOf(ctx.host.homeDir).db;
  return new Elysia()
    .get("/storage/:key", ({ request }) => {
      const row = open().query<{ value: string }, [string]>("SELECT value FROM controller_storage WHERE key = ?").get(segment(request, 1));
      // The stored JSON verbatim, no newline added; `null` for a missing key.
      return jsonText(row ? row.value : "null");
    })
    .put(
      "/storage/:key",
      async ({ request }) => {
        let text: string;
        try {
          text = await request.text();
        } catch (err) {
          return fail(400, err instanceof Error ? err.message : String(err));
        }
        try {
          JSON.parse(text);
        } catch {
          return ERR.bodyInvalid();
        }
        if (Buffer.byteLength(text) > MAX_VALUE_BYTES) return fail(413, "payload exceeds 1MB limit");
        open().query("INSERT OR REPLACE INTO controller_storage (key, value) VALUES (?, ?)").run(segment(request, 1), text);
        return noContent();
      },
      { parse: "none" },
    )
    .delete(
      "/storage/:key",
      ({ request }) => {
        open().query("DELETE FROM controller_storage WHERE key = ?").run(segment(request, 1));
        return noContent();
      },
      { parse: "none" },
    );
}
