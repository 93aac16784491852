import { existsSync } from "node:fs";
import type { Static, TSchema } from "@sinclair/typebox";
import ipaddr from "ipaddr.js";
import type { Entry, Registry } from "../core/registry.ts";
import { Hosts } from "../dns/hosts.ts";
import { ipVersionOf } from "../dns/resolver.ts";
import { geoKeyProblems, openGeoData } from "../geo/geodata.ts";
import { applyFilter, compileFilter, compileRegex } from "../providers/filter.ts";
import { providerFile, unsafePath } from "../providers/paths.ts";
import { type ProxyProviderOptions, ProxyProviderSchema } from "../providers/schema.ts";
import { type OptionProblem, type RuleEnv, UserError } from "../sdk/types.ts";
import { decode } from "./decode.ts";
import { type ConfigIssue, keyPath } from "./issues.ts";
import type { SnifferOptions } from "../sniff/sniffer.ts";
import { buildDns, type DnsConfig } from "./dns.ts";
import { buildRuleProviders, type RuleProviderSpec } from "./rule-providers.ts";
import { NO_RULE_ENV, type ParsedRule, parseRuleLine } from "./rules.ts";
import { buildSniffer } from "./sniffer.ts";
import { ConfigSchema, GroupCommonSchema, INACTIVE_SECTIONS, ListenerCommonSchema, ProxyCommonSchema } from "./schema.ts";
import { suggest } from "./suggest.ts";
import { parseYaml, type Position } from "./yaml.ts";

export type RawConfig = Static<typeof ConfigSchema>;

/** Built-in outbounds: name → registered outbound type (config.md §6.1). GLOBAL is built apart. */
export const BUILTIN_OUTBOUNDS: Record<string, string> = {
  DIRECT: "direct",
  REJECT: "reject",
  "REJECT-DROP": "reject-drop",
  PASS: "pass",
  COMPATIBLE: "direct",
};

export interface ProxySpec {
  name: string;
  type: string;
  path: string;
  options: Record<string, unknown>;
}

export interface GroupSpec extends ProxySpec {
  /** Explicit `proxies`, then the `include-all-proxies` additions (already filtered). */
  members: string[];
  /** Providers whose nodes follow the members, in `use` order (`include-all-providers`: all, by name). */
  use: string[];
}

export interface ProviderSpec {
  name: string;
  /** Key path (`proxy-providers.airport`). */
  path: string;
  options: ProxyProviderOptions;
  /** The on-disk copy (absolute when the home dir was known at build time); "" for inline. */
  file: string;
}

export interface ListenerSpec {
  name: string;
  type: string;
  path: string;
  listen: string;
  port: number;
  /** undefined = no authentication. */
  users: Map<string, string> | undefined;
  /** Whether lan-allowed/disallowed-ips and skip-auth-prefixes apply (default listeners, listeners without users). */
  lanRules: boolean;
  proxy: string;
  rule: string;
  options: Record<string, unknown>;
}

export interface BuiltConfig {
  raw: RawConfig;
  mode: "rule" | "global" | "direct";
  logLevel: "silent" | "error" | "warning" | "info" | "debug";
  ipv6: boolean;
  proxies: ProxySpec[];
  groups: GroupSpec[];
  providers: ProviderSpec[];
  ruleProviders: RuleProviderSpec[];
  rules: ParsedRule[];
  subRules: Map<string, ParsedRule[]>;
  listeners: ListenerSpec[];
  hosts: Hosts;
  dns: DnsConfig;
  /** `sniffer`, undefined unless enabled. */
  sniffer: SnifferOptions | undefined;
  /** Rule providers and geodata as rules saw them. */
  env: RuleEnv;
  lanAllowed: string[];
  lanDisallowed: string[];
  skipAuthPrefixes: string[];
  issues: ConfigIssue[];
}

export interface BuildResult {
  config: BuiltConfig | undefined;
  issues: ConfigIssue[];
}

export interface BuildOptions {
  /** Resolves provider paths and checks that http ones stay inside it (config.md §1.4). */
  homeDir?: string;
}

