import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { ERR, fail, jsonText, noContent, segment } from "../http.ts";

const MAX_VALUE_BYTES = 1024 * 1024;

/**
 * `/storage/{key}` (§7.38): a small JSON key-value store for dashboards (zashboard syncs its
 * settings), kept in HOME/cache.db so it survives restarts. Opened on first use.
 */
export function storageRoutes(ctx: RouteContext) {
  let db: Database | undefined;
  const open = async () => {
    if (!db) {
      const { Database } = await import("bun:sqlite");
      db = new Database(join(ctx.host.homeDir, "cache.db"), { create: true });
      db.run("CREATE TABLE IF NOT EXISTS controller_storage (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    }
    return db;
  };
  return new Elysia()
    .get("/storage/:key", async ({ request }) => {
      const row = (await open()).query<{ value: string }, [string]>("SELECT value FROM controller_storage WHERE key = ?").get(segment(request, 1));
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
        (await open()).query("INSERT OR REPLACE INTO controller_storage (key, value) VALUES (?, ?)").run(segment(request, 1), text);
        return noContent();
      },
      { parse: "none" },
    )
    .delete(
      "/storage/:key",
      async ({ request }) => {
        (await open()).query("DELETE FROM controller_storage WHERE key = ?").run(segment(request, 1));
        return noContent();
      },
      { parse: "none" },
    );
}
