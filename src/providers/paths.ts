import { createHash } from "node:crypto";
import { delimiter, isAbsolute, join, relative, resolve } from "node:path";

/**
 * Where a provider keeps its copy: `path` against the home dir, or for http without one
 * `<dir>/<md5 of url>` as mihomo names it (`proxies`, `rules`: so a mihomo home dir is reused as
 * is). With no home dir ("") the path stays relative.
 */
export function providerFile(homeDir: string, type: string, path: string | undefined, url: string | undefined, dir = "proxies"): string {
  const file = path || (type === "http" && url ? join(dir, createHash("md5").update(url).digest("hex")) : "");
  return file && homeDir ? resolve(homeDir, file) : file;
}

/**
 * config.md §1.4: an http provider writes its download to `path`, so that path must stay inside the
 * home dir (or a `SAFE_PATHS` entry) unless `SKIP_SAFE_PATH_CHECK` is set. Returns why not, or
 * undefined when the path is fine.
 */
export function unsafePath(homeDir: string, file: string, env: Record<string, string | undefined> = process.env): string | undefined {
  const skip = env.SKIP_SAFE_PATH_CHECK?.toLowerCase();
  if (skip === "1" || skip === "true") return undefined;
  const roots = [homeDir, ...(env.SAFE_PATHS ?? "").split(delimiter).filter((p) => p !== "")];
  const inside = roots.some((root) => {
    const rel = relative(resolve(root), file);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  });
  return inside ? undefined : `path "${file}" is outside the home dir ${homeDir} (set SAFE_PATHS or SKIP_SAFE_PATH_CHECK=1 to allow it)`;
}