/** Parse and validate a config text. Never touches the network; `config` is undefined on errors. */
export function buildConfig(text: string, registry: Registry, options: BuildOptions = {}): BuildResult {
  const parsed = parseYaml(text);
  const issues = [...parsed.issues];
  if (issues.some((i) => i.severity === "error")) return { config: undefined, issues };
  if (parsed.value === null || typeof parsed.value !== "object" || Array.isArray(parsed.value)) {
    issues.push({ severity: "error", code: "config.not-a-map", path: "", message: "the config must be a mapping of keys" });
    return { config: undefined, issues };
  }
  const b = new Builder(registry, parsed.positions, issues, options);
  const config = b.build(parsed.value as Record<string, unknown>);
  return { config: issues.some((i) => i.severity === "error") ? undefined : config, issues };
}

class Builder {
  /** What rules (and dns/sniffer lists) may refer to: rule providers and geodata. */
  private readonly env: RuleEnv = { ...NO_RULE_ENV };

  constructor(
    private readonly registry: Registry,
    private readonly positions: Map<string, Position>,
    private readonly issues: ConfigIssue[],
    private readonly options: BuildOptions = {},
  ) {}

  private error(path: string, message: string, code = "config.invalid", hint?: string): void {
    const pos = this.positions.get(path);
    this.issues.push({ severity: "error", code, path, line: pos?.line, column: pos?.column, message, hint });
  }

  private warn(path: string, message: string, code = "config.warning", hint?: string): void {
    const pos = this.positions.get(path);
    this.issues.push({ severity: "warning", code, path, line: pos?.line, column: pos?.column, message, hint });
  }

  private decode<S extends TSchema>(schema: S, value: unknown, path: string, weak: boolean, underscore = false) {
    return decode(schema, value, {
      mode: weak ? "weak" : "strict",
      underscoreAsDash: underscore,
      path,
      positions: this.positions,
      issues: this.issues,
    });
  }

  build(input: Record<string, unknown>): BuiltConfig {
    const raw = this.sections(input);
    // Geo files open when a rule first needs them; without a home dir there are none to open.
    if (this.options.homeDir !== undefined) this.env.geo = openGeoData(this.options.homeDir, raw);
    for (const p of geoKeyProblems(raw)) this.warn(p.path, p.message, "geo.config");
    const names = new Set<string>(Object.keys(BUILTIN_OUTBOUNDS));
    const proxies = this.proxies(raw, names);
    const providers = this.providers(raw);
    const ruleProviders = buildRuleProviders(raw["rule-providers"], {
      registry: this.registry,
      env: this.env,
      homeDir: this.options.homeDir,
      decode: (schema, value, path) => this.decode(schema, value, path, true),
      error: (path, message, code) => this.error(path, message, code),
      warn: (path, message, code) => this.warn(path, message, code),
    });
    const groups = this.groups(raw, names, proxies, providers);
    const outboundNames = new Set([...names, "GLOBAL"]);
    this.checkGroupMembers(groups, outboundNames);
    this.checkDialerProxies(proxies, outboundNames);
    // Every list exists before any is parsed: a SUB-RULE line keeps the list it names.
    const rawSubRules = Object.entries(raw["sub-rules"] ?? {});
    const subRules = new Map<string, ParsedRule[]>(rawSubRules.map(([name]) => [name, []]));
    for (const [name, lines] of rawSubRules) {
      if (!name) this.error("sub-rules", "a sub-rule list needs a name");
      this.rules(lines, keyPath("sub-rules", name), outboundNames, subRules, subRules.get(name));
    }
    this.checkSubRuleCycles(subRules);
    const rules = this.rules(raw.rules ?? [], "rules", outboundNames, subRules);
    let hosts = new Hosts();
    try {
      hosts = new Hosts(raw.hosts ?? {});
    } catch (err) {
      this.error("hosts", (err as Error).message);
    }
    const lanAllowed = this.cidrs(raw["lan-allowed-ips"] ?? ["0.0.0.0/0", "::/0"], "lan-allowed-ips");
    const lanDisallowed = this.cidrs(raw["lan-disallowed-ips"] ?? [], "lan-disallowed-ips");
    const skipAuthPrefixes = this.cidrs(raw["skip-auth-prefixes"] ?? [], "skip-auth-prefixes");
    const listeners = this.listeners(raw, outboundNames, subRules);
    this.tunnels(raw, listeners, outboundNames);
    const dns = buildDns(raw, {
      registry: this.registry,
      env: this.env,
      outboundNames,
      error: (path, message) => this.error(path, message, "dns.invalid"),
      warn: (path, message) => this.warn(path, message, "dns.warning"),
    });
    const sniffer = buildSniffer(raw, {
      env: this.env,
      decode: (schema, value, path) => this.decode(schema, value, path, false),
      error: (path, message) => this.error(path, message, "sniffer.invalid"),
      warn: (path, message) => this.warn(path, message, "sniffer.warning"),
    });
    for (const section of INACTIVE_SECTIONS) {
      const v = raw[section as keyof RawConfig];
      const active = section === "tun" ? (v as { enable?: boolean })?.enable : v;
      if (active && (!Array.isArray(v) || v.length > 0) && !(typeof v === "number" && v === 0)) {
        this.warn(section, `"${section}" is parsed and validated, but not active in this version of ferry`, "config.inactive");
      }
    }
    for (const key of ["interface-name", "routing-mark"] as const) {
      if (raw[key]) this.warn(key, `${key} is not supported by ferry's runtime and is ignored`, "config.interface-unsupported");
    }
    if (raw["allow-lan"] !== true && raw["bind-address"] && raw["bind-address"] !== "*") {
      this.warn("bind-address", "bind-address has no effect while allow-lan is false (listeners bind 127.0.0.1)");
    }
    return {
      raw,
      mode: (raw.mode ?? "rule") as BuiltConfig["mode"],
      logLevel: (raw["log-level"] ?? "info") as BuiltConfig["logLevel"],
      ipv6: raw.ipv6 ?? true,
      proxies,
      groups,
      providers,
      ruleProviders: [...ruleProviders.values()],
      rules,
      subRules,
      listeners,
      hosts,
      dns,
      sniffer,
      env: this.env,
      lanAllowed,
      lanDisallowed,
      skipAuthPrefixes,
      issues: this.issues,
    };
  }

