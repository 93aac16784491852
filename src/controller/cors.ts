/**
 * CORS and Private Network Access exactly as mihomo's rs/cors middleware answers (controller-api.md
 * §4): preflights never reach routing or authentication and always get 204; other requests get
 * `Vary: Origin` and, for an allowed origin, `Access-Control-Allow-Origin`.
 */

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
/** rs/cors adds Origin to the configured Content-Type and Authorization. */
const HEADERS = new Set(["content-type", "authorization", "origin"]);

export interface CorsOptions {
  allowOrigins: string[];
  allowPrivateNetwork: boolean;
}

type OriginCheck = (origin: string) => boolean;

/** `*` allows all; an entry may hold one `*` wildcard (`https://*.example.com`); case-insensitive. */
function originMatcher(allowOrigins: string[]): { any: boolean; allowed: OriginCheck } {
  const any = allowOrigins.includes("*");
  const exact = new Set<string>();
  const wild: [string, string][] = [];
  for (const o of allowOrigins) {
    const lower = o.toLowerCase();
    const star = lower.indexOf("*");
    if (star < 0) exact.add(lower);
    else wild.push([lower.slice(0, star), lower.slice(star + 1)]);
  }
  return {
    any,
    allowed: (origin) => {
      if (any) return true;
      const o = origin.toLowerCase();
      return exact.has(o) || wild.some(([pre, post]) => o.length >= pre.length + post.length && o.startsWith(pre) && o.endsWith(post));
    },
  };
}

/**
 * The `onRequest` hook: returns the preflight answer, or sets the CORS headers of the real answer
 * (Elysia merges `set.headers` into every response, including the 401 of authentication).
 */
export function corsHook(options: CorsOptions) {
  const { any, allowed } = originMatcher(options.allowOrigins);
  const preflightVary = options.allowPrivateNetwork
    ? "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
    : "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
  return ({ request, set }: { request: Request; set: { headers: Record<string, string | number> } }): Response | undefined => {
    const origin = request.headers.get("origin");
    const requestedMethod = request.headers.get("access-control-request-method");
    if (request.method === "OPTIONS" && requestedMethod !== null) {
      const headers: Record<string, string> = { vary: preflightVary };
      const requestedHeaders = request.headers.get("access-control-request-headers");
      const headersOk =
        requestedHeaders === null ||
        requestedHeaders
          .split(",")
          .map((h) => h.trim().toLowerCase())
          .every((h) => h === "" || HEADERS.has(h));
      if (origin !== null && allowed(origin) && METHODS.has(requestedMethod.toUpperCase()) && headersOk) {
        headers["access-control-allow-origin"] = any ? "*" : origin;
        headers["access-control-allow-methods"] = requestedMethod.toUpperCase();
        if (requestedHeaders) headers["access-control-allow-headers"] = requestedHeaders;
        headers["access-control-max-age"] = "300";
        if (options.allowPrivateNetwork && request.headers.get("access-control-request-private-network") === "true") {
          headers["access-control-allow-private-network"] = "true";
        }
      }
      return new Response(null, { status: 204, headers });
    }
    set.headers.vary = "Origin";
    if (origin !== null && allowed(origin) && METHODS.has(request.method)) {
      set.headers["access-control-allow-origin"] = any ? "*" : origin;
    }
    return undefined;
  };
}
