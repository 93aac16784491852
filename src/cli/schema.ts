import { defineCommand } from "citty";
import { configJsonSchema } from "../config/json-schema.ts";
import { createRegistry } from "../core/runtime.ts";
import { setLogLevel } from "../log.ts";
import { configArgs, resolvePaths } from "./common.ts";

export default defineCommand({
  meta: { name: "schema", description: "Print the JSON Schema of the config, built from every plugin's options" },
  args: { home: configArgs.home, "plugins-dir": configArgs["plugins-dir"] },
  async run({ args }) {
    setLogLevel("silent");
    const paths = resolvePaths(args);
    const registry = await createRegistry(paths.homeDir, paths.pluginDirs);
    console.log(JSON.stringify(configJsonSchema(registry), null, 2));
  },
});
