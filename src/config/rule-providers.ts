import { existsSync, readFileSync } from "node:fs";
import type { Static, TSchema } from "@sinclair/typebox";
import type { Registry } from "../core/registry.ts";
import { providerFile, unsafePath } from "../providers/paths.ts";
import { classicalParser, RuleSet } from "../providers/rule-set.ts";
import { type RuleProviderOptions, RuleProviderSchema } from "../providers/schema.ts";
import type { RuleEnv } from "../sdk/types.ts";
import { keyPath } from "./issues.ts";

/** One `rule-providers` entry, validated, with the set rules refer to. */
export interface RuleProviderSpec {
  name: string;
  /** Key path (`rule-providers.reject`). */
  path: string;
  options: RuleProviderOptions;
  /** The on-disk copy (absolute when the home dir was known at build time); "" for inline. */
  file: string;
  /** Loaded here already with the inline payload or the on-disk copy, when there is one. */
  set: RuleSet;
}

/** What the section needs from the config builder. */
export interface RuleProvidersContext {
  registry: Registry;
  /** The env rules are parsed with: classical sets parse their rules with it too. */
  env: RuleEnv;
  homeDir: string | undefined;
  /** Weak decoding (mihomo's provider decoder); undefined when the entry has errors. */
  decode<S extends TSchema>(schema: S, value: unknown, path: string): Static<S> | undefined;
  error(path: string, message: string, code: string): void;
  warn(path: string, message: string, code: string): void;
}

/** Entries skipped in content are named one by one up to this many per provider, then counted. */
const SHOWN_SKIPS = 10;

/**
 * `rule-providers` (config.md §10, §23 #25, #26), also made the env's `ruleSet`. Content available
 * without the network (the inline payload, an on-disk copy) is loaded here, once every set exists
 * (a classical set may name another), so `test-config` names the entries that will be skipped and
 * the engine starts with the sets filled; downloads wait for the engine.
 */
export function buildRuleProviders(section: Record<string, unknown> | undefined, c: RuleProvidersContext): Map<string, RuleProviderSpec> {
  const out = new Map<string, RuleProviderSpec>();
  const parse = classicalParser(c.registry, c.env);
  for (const [name, entry] of Object.entries(section ?? {})) {
    const path = keyPath("rule-providers", name);
    const options = c.decode(RuleProviderSchema, entry, path);
    if (!options) continue;
    const format = options.format || "yaml";
    let ok = true;
    const fail = (at: string, message: string, code: string) => {
      c.error(at, message, code);
      ok = false;
    };
    if (options.type === "http" && !options.url) fail(`${path}.url`, "an http provider needs a url", "provider.no-url");
    if (options.type === "inline" && !options.payload) fail(`${path}.payload`, "an inline provider needs a payload", "provider.no-payload");
    if (format === "mrs" && options.behavior === "classical") fail(`${path}.format`, "format mrs holds only domain or ipcidr sets, not classical", "provider.mrs-classical");
    const file = options.type === "inline" ? "" : providerFile(c.homeDir ?? "", options.type, options.path, options.url, "rules");
    if (c.homeDir !== undefined && options.type === "http") {
      const why = unsafePath(c.homeDir, file);
      if (why) fail(`${path}.path`, why, "provider.unsafe-path");
    }
    if (!ok) continue;
    if (options.type === "http" && !options.interval) {
      c.warn(`${path}.interval`, "interval is 0: once a local copy exists it is never re-downloaded (only PUT /providers/rules refreshes it)", "provider.no-interval");
    }
    if (options.proxy !== undefined && options.type !== "http") c.warn(`${path}.proxy`, "proxy only applies to http providers", "provider.proxy-unused");
    out.set(name, { name, path, options, file, set: new RuleSet(name, options.behavior, format, parse) });
  }
  c.env.ruleSet = (name) => out.get(name)?.set;
  for (const { path, options, file, set } of out.values()) {
    if (options.type === "inline") {
      report(set.loadEntries(options.payload ?? []), `${path}.payload`, c);
    } else if (c.homeDir !== undefined && existsSync(file)) {
      try {
        const body = readFileSync(file);
        report(set.load(body, Bun.hash(body).toString(36)), path, c, `${file}: `);
      } catch (err) {
        c.warn(path, `${file}: ${err instanceof Error ? err.message : String(err)}: the set starts empty`, "provider.content");
      }
    } else if (c.homeDir !== undefined && options.type === "file") {
      c.warn(`${path}.path`, `file ${file} does not exist: the set starts empty`, "provider.file-missing");
    }
  }
  return out;
}

function report(skipped: string[], path: string, c: RuleProvidersContext, where = ""): void {
  for (const line of skipped.slice(0, SHOWN_SKIPS)) c.warn(path, `${where}${line}`, "provider.entry-skipped");
  if (skipped.length > SHOWN_SKIPS) c.warn(path, `${where}${skipped.length - SHOWN_SKIPS} more entries are skipped`, "provider.entry-skipped");
}
