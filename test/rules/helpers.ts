import { rulePlugins } from "../../plugins/rule/index.ts";
import { type ParsedRule, parseRuleLine } from "../../src/config/rules.ts";
import { Registry } from "../../src/core/registry.ts";
import { createMetadata, type Logger, type Metadata } from "../../src/sdk/index.ts";
export { rng } from "../../scripts/lib/rng.ts";

export const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/** A logger that records lines per level. */
export function recordingLog(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

export async function ruleRegistry(): Promise<Registry> {
  const registry = new Registry();
  for (const plugin of rulePlugins) {
    if (!(await registry.load(plugin, "builtin", quiet))) throw new Error(`could not load ${plugin.name}`);
  }
  return registry;
}

export const registry = await ruleRegistry();

/** Parse a rule line with the built-in plugins; warnings are collected into `warnings`. */
export function parse(line: string, warnings: string[] = []): ParsedRule {
  return parseRuleLine(line, registry, (m) => warnings.push(m));
}

export function md(init: Partial<Metadata> = {}): Metadata {
  return createMetadata({ network: "tcp", type: "HTTPS", ...init });
}

/** Does the rule in `line` match a connection described by `init`? */
export function matches(line: string, init: Partial<Metadata>): boolean {
  return parse(line).rule.match(md(init));
}

