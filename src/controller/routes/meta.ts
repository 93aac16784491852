import { Elysia } from "elysia";
import { type LogEntry, onLog } from "../../log.ts";
import type { RouteContext } from "../context.ts";
import { ERR, json, query } from "../http.ts";
import { serveStream } from "../streams.ts";
import { clockTime } from "../time.ts";

/** `/logs` levels in order; an event reaches a subscriber when its rank is at least the requested one. */
const LEVEL_RANK = new Map([
  ["debug", 0],
  ["info", 1],
  ["warning", 2],
  ["error", 3],
  ["silent", 4],
]);

/** `GET /`, `/version` and the three plain streams: `/logs`, `/traffic`, `/memory` (§7.1–§7.5). */
export function metaRoutes(ctx: RouteContext) {
  return new Elysia()
    .get("/", () => json({ hello: "mihomo" }))
    .get("/version", () => json({ meta: true, version: ctx.version }))
    .get("/logs", ({ request }) => {
      const q = query(request);
      const level = q.get("level") || "info";
      const min = LEVEL_RANK.get(level);
      if (min === undefined) return ERR.bodyInvalid();
      const structured = q.get("format") === "structured";
      const render = (e: LogEntry) =>
        structured
          ? `${JSON.stringify({ time: clockTime(e.time), level: e.type === "warning" ? "warn" : e.type, message: e.payload, fields: [] })}\n`
          : `${JSON.stringify({ type: e.type, payload: e.payload })}\n`;
      return serveStream(request, ctx.requests.get(request), (emit) =>
        onLog((e) => {
          if (LEVEL_RANK.get(e.type)! >= min) emit(render(e));
        }),
      );
    })
    .get("/traffic", ({ request }) =>
      serveStream(request, ctx.requests.get(request), (emit) => ctx.host.tracker.onTraffic((s) => emit(`${JSON.stringify(s)}\n`))),
    )
    .get("/memory", ({ request }) =>
      serveStream(request, ctx.requests.get(request), (emit) => {
        // The first sample of every subscription is 0 so charts start at zero (mihomo).
        let first = true;
        const timer = setInterval(() => {
          emit(`${JSON.stringify({ inuse: first ? 0 : process.memoryUsage.rss(), oslimit: 0 })}\n`);
          first = false;
        }, 1_000);
        return () => clearInterval(timer);
      }),
    );
}
