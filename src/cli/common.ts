import { homedir } from "node:os";
import { resolve } from "node:path";

/** Arguments shared by commands that load a config and plugins (mihomo's flags where they exist). */
export const configArgs = {
  config: { type: "string", alias: "f", description: "config file (default: HOME/config.yaml)", valueHint: "FILE" },
  home: { type: "string", alias: "d", description: "home directory (default: ~/.config/ferry)", valueHint: "HOME" },
  "plugins-dir": { type: "string", description: "extra folder of external plugins", valueHint: "DIR" },
} as const;

/**
 * Controller overrides GUI clients pass (mihomo's `-ext-ctl`, `-ext-ctl-tls`, `-ext-ctl-unix`,
 * `-ext-ui`, `-secret`; `mihomoArgs` turns the single dash into two). They win over the config file
 * and over the `CLASH_OVERRIDE_*` environment variables.
 */
export const controllerArgs = {
  "ext-ctl": { type: "string", description: "override external-controller", valueHint: "HOST:PORT" },
  "ext-ctl-tls": { type: "string", description: "override external-controller-tls", valueHint: "HOST:PORT" },
  "ext-ctl-unix": { type: "string", description: "override external-controller-unix", valueHint: "PATH" },
  "ext-ui": { type: "string", description: "override external-ui", valueHint: "DIR" },
  secret: { type: "string", description: "override secret", valueHint: "SECRET" },
} as const;

export interface ConfigArgValues {
  config?: string;
  home?: string;
  "plugins-dir"?: string;
}

export function resolvePaths(args: ConfigArgValues): { homeDir: string; configPath: string | undefined; pluginDirs: string[] } {
  const homeDir = resolve(args.home ?? process.env.FERRY_HOME ?? resolve(homedir(), ".config", "ferry"));
  return {
    homeDir,
    configPath: args.config && args.config !== "-" ? resolve(args.config) : undefined,
    pluginDirs: args["plugins-dir"] ? [resolve(args["plugins-dir"])] : [],
  };
}

/** `-f -` reads the config from standard input, as mihomo does. */
export async function stdinConfig(args: ConfigArgValues): Promise<string | undefined> {
  return args.config === "-" ? await Bun.stdin.text() : undefined;
}
