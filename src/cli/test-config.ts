import { defineCommand } from "citty";
import { buildConfig } from "../config/build.ts";
import { formatIssue } from "../config/issues.ts";
import { createRegistry, readConfigText } from "../core/runtime.ts";
import { setLogLevel } from "../log.ts";
import { configArgs, resolvePaths, stdinConfig } from "./common.ts";

export default defineCommand({
  meta: { name: "test-config", description: "Validate a config without touching the network (exit 0 valid, 1 invalid)" },
  args: {
    ...configArgs,
    json: { type: "boolean", description: "print findings as JSON: [{severity, code, path, line, column, message, hint}]" },
  },
  async run({ args }) {
    const paths = resolvePaths(args);
    if (args.json) setLogLevel("silent");
    const registry = await createRegistry(paths.homeDir, paths.pluginDirs);
    const input = readConfigText({ ...paths, configText: await stdinConfig(args) });
    const { config, issues } = buildConfig(input.text, registry, { homeDir: paths.homeDir });
    const failures = registry.failures.map((f) => ({
      severity: "error" as const,
      code: "plugin.load-failed",
      path: f.source,
      message: f.error,
    }));
    const all = [...failures, ...issues];
    const ok = config !== undefined && failures.length === 0;
    if (args.json) {
      console.log(JSON.stringify(all, null, 2));
    } else {
      for (const i of all) console.log(`${i.severity === "error" ? "error" : "warning"}: ${formatIssue(i)}`);
      const errors = all.filter((i) => i.severity === "error").length;
      const warnings = all.length - errors;
      console.log(
        ok
          ? `configuration file ${input.source} test is successful (${warnings} warning${warnings === 1 ? "" : "s"})`
          : `configuration file ${input.source} test failed: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`,
      );
    }
    process.exitCode = ok ? 0 : 1;
  },
});
