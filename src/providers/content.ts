import { buildProxyEntries, type ProxySpec } from "../config/build.ts";
import { formatIssue } from "../config/issues.ts";
import { parseSubscription } from "../config/share-links.ts";
import { parseYaml } from "../config/yaml.ts";
import type { Registry } from "../core/registry.ts";
import { UserError } from "../sdk/types.ts";
import { applyFilter, compileFilter, compileRegex, compileTypes } from "./filter.ts";
import type { ProxyProviderOptions } from "./schema.ts";

/** What one body gives: the valid nodes and one line per entry skipped (naming it). */
export interface ProviderContent {
  proxies: ProxySpec[];
  warnings: string[];
}

/**
 * A body as proxy maps: YAML with a `proxies:` list (other keys ignored), else share links, plain
 * or base64 (config.md §7.18). Throws a UserError when it is neither.
 */
export function payloadEntries(text: string): { entries: unknown[]; warnings: string[] } {
  const parsed = parseYaml(text);
  const value = parsed.value;
  const yamlOk = !parsed.issues.some((i) => i.severity === "error");
  if (yamlOk && value !== null && typeof value === "object" && !Array.isArray(value)) {
    const proxies = (value as Record<string, unknown>).proxies;
    if (!Array.isArray(proxies)) throw new UserError("no `proxies` list in the YAML body");
    return { entries: proxies, warnings: [] };
  }
  try {
    const sub = parseSubscription(text);
    return { entries: sub.proxies, warnings: sub.warnings };
  } catch (err) {
    const yamlError = parsed.issues.find((i) => i.severity === "error");
    const why = yamlError ? `not YAML (${formatIssue(yamlError)})` : "not a YAML map";
    throw new UserError(`body is ${why} and not share links (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The per-entry steps of config.md §9, compiled once per provider. */
export class ContentProcessor {
  private readonly excludeTypes: Set<string> | undefined;
  private readonly exclude: RegExp[] | undefined;
  private readonly filter: RegExp[] | undefined;
  private readonly renames: { pattern: RegExp; target: string }[];
  private readonly fields: [string, unknown][];
  private readonly prefix: string;
  private readonly suffix: string;

  constructor(
    private readonly name: string,
    private readonly options: ProxyProviderOptions,
    private readonly registry: Registry,
  ) {
    this.excludeTypes = compileTypes(options["exclude-type"]);
    this.exclude = compileFilter(options["exclude-filter"]);
    this.filter = compileFilter(options.filter);
    const override = options.override ?? {};
    this.prefix = typeof override["additional-prefix"] === "string" ? override["additional-prefix"] : "";
    this.suffix = typeof override["additional-suffix"] === "string" ? override["additional-suffix"] : "";
    const renames = Array.isArray(override["proxy-name"]) ? (override["proxy-name"] as { pattern: string; target?: string }[]) : [];
    this.renames = renames.map((r) => ({ pattern: withGlobal(compileRegex(r.pattern)), target: goReplacement(r.target ?? "") }));
    this.fields = Object.entries(override).filter(([k]) => !NAME_KEYS.has(k));
  }

  /** Proxy maps (inline `payload`, or a parsed body) → validated nodes. */
  processEntries(entries: unknown[], warnings: string[] = []): ProviderContent {
    const base = `proxy-providers.${this.name}.proxies`;
    const kept: { entry: Record<string, unknown>; path: string; original: string }[] = [];
    entries.forEach((entry, i) => {
      const path = `${base}[${i}]`;
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
        warnings.push(`${path}: not a proxy map; skipped`);
        return;
      }
      const map = entry as Record<string, unknown>;
      const original = typeof map.name === "string" ? map.name : String(map.name ?? "");
      const type = String(map.type ?? "").toLowerCase();
      if (this.excludeTypes?.has(type)) return;
      if (this.exclude?.some((r) => r.test(original))) return;
      kept.push({ entry: map, path, original });
    });
    const seen = new Set<string>();
    const items: { entry: unknown; path: string }[] = [];
    for (const k of applyFilter(kept, (k) => k.original, this.filter)) {
      if (seen.has(k.original)) {
        warnings.push(`${k.path}: duplicate proxy name "${k.original}" in this provider; dropped`);
        continue;
      }
      seen.add(k.original);
      items.push({ entry: this.rewrite(k.entry, k.original), path: k.path });
    }
    const { proxies, issues } = buildProxyEntries(items, this.registry);
    const names = new Map(items.map((it) => [it.path, (it.entry as Record<string, unknown>).name]));
    for (const issue of issues) {
      if (issue.code === "config.unknown-key") continue;
      const at = /^[^\]]*\]/.exec(issue.path)?.[0] ?? issue.path;
      const name = names.get(at);
      const who = typeof name === "string" ? ` (proxy "${name}")` : "";
      const text = `${formatIssue(issue)}${who}`;
      warnings.push(issue.severity === "error" ? `${text}; skipped` : text);
    }
    return { proxies, warnings };
  }

  /**
   * `dialer-proxy`, then `override` fields, then the name. mihomo sets every override field on
   * every node and Go's decoder ignores those a type lacks; ours drops them as unknown keys, whose
   * warnings `processEntries` leaves out for the same reason.
   */
  private rewrite(entry: Record<string, unknown>, original: string): Record<string, unknown> {
    const out = { ...entry };
    if (this.options["dialer-proxy"]) out["dialer-proxy"] = this.options["dialer-proxy"];
    for (const [k, v] of this.fields) out[k] = v;
    let name = `${this.prefix}${original}${this.suffix}`;
    for (const r of this.renames) name = name.replace(r.pattern, r.target);
    out.name = name;
    return out;
  }
}

const NAME_KEYS = new Set(["additional-prefix", "additional-suffix", "proxy-name"]);

function withGlobal(r: RegExp): RegExp {
  return r.flags.includes("g") ? r : new RegExp(r.source, `${r.flags}g`);
}

/** Go's `${1}` / `${name}` in replacements; `$1` is the same in both. */
function goReplacement(target: string): string {
  return target.replace(/\$\{(\d+)\}/g, "$$$1").replace(/\$\{([A-Za-z_]\w*)\}/g, "$$<$1>");
}
