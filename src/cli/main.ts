#!/usr/bin/env bun
import { defineCommand, runMain } from "citty";
import pluginsCommand from "./plugins.ts";
import runCommand from "./run.ts";
import schemaCommand from "./schema.ts";
import testConfigCommand from "./test-config.ts";
import upgradeCommand from "./upgrade.ts";
import versionCommand, { VERSION } from "./version.ts";

const main = defineCommand({
  meta: { name: "ferry", version: VERSION, description: "A rule-based proxy core compatible with Clash and mihomo" },
  subCommands: {
    run: runCommand,
    "test-config": testConfigCommand,
    version: versionCommand,
    plugins: pluginsCommand,
    schema: schemaCommand,
    upgrade: upgradeCommand,
  },
});

/** mihomo's single-dash long flags that GUI clients pass; citty wants two dashes. */
const LONG_FLAGS = /^-(ext-ctl|ext-ctl-tls|ext-ctl-unix|ext-ui|secret)(=.*)?$/;

/**
 * mihomo users type `ferry -t -f FILE`, `ferry -v` and `ferry -f FILE -d DIR`, and GUI clients add
 * `-ext-ctl ADDR -secret S`: map those onto the subcommands before citty sees them.
 */
export function mihomoArgs(argv: string[]): string[] {
  argv = argv.map((a) => (LONG_FLAGS.test(a) ? `-${a}` : a));
  if (argv.length === 0) return ["run"];
  if (argv.includes("-v") && !argv.some((a) => !a.startsWith("-"))) return ["version"];
  const first = argv[0]!;
  if (!first.startsWith("-")) return argv;
  if (argv.includes("-t")) return ["test-config", ...argv.filter((a) => a !== "-t")];
  if (first === "-h" || first === "--help" || first === "--version") return argv;
  return ["run", ...argv];
}

await runMain(main, { rawArgs: mihomoArgs(process.argv.slice(2)) });
