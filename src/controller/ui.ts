import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import { unzipSync } from "fflate";
import { log } from "../log.ts";
import type { RouteContext } from "./context.ts";

/** mihomo's default `external-ui-url`: the metacubexd build. */
const DEFAULT_UI_URL = "https://github.com/MetaCubeX/metacubexd/archive/refs/heads/gh-pages.zip";
const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 60_000;

/**
 * `POST /upgrade/ui` (§7.12): download `external-ui-url` (zip or tar.gz, told apart by magic
 * bytes), extract beside the target, empty the target (`external-ui`, plus `external-ui-name`;
 * `HOME/ui` when unset) and move the files in. A single top-level folder becomes the root.
 * An archive with entries that would land outside the target is refused. The download goes
 * through ferry's own HTTP/mixed listener when one runs without users, so the rules route it.
 */
export async function updateUi(ctx: RouteContext): Promise<void> {
  const raw = ctx.host.engine().config.raw as Record<string, unknown>;
  const url = typeof raw["external-ui-url"] === "string" && raw["external-ui-url"] ? raw["external-ui-url"] : DEFAULT_UI_URL;
  const name = typeof raw["external-ui-name"] === "string" ? raw["external-ui-name"] : "";
  const base = ctx.settings.externalUi || join(ctx.host.homeDir, "ui");
  if (name && (isAbsolute(name) || normalize(name).startsWith(".."))) throw new Error(`external-ui-name "${name}" must stay inside external-ui`);
  const target = name ? join(base, name) : base;
  let bytes: Uint8Array;
  try {
    bytes = await download(url, ctx);
  } catch (err) {
    throw new Error(`can't download file: ${err instanceof Error ? err.message : String(err)}`);
  }
  const staging = `${target}.ferry-tmp-${crypto.randomUUID()}`;
  try {
    try {
      mkdirSync(staging, { recursive: true });
      const files = await extract(bytes);
      for (const [path, data] of files) {
        const dest = resolve(staging, path);
        if (!dest.startsWith(staging + sep)) continue;
        mkdirSync(dirname(dest), { recursive: true });
        writeFileSync(dest, data);
      }
    } catch (err) {
      throw new Error(`can't extract compressed file: ${err instanceof Error ? err.message : String(err)}`);
    }
    let root = staging;
    const top = readdirSync(staging);
    if (top.length === 1 && statSync(join(staging, top[0]!)).isDirectory()) root = join(staging, top[0]!);
    try {
      mkdirSync(target, { recursive: true });
      for (const entry of readdirSync(target)) rmSync(join(target, entry), { recursive: true, force: true });
    } catch (err) {
      throw new Error(`cleanup exist file error: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      for (const entry of readdirSync(root)) renameSync(join(root, entry), join(target, entry));
    } catch (err) {
      throw new Error(`move UI folder failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log.info(`[controller] UI updated from ${url} into ${target}`);
}

async function download(url: string, ctx: RouteContext): Promise<Uint8Array> {
  const engine = ctx.host.engine();
  const own = engine.inbounds.find((r) => r.started && (r.spec.type === "mixed" || r.spec.type === "http") && !r.spec.users);
  const host = own && (own.spec.listen === "0.0.0.0" || own.spec.listen === "::" ? "127.0.0.1" : own.spec.listen);
  const proxy = own ? `http://${host!.includes(":") ? `[${host}]` : host}:${own.spec.port}` : undefined;
  const res = await fetch(url, { proxy, signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const length = Number(res.headers.get("content-length") ?? 0);
  if (length > MAX_ARCHIVE_BYTES) throw new Error(`${url}: larger than ${MAX_ARCHIVE_BYTES} bytes`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > MAX_ARCHIVE_BYTES) throw new Error(`${url}: larger than ${MAX_ARCHIVE_BYTES} bytes`);
  return bytes;
}

/**
 * Regular files of a zip (fflate) or tar.gz (Bun.Archive) archive: relative path → content. An
 * archive with an entry that would land outside the UI folder (absolute, `..`) is refused whole.
 */
async function extract(bytes: Uint8Array): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const add = (path: string, data: Uint8Array) => {
    if (path === "" || path.endsWith("/")) return;
    if (!safeEntry(path)) throw new Error(`archive entry "${path}" would leave the UI folder: refused`);
    out.set(path, data);
  };
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    for (const [path, data] of Object.entries(unzipSync(bytes))) add(path, data);
    return out;
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    for (const [path, file] of await new Bun.Archive(bytes).files()) add(path, await file.bytes());
    return out;
  }
  throw new Error("unknown archive format (expected zip or tar.gz)");
}

function safeEntry(path: string): boolean {
  if (isAbsolute(path) || /^[A-Za-z]:/.test(path)) return false;
  return !path.split(/[\\/]/).includes("..");
}
