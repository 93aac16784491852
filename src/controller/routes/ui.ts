import { readdirSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { Elysia } from "elysia";
import type { RouteContext } from "../context.ts";
import { pageNotFound, rawPath } from "../http.ts";

function redirect(location: string, status: number): Response {
  return new Response(null, { status, headers: { location } });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `/ui` (§7.40): static files from `external-ui`, no authentication (a browser loads them before it
 * knows the secret). Go's file server conventions: directories get their index.html or a listing,
 * `…/index.html` redirects to its directory, no SPA fallback.
 */
export function uiRoutes(ctx: RouteContext) {
  const root = ctx.settings.externalUi;
  const serve = ({ request }: { request: Request }) => {
    const urlPath = rawPath(request);
    if (urlPath === "/ui") return redirect("/ui/", 307);
    let rel: string;
    try {
      rel = decodeURIComponent(urlPath.slice("/ui/".length));
    } catch {
      return pageNotFound();
    }
    const path = resolve(root, rel);
    if (path !== root && !path.startsWith(root + sep)) return pageNotFound();
    if (urlPath.endsWith("/index.html")) return redirect("./", 301);
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch {
      return pageNotFound();
    }
    if (stat.isDirectory()) {
      if (!urlPath.endsWith("/")) return redirect(`${urlPath.slice(urlPath.lastIndexOf("/") + 1)}/`, 301);
      const index = join(path, "index.html");
      try {
        if (statSync(index).isFile()) return new Response(Bun.file(index));
      } catch {
        // No index.html: list the directory as Go does.
      }
      const names = readdirSync(path, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
      const items = names.sort().map((n) => `<a href="${encodeURI(n)}">${escapeHtml(n)}</a>`);
      return new Response(`<pre>\n${items.join("\n")}\n</pre>\n`, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return new Response(Bun.file(path));
  };
  // One handler for both: the router treats `/ui/` as `/ui`.
  return new Elysia().get("/ui", serve).get("/ui/*", serve);
}
