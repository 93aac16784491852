import { parseInnerRule } from "../config/rules.ts";
import type { Registry } from "../core/registry.ts";
import { type CidrSet, CidrSetBuilder } from "../match/cidr-set.ts";
import { type DomainSet, DomainSetBuilder } from "../match/domain-set.ts";
import { parsePrefix } from "../sdk/ip.ts";
import { createMetadata, type Metadata } from "../sdk/metadata.ts";
import { type Rule, type RuleEnv, type RuleSetRef, UserError } from "../sdk/types.ts";
import { readMrs } from "./rule-formats/mrs.ts";
import { textEntries } from "./rule-formats/text.ts";
import { yamlEntries } from "./rule-formats/yaml.ts";

export type RuleBehavior = "domain" | "ipcidr" | "classical";
export type RuleFormat = "yaml" | "text" | "mrs";

/** One classical entry (`DOMAIN-SUFFIX,x.com`, `IP-CIDR,1.0.0.0/8,no-resolve`) as a rule; throws a UserError. */
export type ClassicalParser = (entry: string, warn: (message: string) => void) => Rule;

/** What one load produced; immutable, so an update swaps it whole and a match never sees half of one. */
interface Content {
  /** Entries loaded (mrs: the count its header states). */
  readonly count: number;
  readonly needsIp: boolean;
  readonly needsProcess: boolean;
  match(m: Metadata, source: boolean): boolean;
  matchDomain(host: string): boolean;
}

const EMPTY: Content = { count: 0, needsIp: false, needsProcess: false, match: () => false, matchDomain: () => false };

/** Domain rules look at the sniffed host when there is one (mihomo's RuleHost). */
function ruleHost(m: Metadata): string {
  return m.sniffHost || m.host;
}

/**
 * A `rule-providers` entry as rules see it (RuleSetRef): created with the config, empty until
 * content is loaded into it, which then replaces the previous content atomically.
 */
export class RuleSet implements RuleSetRef {
  private content = EMPTY;
  /** Hash of the body in force ("" for none or inline), so the same body is not parsed twice. */
  hash = "";

  constructor(
    readonly name: string,
    readonly behavior: RuleBehavior,
    readonly format: RuleFormat,
    private readonly parseClassical: ClassicalParser,
  ) {}

  /** Entries in force. */
  get count(): number {
    return this.content.count;
  }

  /** From the content, as mihomo: ipcidr with entries, classical holding a rule that needs an IP. */
  get needsIp(): boolean {
    return this.content.needsIp;
  }

  /** Classical holding a rule that needs the connection's process. */
  get needsProcess(): boolean {
    return this.content.needsProcess;
  }

  match(m: Metadata, source = false): boolean {
    return this.content.match(m, source);
  }

  matchDomain(host: string): boolean {
    return this.content.matchDomain(host);
  }

  /**
   * Parse a body in the set's format and put it in force. Returns one line per entry skipped;
   * throws a UserError when the body as a whole is unusable (the content in force stays).
   */
  load(body: Uint8Array, hash: string): string[] {
    const warnings: string[] = [];
    if (this.format === "mrs") {
      this.content = this.fromMrs(body, warnings);
    } else {
      const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
      this.content = this.fromEntries(this.format === "yaml" ? yamlEntries(text) : textEntries(text), warnings);
    }
    this.hash = hash;
    return warnings;
  }

  /** An inline `payload` (taken as written, as mihomo does). */
  loadEntries(entries: string[]): string[] {
    const warnings: string[] = [];
    this.content = this.fromEntries(
      entries.filter((e) => e !== ""),
      warnings,
    );
    this.hash = "";
    return warnings;
  }

  private fromEntries(entries: string[], warnings: string[]): Content {
    const skip = (entry: string, err: unknown) => warnings.push(`entry "${entry}": ${err instanceof Error ? err.message : String(err)}; skipped`);
    if (this.behavior === "domain") {
      const b = new DomainSetBuilder();
      let count = 0;
      for (const e of entries) {
        try {
          // mihomo refuses `/` before the pattern check (a URL pasted into a domain list).
          if (e.includes("/")) throw new UserError("a domain entry cannot contain /");
          b.addPattern(e);
          count++;
        } catch (err) {
          skip(e, err);
        }
      }
      return domainContent(b.build(), count);
    }
    if (this.behavior === "ipcidr") {
      const b = new CidrSetBuilder();
      let count = 0;
      for (const e of entries) {
        try {
          b.add(parsePrefix(e));
          count++;
        } catch (err) {
          skip(e, err);
        }
      }
      return cidrContent(b.build(), count);
    }
    const rules: Rule[] = [];
    for (const e of entries) {
      try {
        rules.push(this.parseClassical(e, (message) => warnings.push(`entry "${e}": ${message}`)));
      } catch (err) {
        skip(e, err);
      }
    }
    return new ClassicalContent(rules);
  }

  private fromMrs(body: Uint8Array, warnings: string[]): Content {
    if (this.behavior === "classical") throw new UserError("format mrs cannot hold classical rules");
    const domains = new DomainSetBuilder();
    const cidrs = new CidrSetBuilder();
    const count = readMrs(body, this.behavior, {
      domain(pattern) {
        try {
          domains.addPattern(pattern);
        } catch (err) {
          warnings.push(`entry "${pattern}": ${err instanceof Error ? err.message : String(err)}; skipped`);
        }
      },
      range: (family, first, last) => cidrs.addRange(family, first, last),
    });
    return this.behavior === "domain" ? domainContent(domains.build(), count) : cidrContent(cidrs.build(), count);
  }
}

