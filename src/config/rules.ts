import { Value } from "@sinclair/typebox/value";
import type { Entry, Registry } from "../core/registry.ts";
import { type Rule, type RuleEnv, type RuleParseContext, UserError } from "../sdk/types.ts";

/** One line of `rules` (or a `sub-rules` list), parsed; the target is checked by the caller. */
export interface ParsedRule {
  rule: Rule;
  target: string;
  /** The line as written, for messages and the controller. */
  line: string;
  params: readonly string[];
  /** Name of the plugin that registered the rule type. */
  plugin: string;
  /**
   * SUB-RULE lines: the `sub-rules` list their target names, evaluated by the router when the
   * condition (`rule`) matches (config.md §12).
   */
  sub?: readonly ParsedRule[];
}

/** Types whose payload may contain commas: the last field is the target (config.md §11.1). */
const PAYLOAD_TAKES_REST = new Set(["AND", "OR", "NOT", "SUB-RULE", "DOMAIN-REGEX", "PROCESS-NAME-REGEX", "PROCESS-PATH-REGEX"]);

const KNOWN_PARAMS = new Set(["no-resolve", "src"]);

/** For callers that load no providers or geodata (unit tests, plugin checks): both are refused. */
export const NO_RULE_ENV: RuleEnv = {
  ruleSet: () => undefined,
  geo: {
    countries: () => [],
    asn: () => undefined,
    geoip(code) {
      throw new UserError(`geoip "${code}": no geodata is loaded here`);
    },
    ipAsn(asn) {
      throw new UserError(`ASN "${asn}": no geodata is loaded here`);
    },
    site(code) {
      throw new UserError(`geosite "${code}": no geodata is loaded here`);
    },
  },
};

const NO_SUB_RULES: ReadonlyMap<string, readonly ParsedRule[]> = new Map();

/** Shared by the many rules without params. */
const NO_PARAMS: readonly string[] = Object.freeze([]);

/** Rule types other cores have that mihomo refuses as well. */
const FOREIGN_TYPES: Record<string, string> = {
  IPSET: "Clash's IPSET",
  SCRIPT: "Clash Premium's SCRIPT",
  "USER-AGENT": "Surge's USER-AGENT",
  "URL-REGEX": "Surge's URL-REGEX",
};

/** Rule types that may not appear inside AND/OR/NOT (config.md §11.4). */
const NOT_IN_LOGIC = new Set(["MATCH", "FINAL", "SUB-RULE"]);

function takesRest(type: string, entry: Entry<"rule">): boolean {
  return PAYLOAD_TAKES_REST.has(type) || entry.definition.payloadTakesRest === true;
}

function unknownType(type: string, registry: Registry): UserError {
  const foreign = FOREIGN_TYPES[type];
  if (foreign) return new UserError(`unsupported rule type "${type}": ${foreign} rule is not supported by mihomo either`);
  return new UserError(`unsupported rule type "${type}" (known: ${registry.types("rule").join(", ")})`);
}

function checkParams(params: readonly string[], warn: (message: string) => void): void {
  for (const p of params) {
    if (!KNOWN_PARAMS.has(p)) warn(`unknown rule param "${p}" is ignored (known: no-resolve, src)`);
  }
}

