import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import * as sdk from "../sdk/index.ts";
import type { Logger, Plugin } from "../sdk/types.ts";
import type { Registry } from "./registry.ts";

let sdkModuleRegistered = false;

/**
 * Publish the SDK as the virtual module "ferry:sdk", so an external plugin's import gets the host's
 * own instance — also from a compiled binary, where node_modules resolution is unavailable
 * (research/bun-probe.md §7).
 */
export function registerSdkModule(): void {
  if (sdkModuleRegistered) return;
  sdkModuleRegistered = true;
  Bun.plugin({
    name: "ferry-sdk",
    setup(build) {
      build.module("ferry:sdk", () => ({ exports: { ...sdk }, loader: "object" }));
    },
  });
}

/** Plugin files in a folder: `*.ts`/`*.js` files, and folders with an index.ts/index.js. Sorted by name. */
export function findPluginFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (name.startsWith(".")) continue;
    const path = resolve(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isFile() && /\.(ts|js|mjs)$/.test(name) && !name.endsWith(".d.ts")) out.push(path);
    else if (st.isDirectory()) {
      for (const index of ["index.ts", "index.js"]) {
        if (statSync(join(path, index), { throwIfNoEntry: false })?.isFile()) {
          out.push(join(path, index));
          break;
        }
      }
    }
  }
  return out;
}

/** Import each plugin file and load it; a broken file is logged by name and skipped. */
export async function loadExternalPlugins(registry: Registry, dirs: string[], log: Logger): Promise<void> {
  registerSdkModule();
  const seen = new Set<string>();
  for (const dir of dirs) {
    for (const file of findPluginFiles(dir)) {
      if (seen.has(file)) continue;
      seen.add(file);
      let plugin: Plugin;
      try {
        const mod = (await import(file)) as { default?: Plugin };
        plugin = mod.default as Plugin;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log.error(`plugin ${file} failed to load: ${message}`);
        registry.failures.push({ source: file, error: message });
        continue;
      }
      if (await registry.load(plugin, file, log)) log.info(`loaded plugin "${plugin.name}" from ${file}`);
    }
  }
}
