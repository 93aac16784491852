import { createHash, timingSafeEqual } from "node:crypto";
import { log } from "../log.ts";
import { ERR, query, rawPath } from "./http.ts";
import type { RequestRegistry } from "./streams.ts";

/** SHA-256 of both sides, then a constant-time compare: neither content nor length leaks by timing. */
export function secretMatcher(secret: string): (candidate: Uint8Array) => boolean {
  const expected = createHash("sha256").update(secret).digest();
  return (candidate) => timingSafeEqual(createHash("sha256").update(candidate).digest(), expected);
}

export interface AuthOptions {
  secret: string;
  /** Paths served without the secret: `/ui` and the DoH endpoint (controller-api.md §3). */
  openPaths: string[];
  requests: RequestRegistry;
}

/**
 * The `onRequest` authentication hook (mihomo hub/route/server.go, controller-api.md §3). A
 * WebSocket upgrade with a non-empty `token` is judged by the token alone; everything else needs
 * `Authorization: Bearer <secret>`, split at the first space, no trimming. The unix socket listener
 * is trusted. Failures are logged with the client address and path, never with what was sent.
 */
export function authHook(options: AuthOptions) {
  if (options.secret === "") return () => undefined;
  const matches = secretMatcher(options.secret);
  const isOpen = (path: string) => options.openPaths.some((p) => path === p || path.startsWith(`${p}/`));
  return ({ request }: { request: Request }): Response | undefined => {
    const info = options.requests.get(request);
    if (info?.trusted) return undefined;
    const path = rawPath(request);
    if (isOpen(path)) return undefined;
    let ok: boolean;
    const token = request.headers.get("upgrade") === "websocket" ? query(request).get("token") : null;
    if (token) ok = matches(Buffer.from(token));
    else {
      // Header values arrive as latin1 text of the raw bytes; compare bytes, as Go does, so a UTF-8 secret works.
      const header = request.headers.get("authorization") ?? "";
      const space = header.indexOf(" ");
      ok = space >= 0 && header.slice(0, space) === "Bearer" && matches(Buffer.from(header.slice(space + 1), "latin1"));
    }
    if (ok) return undefined;
    const from = info?.server.requestIP(request)?.address ?? "unknown";
    log.warn(`[controller] unauthorized ${request.method} ${path} from ${from}`);
    return ERR.unauthorized();
  };
}