/** Run the plugin's parser with a context whose nested rules use the logic-rule syntax. */
function build(
  entry: Entry<"rule">,
  payload: string,
  params: readonly string[],
  registry: Registry,
  warn: (message: string) => void,
  env: RuleEnv,
): Rule {
  const { definition } = entry;
  if (definition.payload && !Value.Check(definition.payload, payload)) {
    const first = Value.Errors(definition.payload, payload).First();
    throw new UserError(`invalid payload "${payload}"${first ? `: ${first.message}` : ""}`);
  }
  const ctx: RuleParseContext = {
    parseRule: (text) => parseInnerRule(text, registry, warn, env),
    warn,
    ruleSet: (name) => env.ruleSet(name),
    geo: env.geo,
  };
  try {
    // A copy: the plugin may keep or change its array; ParsedRule keeps the shared one.
    return definition.parse(payload, [...params], ctx);
  } catch (err) {
    if (err instanceof UserError) throw err;
    // A plugin bug is still reported as a config problem naming the plugin, never as a crash.
    throw new UserError(`rule plugin "${entry.plugin}" failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Parse `TYPE,PAYLOAD,TARGET[,params…]` with mihomo's quirks (config.md §11.1): fields split on `,`
 * and trimmed, TYPE upper-cased; for comma-payload types the last field is the target; MATCH has no
 * payload; params from the 4th field. A SUB-RULE's target names one of `subRules` (the lists may
 * still be filling: the line keeps a reference). Throws a UserError naming the line and the problem.
 */
export function parseRuleLine(
  line: string,
  registry: Registry,
  warn: (message: string) => void,
  env: RuleEnv = NO_RULE_ENV,
  subRules: ReadonlyMap<string, readonly ParsedRule[]> = NO_SUB_RULES,
): ParsedRule {
  const fail = (err: unknown): never => {
    throw new UserError(`"${line}": ${err instanceof Error ? err.message : String(err)}`);
  };
  const lineWarn = (message: string) => warn(`"${line}": ${message}`);
  const fields = line.split(",").map((f) => f.trim());
  if (fields.length < 2) fail("format error: expected TYPE,PAYLOAD,TARGET");
  const type = fields[0]!.toUpperCase();
  const entry = registry.get("rule", type);
  if (!entry) return fail(unknownType(type, registry));

  let payload = "";
  let target: string;
  let params = NO_PARAMS;
  if (entry.definition.noPayload) {
    target = fields[1]!;
    if (fields.length > 2) lineWarn(`extra fields after the target are ignored: ${fields.slice(2).join(",")}`);
  } else {
    // mihomo would take the payload as the target here and report "proxy not found"; say what is missing.
    if (fields.length < 3) fail(`missing target (expected ${type},PAYLOAD,TARGET)`);
    if (takesRest(type, entry)) {
      target = fields[fields.length - 1]!;
      payload = fields.slice(1, -1).join(",");
    } else {
      payload = fields[1]!;
      target = fields[2]!;
      if (fields.length > 3) {
        params = fields.slice(3);
        checkParams(params, lineWarn);
      }
    }
  }
  const sub = type === "SUB-RULE" ? subRules.get(target) : undefined;
  if (type === "SUB-RULE" && !sub) fail(`sub-rule "${target}" not found`);
  try {
    const rule = build(entry, payload, params, registry, lineWarn, env);
    return { rule, target, line, params, plugin: entry.plugin, sub };
  } catch (err) {
    return fail(err);
  }
}

/**
 * Parse one sub-rule of AND/OR/NOT: `TYPE,payload[,params…]` (config.md §11.4). As in mihomo the
 * TYPE is neither trimmed nor upper-cased, and the payload and params are not trimmed; for
 * comma-payload types (nested logic, regexes) the whole rest is the payload.
 */
export function parseInnerRule(text: string, registry: Registry, warn: (message: string) => void, env: RuleEnv = NO_RULE_ENV): Rule {
  const fail = (message: string): never => {
    throw new UserError(`sub-rule "${text}": ${message}`);
  };
  const comma = text.indexOf(",");
  if (comma < 0) fail("format error: expected (TYPE,payload)");
  const type = text.slice(0, comma);
  const rest = text.slice(comma + 1);
  if (NOT_IN_LOGIC.has(type.trim().toUpperCase())) fail(`${type.trim()} is not allowed inside a logic rule`);
  const entry = registry.get("rule", type);
  if (!entry || entry.type !== type) {
    const fixed = type.trim().toUpperCase();
    if (registry.get("rule", fixed)) {
      fail(`rule type must be written exactly "${fixed}" inside parentheses (mihomo neither trims nor upper-cases it)`);
    }
    return fail(unknownType(type, registry).message);
  }
  if (entry.definition.noPayload) fail(`${type} is not allowed inside a logic rule`);

  let payload: string;
  let params = NO_PARAMS;
  if (takesRest(type, entry)) {
    payload = rest;
  } else {
    const parts = rest.split(",");
    payload = parts[0]!;
    params = parts.slice(1);
  }
  const innerWarn = (message: string) => warn(`sub-rule "${text}": ${message}`);
  if (payload !== payload.trim()) {
    innerWarn(`payload "${payload}" has surrounding whitespace, which mihomo keeps inside parentheses (it will not match as intended)`);
  }
  checkParams(params, innerWarn);
  try {
    return build(entry, payload, params, registry, innerWarn, env);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}
