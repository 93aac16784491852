import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { ERR, jsonText, noContent, parseGoInt, query, segment } from "../http.ts";
import { serveStream, wantsWebSocket } from "../streams.ts";

/** `/connections`: snapshot (HTTP) or snapshot stream (WebSocket), and closing (§7.24–§7.26). */
export function connectionRoutes(ctx: RouteContext) {
  const snapshot = () => ctx.connections.snapshot(process.memoryUsage.rss());
  return new Elysia()
    .get("/connections", ({ request }) => {
      if (!wantsWebSocket(request)) return jsonText(snapshot());
      // mihomo accepts anything and then fails after the upgrade; ferry refuses before it (§7.24).
      const text = query(request).get("interval");
      const interval = text === null ? 1_000 : parseGoInt(text, 64);
      if (interval === undefined || interval <= 0) return ERR.bodyInvalid();
      return serveStream(request, ctx.requests.get(request), (emit) => {
        emit(snapshot());
        const timer = setInterval(() => emit(snapshot()), interval);
        return () => clearInterval(timer);
      });
    })
    .delete(
      "/connections",
      () => {
        ctx.host.tracker.closeAll();
        return noContent();
      },
      { parse: "none" },
    )
    .delete(
      "/connections/:id",
      ({ request }) => {
        // The id is used as sent, not percent-decoded (mihomo).
        ctx.host.tracker.get(segment(request, 1, false))?.close();
        return noContent();
      },
      { parse: "none" },
    );
}