  /**
   * Decode each top-level section on its own, so one bad key does not hide the errors of the
   * others (test-config reports them all) and the valid sections can still be cross-checked.
   */
  private sections(input: Record<string, unknown>): RawConfig {
    const props = ConfigSchema.properties as Record<string, TSchema>;
    const raw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      const schema = props[key];
      if (!schema) {
        const near = suggest(key, Object.keys(props));
        this.warn(key, `unknown key "${key}"`, "config.unknown-key", near && `did you mean "${near}"?`);
        continue;
      }
      const decoded = this.decode(schema, value, key, false);
      if (decoded !== undefined) raw[key] = decoded;
    }
    return raw as RawConfig;
  }

  private proxies(raw: RawConfig, names: Set<string>): ProxySpec[] {
    const entries = (raw.proxies ?? []).map((entry, i) => ({ entry, path: `proxies[${i}]` }));
    const out = this.proxyEntries(entries, names, "error");
    const boundToInterface = out.filter((p) => p.options["interface-name"] !== undefined || p.options["routing-mark"] !== undefined);
    if (boundToInterface.length > 0) {
      const shown = boundToInterface.slice(0, 5).map((p) => p.name);
      this.warn(
        "proxies",
        `interface-name/routing-mark are not supported by ferry's runtime and are ignored (${boundToInterface.length} proxies: ${shown.join(", ")}${boundToInterface.length > 5 ? ", …" : ""})`,
        "proxy.interface-unsupported",
      );
    }
    return out;
  }

  /**
   * Validate proxy entries with their type's schema and checks. Top-level duplicates are errors;
   * inside a provider later duplicates are dropped with a warning (config.md §23 #26).
   */
  proxyEntries(entries: { entry: unknown; path: string }[], names: Set<string>, duplicates: "error" | "warn"): ProxySpec[] {
    const out: ProxySpec[] = [];
    for (const { entry, path } of entries) {
      if (entry === null) continue;
      const common = this.decode(ProxyCommonSchema, pick(entry, ["name", "type"]), path, true, true);
      if (!common) continue;
      const entryReg = this.registry.get("outbound", common.type);
      if (!entryReg) {
        this.error(`${path}.type`, `unsupported proxy type "${common.type}"`, "proxy.unknown-type");
        continue;
      }
      if (names.has(common.name)) {
        if (duplicates === "error") this.error(`${path}.name`, `duplicate proxy name "${common.name}"`, "proxy.duplicate-name");
        else this.warn(`${path}.name`, `duplicate proxy name "${common.name}": dropped`, "proxy.duplicate-name");
        continue;
      }
      names.add(common.name);
      const schema = withCommon(entryReg.definition.options, ProxyCommonSchema);
      const options = this.decode(schema, entry, path, true, true) as Record<string, unknown> | undefined;
      if (!options) continue;
      if (!this.validateProxy(entryReg, { ...options, name: common.name }, path)) continue;
      const version = options["ip-version"];
      if (version !== undefined && ipVersionOf(version) !== version) {
        this.warn(`${path}.ip-version`, `unknown ip-version "${String(version)}": dual is used (as in mihomo)`, "proxy.ip-version");
      }
      out.push({ name: common.name, type: common.type.toLowerCase(), path, options });
    }
    return out;
  }

  /** The plugin's cross-key checks (OutboundDefinition.validate); false when one is an error. */
  private validateProxy(entry: Entry<"outbound">, options: Record<string, unknown> & { name: string }, path: string): boolean {
    let problems: OptionProblem[];
    try {
      problems = entry.definition.validate?.(options) ?? [];
    } catch (err) {
      problems = [{ key: "", message: `plugin "${entry.plugin}" failed to validate: ${err instanceof Error ? err.message : String(err)}` }];
    }
    let ok = true;
    for (const p of problems) {
      const at = p.key ? `${path}.${p.key}` : path;
      if (p.severity === "warning") this.warn(at, p.message, "proxy.warning");
      else {
        this.error(at, p.message, "proxy.invalid");
        ok = false;
      }
    }
    return ok;
  }

  /** `proxy-providers` entries (config.md §9, §23 #25, #26); their content loads at run time. */
  private providers(raw: RawConfig): ProviderSpec[] {
    const out: ProviderSpec[] = [];
    for (const [name, entry] of Object.entries(raw["proxy-providers"] ?? {})) {
      const path = keyPath("proxy-providers", name);
      if (name === "default") {
        this.error(path, `provider name "default" is reserved`, "provider.reserved-name");
        continue;
      }
      const options = this.decode(ProxyProviderSchema, entry, path, true);
      if (!options) continue;
      if (options.type === "http" && !options.url) this.error(`${path}.url`, "an http provider needs a url", "provider.no-url");
      if (options.type === "inline" && !options.payload) this.error(`${path}.payload`, "an inline provider needs a payload", "provider.no-payload");
      for (const key of ["filter", "exclude-filter"] as const) this.regexes(options[key], `${path}.${key}`, true);
      this.overrideChecks(options.override, `${path}.override`);
      const home = this.options.homeDir;
      const file = options.type === "inline" ? "" : providerFile(home ?? "", options.type, options.path, options.url);
      if (home !== undefined && options.type === "http") {
        const why = unsafePath(home, file);
        if (why) this.error(`${path}.path`, why, "provider.unsafe-path");
      }
      if (options.type === "http" && !options.interval) {
        this.warn(`${path}.interval`, "interval is 0: once a local copy exists it is never re-downloaded (only PUT /providers/proxies refreshes it)", "provider.no-interval");
      }
      if (home !== undefined && options.type === "file" && !existsSync(file)) {
        this.warn(`${path}.path`, `file ${file} does not exist: the provider starts empty`, "provider.file-missing");
      }
      if (options.proxy !== undefined && options.type !== "http") this.warn(`${path}.proxy`, "proxy only applies to http providers", "provider.proxy-unused");
      out.push({ name, path, options, file });
    }
    return out;
  }

  /** `override`: the name fields are checked here; any other key is a proxy field the node's schema checks. */
  private overrideChecks(override: Record<string, unknown> | undefined, path: string): void {
    if (!override) return;
    for (const key of ["additional-prefix", "additional-suffix"]) {
      const v = override[key];
      if (v !== undefined && typeof v !== "string") this.error(`${path}.${key}`, "expected a string", "provider.override");
    }
    const renames = override["proxy-name"];
    if (renames === undefined) return;
    if (!Array.isArray(renames)) {
      this.error(`${path}.proxy-name`, "expected a list of {pattern, target}", "provider.override");
      return;
    }
    renames.forEach((r: unknown, i) => {
      const at = `${path}.proxy-name[${i}]`;
      const rec = (r ?? {}) as Record<string, unknown>;
      if (typeof rec.pattern !== "string" || (rec.target !== undefined && typeof rec.target !== "string")) {
        this.error(at, "expected {pattern: regex, target: string}", "provider.override");
        return;
      }
      this.regexes(rec.pattern, `${at}.pattern`, false);
    });
  }

  /** A regex option (backtick-separated when `list`); an invalid one is an error (config.md §23 #22). */
  private regexes(text: string | undefined, path: string, list: boolean): void {
    if (!text) return;
    try {
      if (list) compileFilter(text);
      else compileRegex(text);
    } catch (err) {
      this.error(path, (err as Error).message, "config.invalid-regex");
    }
  }

  private groups(raw: RawConfig, names: Set<string>, proxies: ProxySpec[], providers: ProviderSpec[]): GroupSpec[] {
    const out: GroupSpec[] = [];
    const providerNames = new Set(providers.map((p) => p.name));
    const allProviders = [...providerNames].sort(byteOrder);
    const allProxies = proxies.map((p) => p.name).sort(byteOrder);
    (raw["proxy-groups"] ?? []).forEach((entry, i) => {
      const path = `proxy-groups[${i}]`;
      if (entry === null) return;
      const common = this.decode(GroupCommonSchema, pick(entry, ["name", "type"]), path, true);
      if (!common) return;
      const reg = this.registry.get("group", common.type);
      if (!reg) {
        this.error(`${path}.type`, `unsupported group type "${common.type}"`, "group.unknown-type");
        return;
      }
      if (names.has(common.name)) {
        this.error(`${path}.name`, `duplicate proxy or group name "${common.name}"`, "group.duplicate-name");
        return;
      }
      names.add(common.name);
      const options = this.decode(withCommon(reg.definition.options, GroupCommonSchema), entry, path, true) as
        | Record<string, unknown>
        | undefined;
      if (!options) return;
      const explicit = (options.proxies as string[] | undefined) ?? [];
      const all = options["include-all"] === true;
      const hasSource = explicit.length > 0 || options.use || all || options["include-all-proxies"] || options["include-all-providers"];
      if (!hasSource) this.error(path, `group "${common.name}" has no proxies, use or include-all`, "group.empty");
      if (explicit.length > 0 && providerNames.has(common.name)) {
        this.error(`${path}.name`, `group "${common.name}" has proxies and so needs its name for its own provider; a proxy-provider already has it`, "group.provider-name");
      }
      const filterText = typeof options.filter === "string" ? options.filter : undefined;
      this.regexes(filterText, `${path}.filter`, true);
      this.regexes(options["exclude-filter"] as string | undefined, `${path}.exclude-filter`, true);
      let filters: RegExp[] | undefined;
      try {
        filters = compileFilter(filterText);
      } catch {
        filters = undefined;
      }
      const members = [...explicit];
      if (all || options["include-all-proxies"] === true) {
        const taken = new Set(explicit);
        for (const name of applyFilter(allProxies, (n) => n, filters)) if (!taken.has(name)) members.push(name);
      }
      let use = ((options.use as string[] | undefined) ?? []).filter((u, j) => {
        if (providerNames.has(u)) return true;
        this.error(`${path}.use[${j}]`, `proxy-provider "${u}" not found`, "group.provider-not-found");
        return false;
      });
      if (all || options["include-all-providers"] === true) use = allProviders;
      if (filterText && use.length === 0 && !all && options["include-all-proxies"] !== true) {
        this.warn(`${path}.filter`, "filter applies only to provider nodes and include-all-proxies: it has no effect here", "group.filter-unused");
      }
      out.push({ name: common.name, type: common.type.toLowerCase(), path, options, members, use });
    });
    return out;
  }

  /** Members must exist; groups of groups must not loop (config.md §23 #20, #21). */
  private checkGroupMembers(groups: GroupSpec[], known: Set<string>): void {
    for (const g of groups) {
      g.members.forEach((m, j) => {
        if (!known.has(m)) this.error(`${g.path}.proxies[${j}]`, `proxy "${m}" not found`, "group.member-not-found");
      });
    }
    const byName = new Map(groups.map((g) => [g.name, g]));
    const state = new Map<string, "visiting" | "done">();
    const visit = (g: GroupSpec, stack: string[]): void => {
      if (state.get(g.name) === "done") return;
      if (state.get(g.name) === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(g.name)), g.name];
        this.error(g.path, `proxy groups form a cycle: ${cycle.join(" -> ")}`, "group.cycle");
        return;
      }
      state.set(g.name, "visiting");
      for (const m of g.members) {
        const child = byName.get(m);
        if (child) visit(child, [...stack, g.name]);
      }
      state.set(g.name, "done");
    };
    for (const g of groups) visit(g, []);
  }

  /** mihomo resolves `dialer-proxy` only when dialling; we warn at load (config.md §23 #17). */
  private checkDialerProxies(proxies: ProxySpec[], known: Set<string>): void {
    const via = new Map(proxies.map((p) => [p.name, p.options["dialer-proxy"] as string | undefined]));
    for (const p of proxies) {
      const first = via.get(p.name);
      if (!first) continue;
      if (!known.has(first)) {
        this.warn(`${p.path}.dialer-proxy`, `dialer-proxy "${first}" does not exist: dials through this proxy will fail`, "proxy.dialer-proxy-missing");
        continue;
      }
      const chain = [p.name];
      for (let next: string | undefined = first; next; next = via.get(next)) {
        if (chain.includes(next)) {
          this.warn(`${p.path}.dialer-proxy`, `dialer-proxy chain loops: ${[...chain, next].join(" -> ")}`, "proxy.dialer-proxy-loop");
          break;
        }
        chain.push(next);
      }
    }
  }

  private rules(lines: string[], base: string, targets: Set<string>, subRules: Map<string, ParsedRule[]>, out: ParsedRule[] = []): ParsedRule[] {
    let matchAt = -1;
    lines.forEach((line, i) => {
      const path = `${base}[${i}]`;
      try {
        const parsed = parseRuleLine(line, this.registry, (message) => this.warn(path, message, "rule.warning"), this.env, subRules);
        // A SUB-RULE's target is a sub-rules list, which the parser checked.
        if (!parsed.sub && !targets.has(parsed.target)) {
          this.error(path, `proxy "${parsed.target}" not found`, "rule.target-not-found");
          return;
        }
        if (matchAt >= 0 && matchAt === out.length - 1 && out[matchAt]?.rule.type === "Match") {
          this.warn(path, "rule after MATCH is never reached", "rule.unreachable");
        }
        if (parsed.rule.type === "Match") matchAt = out.length;
        out.push(parsed);
      } catch (err) {
        this.error(path, err instanceof Error ? err.message : String(err), "rule.invalid");
      }
    });
    if (base === "rules" && lines.length > 0 && matchAt < 0) {
      this.warn(base, "no MATCH rule: connections no rule matches go DIRECT", "rule.no-match");
    }
    return out;
  }

  /** A SUB-RULE must not lead back to a list being evaluated (config.md §12): an error naming the chain. */
  private checkSubRuleCycles(subRules: Map<string, ParsedRule[]>): void {
    const state = new Map<string, "visiting" | "done">();
    const visit = (name: string, stack: string[]): void => {
      if (state.get(name) === "done") return;
      state.set(name, "visiting");
      const path = [...stack, name];
      for (const p of subRules.get(name) ?? []) {
        if (!p.sub) continue;
        if (state.get(p.target) === "visiting") {
          const chain = [...path.slice(path.indexOf(p.target)), p.target];
          this.error(keyPath("sub-rules", name), `sub-rules form a cycle: ${chain.join(" -> ")} (at "${p.line}")`, "rule.sub-rule-cycle");
        } else {
          visit(p.target, path);
        }
      }
      state.set(name, "done");
    };
    for (const name of subRules.keys()) visit(name, []);
  }

  private cidrs(list: string[], path: string): string[] {
    list.forEach((c, i) => {
      try {
        ipaddr.parseCIDR(c);
      } catch {
        this.error(`${path}[${i}]`, `"${c}" is not a CIDR`);
      }
    });
    return list;
  }

  private listeners(raw: RawConfig, outbounds: Set<string>, subRules: Map<string, ParsedRule[]>): ListenerSpec[] {
    const out: ListenerSpec[] = [];
    const allowLan = raw["allow-lan"] === true;
    const bind = raw["bind-address"] ?? "*";
    if (allowLan && bind !== "*" && !ipaddr.isValid(bind.replace(/^\[|\]$/g, ""))) {
      this.error("bind-address", `"${bind}" is not an IP address or "*"`);
    }
    const listen = allowLan ? (bind === "*" ? "0.0.0.0" : bind.replace(/^\[|\]$/g, "")) : "127.0.0.1";
    const globalUsers = this.authentication(raw.authentication ?? []);
    const defaults: [keyof RawConfig, string, string][] = [
      ["port", "http", "DEFAULT-HTTP"],
      ["socks-port", "socks", "DEFAULT-SOCKS"],
      ["mixed-port", "mixed", "DEFAULT-MIXED"],
    ];
    for (const [key, type, name] of defaults) {
      const port = raw[key] as number | undefined;
      if (!port) continue;
      out.push({ name, type, path: key, listen, port, users: globalUsers, lanRules: true, proxy: "", rule: "", options: {} });
    }
    (raw.listeners ?? []).forEach((entry, i) => {
      const path = `listeners[${i}]`;
      if (entry === null) return;
      const common = this.decode(ListenerCommonSchema, pick(entry, ["name", "type", "port"]), path, true, true);
      if (!common) return;
      const reg = this.registry.get("inbound", common.type);
      if (!reg) {
        this.error(`${path}.type`, `unsupported listener type "${common.type}"`, "listener.unknown-type");
        return;
      }
      if (out.some((l) => l.name === common.name && !l.path.startsWith("port") && l.path.startsWith("listeners"))) {
        this.error(`${path}.name`, `duplicate listener name "${common.name}"`, "listener.duplicate-name");
        return;
      }
      const options = this.decode(withCommon(reg.definition.options, ListenerCommonSchema), entry, path, true, true) as
        | (Static<typeof ListenerCommonSchema> & Record<string, unknown>)
        | undefined;
      if (!options) return;
      const address = options.listen ?? "0.0.0.0";
      if (!ipaddr.isValid(address)) this.error(`${path}.listen`, `"${address}" is not an IP literal`);
      if (options.proxy && !outbounds.has(options.proxy)) {
        this.error(`${path}.proxy`, `proxy "${options.proxy}" not found`, "listener.proxy-not-found");
      }
      if (options.rule && !subRules.has(options.rule)) {
        this.warn(`${path}.rule`, `sub-rule "${options.rule}" not found: rules are used instead`);
      }
      let ports: number[] = [];
      try {
        ports = expandPorts(options.port);
      } catch (err) {
        this.error(`${path}.port`, (err as Error).message);
      }
      const users = options.users ? new Map(options.users.map((u) => [u.username, u.password])) : globalUsers;
      for (const port of ports) {
        out.push({
          name: common.name,
          type: common.type.toLowerCase(),
          path,
          listen: address,
          port,
          users: users && users.size > 0 ? users : undefined,
          lanRules: !options.users,
          proxy: options.proxy ?? "",
          rule: options.rule ?? "",
          options,
        });
      }
    });
    const seen = new Map<string, string>();
    for (const l of out) {
      if (l.port === 0) continue;
      const key = `${l.listen}:${l.port}`;
      const other = seen.get(key);
      if (other) this.warn(l.path, `port ${l.port} is also used by ${other}`, "listener.port-conflict");
      else seen.set(key, l.path);
    }
    return out;
  }

  private authentication(entries: string[]): Map<string, string> | undefined {
    entries.forEach((e, i) => {
      if (!e.includes(":")) this.warn(`authentication[${i}]`, `"${e}" has no ":" between user and password; ignored`);
    });
    return parseUsers(entries);
  }

  /** `tunnels` entries become `tunnel` listeners (config.md §14). */
  private tunnels(raw: RawConfig, out: ListenerSpec[], outbounds: Set<string>): void {
    if (!this.registry.get("inbound", "tunnel")) return;
    (raw.tunnels ?? []).forEach((entry, i) => {
      const path = `tunnels[${i}]`;
      let network: string[];
      let address: string;
      let target: string;
      let proxy = "";
      if (typeof entry === "string") {
        const parts = entry.split(",").map((s) => s.trim());
        if (parts.length < 3 || parts.length > 4) {
          this.error(path, `expected "network,listen-address,target[,proxy]", got ${parts.length} fields`);
          return;
        }
        network = parts[0]!.split("/");
        address = parts[1]!;
        target = parts[2]!;
        proxy = parts[3] ?? "";
      } else {
        network = Array.isArray(entry.network) ? entry.network.map(String) : [];
        address = String(entry.address ?? "");
        target = String(entry.target ?? "");
        proxy = entry.proxy === undefined ? "" : String(entry.proxy);
      }
      if (network.length === 0 || network.some((n) => n !== "tcp" && n !== "udp")) {
        this.error(path, `network must be tcp, udp or tcp/udp, got "${network.join("/")}"`);
        return;
      }
      const listen = splitHostPort(address);
      const problem = !listen
        ? `listen address "${address}" must be host:port`
        : !splitHostPort(target)
          ? `target "${target}" must be host:port`
          : proxy && !outbounds.has(proxy)
            ? `proxy "${proxy}" not found`
            : undefined;
      if (problem || !listen) {
        this.error(path, problem ?? "invalid tunnel");
        return;
      }
      out.push({
        name: `tunnel-${i}`,
        type: "tunnel",
        path,
        listen: listen.host,
        port: listen.port,
        users: undefined,
        lanRules: false,
        proxy,
        rule: "",
        options: { network, target },
      });
    });
  }
}

