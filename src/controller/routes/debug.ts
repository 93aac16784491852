import { heapStats } from "bun:jsc";
import { Elysia } from "elysia";
import { json } from "../http.ts";

/**
 * `/debug` (§7.39), mounted only when the log level is debug at start-up. Unlike mihomo these
 * require the secret (DEVIATION, decided). No Go pprof emulation: a GC trigger and heap figures.
 */
export function debugRoutes() {
  return new Elysia()
    .put(
      "/debug/gc",
      () => {
        Bun.gc(true);
        return new Response(null, { status: 200 });
      },
      { parse: "none" },
    )
    .get("/debug/vars", () => json({ memory: process.memoryUsage(), heap: heapStats() }));
}
