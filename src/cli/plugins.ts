import { defineCommand } from "citty";
import { createRegistry } from "../core/runtime.ts";
import type { PluginKind } from "../sdk/types.ts";
import { configArgs, resolvePaths } from "./common.ts";

export default defineCommand({
  meta: { name: "plugins", description: "List built-in and external plugins with the types they register" },
  args: { home: configArgs.home, "plugins-dir": configArgs["plugins-dir"] },
  async run({ args }) {
    const paths = resolvePaths(args);
    const registry = await createRegistry(paths.homeDir, paths.pluginDirs);
    for (const p of registry.plugins) {
      const byKind = new Map<PluginKind, string[]>();
      for (const r of p.registered) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r.type]);
      const kinds = [...byKind].map(([k, types]) => `${k}: ${types.join(", ")}`).join("; ");
      console.log(`${p.name}  [${p.source === "builtin" ? "built-in" : p.source}]  ${kinds}`);
    }
    for (const f of registry.failures) console.log(`FAILED ${f.source}: ${f.error}`);
    process.exitCode = registry.failures.length > 0 ? 1 : 0;
  },
});
