import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { query } from "../http.ts";

const MAX_MESSAGE = 65535;

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * `external-doh-server` (§7.41): RFC 8484 on the controller, without authentication (mihomo).
 * Errors keep mihomo's plain-text 500s; DoH clients only look for 200.
 */
export function dohRoutes(ctx: RouteContext, path: string) {
  const handle = async ({ request }: { request: Request }) => {
    if (request.method !== "GET" && request.method !== "POST") return text(405, "method not allowed");
    const dns = ctx.host.dns();
    if (!dns) return text(500, "DNS section is disabled");
    let message: Uint8Array;
    if (request.method === "GET") {
      message = new Uint8Array(Buffer.from(query(request).get("dns") ?? "", "base64url"));
    } else {
      if (request.headers.get("content-type") !== "application/dns-message") return text(500, "invalid content-type");
      message = new Uint8Array(await request.arrayBuffer()).subarray(0, MAX_MESSAGE);
    }
    if (message.length < 12) return text(500, "invalid DNS message");
    try {
      const answer = await dns.exchange(message);
      return new Response(answer, { headers: { "content-type": "application/dns-message" } });
    } catch (err) {
      return text(500, err instanceof Error ? err.message : String(err));
    }
  };
  return new Elysia().all(path, handle, { parse: "none" }).all(`${path}/*`, handle, { parse: "none" });
}