/**
 * Validate provider content exactly as top-level `proxies` entries are: the valid entries, and the
 * issues (an error there means that entry was left out).
 */
export function buildProxyEntries(entries: { entry: unknown; path: string }[], registry: Registry): { proxies: ProxySpec[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const proxies = new Builder(registry, new Map(), issues).proxyEntries(entries, new Set(), "warn");
  return { proxies, issues };
}

/** Go's string order (bytes), which `include-all*` sorts by. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * `authentication` entries `user:pass`, split at the first colon (the password may contain more);
 * entries without one are dropped, as mihomo does. Undefined when nobody is left.
 */
export function parseUsers(entries: string[]): Map<string, string> | undefined {
  const users = new Map<string, string>();
  for (const e of entries) {
    const colon = e.indexOf(":");
    if (colon >= 0) users.set(e.slice(0, colon), e.slice(colon + 1));
  }
  return users.size > 0 ? users : undefined;
}

/** Copy only some keys (to decode the type-independent part before the type's schema is known). */
function pick(entry: unknown, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (entry === null || typeof entry !== "object") return out;
  const lower = new Map(Object.keys(entry).map((k) => [k.toLowerCase(), k]));
  for (const k of keys) {
    const actual = lower.get(k);
    if (actual !== undefined) out[actual] = (entry as Record<string, unknown>)[actual];
  }
  return out;
}

/** A plugin's option schema with the shared keys (name, type, …) merged in. */
function withCommon(schema: TSchema, common: TSchema): TSchema {
  const props = { ...(common as { properties?: object }).properties, ...(schema as { properties?: object }).properties };
  const required = [
    ...new Set([...((common as { required?: string[] }).required ?? []), ...((schema as { required?: string[] }).required ?? [])]),
  ];
  return { ...schema, type: "object", properties: props, required } as TSchema;
}

/** Listener `port`: `10808`, `200,302`, `401-429` (config.md §13.1). */
export function expandPorts(port: number | string): number[] {
  if (typeof port === "number") return [port];
  const out: number[] = [];
  for (const item of port.split(",")) {
    const [a, b] = item.trim().split("-").map((s) => Number(s.trim()));
    if (a === undefined || !Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) {
      throw new UserError(`invalid port range "${port}"`);
    }
    for (let p = a; p <= (b ?? a); p++) {
      if (p < 0 || p > 65535) throw new UserError(`port ${p} out of range in "${port}"`);
      out.push(p);
    }
  }
  return out;
}

function splitHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1] || "0.0.0.0", port } : undefined;
}
