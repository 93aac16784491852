import { rulePlugins } from "../../plugins/rule/index.ts";
import { type ParsedRule, parseRuleLine } from "../../src/config/rules.ts";
import { Registry } from "../../src/core/registry.ts";
import { createMetadata, type Logger, type Metadata } from "../../src/sdk/index.ts";

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

/** Deterministic PRNG (mulberry32) so randomized tests and benchmarks are repeatable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