function domainContent(set: DomainSet, count: number): Content {
  return {
    count,
    needsIp: false,
    needsProcess: false,
    match: (m) => {
      const host = ruleHost(m);
      return host !== "" && set.has(host);
    },
    matchDomain: (host) => set.has(host),
  };
}

/** `src` matches the source address; an empty set never asks for a lookup (mihomo). */
function cidrContent(set: CidrSet, count: number): Content {
  return {
    count,
    needsIp: count > 0,
    needsProcess: false,
    match: (m, source) => set.has(source ? m.sourceIP : m.destinationIP),
    matchDomain: () => false,
  };
}

/**
 * Classical rules: the set matches when any rule does, so order does not matter and the rules with
 * index hints (DOMAIN, DOMAIN-SUFFIX, IP-CIDR: the bulk of big lists) go into a domain set and a
 * CIDR set; the rest are tried one by one.
 */
class ClassicalContent implements Content {
  readonly count: number;
  readonly needsIp: boolean;
  readonly needsProcess: boolean;
  private readonly domains: DomainSet;
  private readonly cidrs: CidrSet;
  private readonly others: Rule[];
  /** Set while matching: a set reached again through its own RULE-SET lines does not match (mihomo would recurse forever). */
  private busy = false;

  constructor(rules: Rule[]) {
    this.count = rules.length;
    this.needsIp = rules.some((r) => r.needsIp);
    this.needsProcess = rules.some((r) => r.needsProcess === true);
    const domains = new DomainSetBuilder();
    const cidrs = new CidrSetBuilder();
    this.others = [];
    for (const r of rules) {
      const hint = r.index;
      if (hint?.kind === "domain") domains.addFull(hint.value);
      else if (hint?.kind === "domain-suffix") domains.addSuffix(hint.value);
      else if (hint?.kind === "ip-cidr") cidrs.add(parsePrefix(hint.value));
      else this.others.push(r);
    }
    this.domains = domains.build();
    this.cidrs = cidrs.build();
  }

  match(m: Metadata, source: boolean): boolean {
    if (this.busy) return false;
    this.busy = true;
    if (source) swapEnds(m);
    try {
      const host = ruleHost(m);
      if (host !== "" && this.domains.has(host)) return true;
      if (this.cidrs.size > 0 && this.cidrs.has(m.destinationIP)) return true;
      for (const r of this.others) if (r.match(m)) return true;
      return false;
    } finally {
      if (source) swapEnds(m);
      this.busy = false;
    }
  }

  /** mihomo matches the whole list against a connection that has only this host. */
  matchDomain(host: string): boolean {
    probe.host = host;
    return this.match(probe, false);
  }
}

/** The connection `matchDomain` tests: nothing but a host (matching is synchronous, so one serves all). */
const probe = createMetadata({ network: "tcp", type: "Inner" });

/** `RULE-SET,…,src`: the whole set sees the source as the destination and the other way round (mihomo). */
function swapEnds(m: Metadata): void {
  const ip = m.sourceIP;
  m.sourceIP = m.destinationIP;
  m.destinationIP = ip;
  const port = m.sourcePort;
  m.sourcePort = m.destinationPort;
  m.destinationPort = port;
}

/** Rule types whose payload runs to the end of the entry, commas included (config.md §11.1). */
const WHOLE_PAYLOAD = new Set(["AND", "OR", "NOT", "DOMAIN-REGEX", "PROCESS-NAME-REGEX", "PROCESS-PATH-REGEX"]);

/**
 * Classical entries as mihomo reads them (config.md §10): `TYPE,payload[,params]`, the type neither
 * trimmed nor upper-cased, parsed like a logic rule's sub-rule; MATCH and SUB-RULE are refused.
 * Ours: spaces around the fields are trimmed with a warning, where mihomo keeps them and the rule
 * never matches.
 */
export function classicalParser(registry: Registry, env: RuleEnv): ClassicalParser {
  return (entry, warn) => {
    const comma = entry.indexOf(",");
    const type = (comma < 0 ? entry : entry.slice(0, comma)).trim();
    if (type === "MATCH" || type === "SUB-RULE") throw new UserError(`${type} cannot be used inside a rule-set`);
    const wholePayload = WHOLE_PAYLOAD.has(type) || registry.get("rule", type)?.definition.payloadTakesRest === true;
    const fields = wholePayload && comma >= 0 ? [type, entry.slice(comma + 1).trim()] : entry.split(",").map((f) => f.trim());
    const text = fields.join(",");
    if (text !== entry) warn("spaces around its fields were trimmed (mihomo keeps them, and the rule would never match)");
    // parseInnerRule names the sub-rule in its messages; here the entry is named by the caller.
    const prefix = `sub-rule "${text}": `;
    const strip = (message: string) => (message.startsWith(prefix) ? message.slice(prefix.length) : message);
    try {
      return parseInnerRule(text, registry, (message) => warn(strip(message)), env);
    } catch (err) {
      throw new UserError(strip(err instanceof Error ? err.message : String(err)));
    }
  };
}
