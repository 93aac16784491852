import type { ParsedRule } from "../config/rules.ts";
import { type FindProcessMode, lookupOwner } from "../process/lookup.ts";
import { parseIp, parsePrefix } from "../sdk/ip.ts";
import type { Metadata } from "../sdk/metadata.ts";
import type { Logger } from "../sdk/types.ts";
import { DomainIndex } from "./domain-index.ts";
import { IpRangeTable, type PrefixEntry } from "./ip-ranges.ts";

export interface RouteResult {
  /** The rule that matched; undefined when none did. */
  readonly rule: ParsedRule | undefined;
  /** The rule's target, or "DIRECT" when nothing matched. */
  readonly target: string;
}

export interface RouterOptions {
  /** Resolve a host to one address (the core's main resolver). Failure is not fatal. */
  resolve(host: string): Promise<string>;
  log: Logger;
  /** `find-process-mode`, read per connection so a change applies at once; default `strict`. */
  processMode?: () => FindProcessMode;
  /** Fill the connection's process, path and uid, resolving to whether an owner was found; default the /proc lookup. */
  lookupProcess?: (metadata: Metadata) => Promise<boolean> | undefined;
}

/**
 * A run of rules compiled for lookup: indexable rules in hash maps and range tables, the others
 * kept in order for a short scan. The rule list is cut where a lazy lookup happens (config.md
 * §11.2): at the first rule that needs the destination IP (IP rules before it only see an IP the
 * connection came with, those from it on also see the resolved one) and at the first that needs
 * the connection's process (`find-process-mode: strict`).
 */
interface Segment {
  /** End (exclusive) of the segment's rule range. */
  hi: number;
  /** A DNS lookup happens before the segment's rules (for a host without an address). */
  resolve: boolean;
  /** The strict-mode process lookup happens before the segment's rules. */
  process: boolean;
  domains: DomainIndex;
  ips: IpRangeTable;
  /** Indices of rules without a usable index hint, ascending. */
  scan: Int32Array;
}

const NO_MATCH: RouteResult = Object.freeze({ rule: undefined, target: "DIRECT" });
const ACCEPT_ANY = (_target: string) => true;
const STRICT = (): FindProcessMode => "strict";

/**
 * Whether a rule needs the IP or the process; a SUB-RULE also needs what any rule of its list
 * needs, so the lookup happens before the line as a whole (mihomo). Lists are acyclic (the config
 * builder refuses cycles).
 */
function needs(p: ParsedRule, flag: "needsIp" | "needsProcess"): boolean {
  return p.rule[flag] === true || (p.sub?.some((q) => needs(q, flag)) ?? false);
}

function firstNeeding(rules: readonly ParsedRule[], flag: "needsIp" | "needsProcess"): number {
  return rules.findIndex((r) => needs(r, flag));
}

/** Domain rules see the sniffed host when there is one (mihomo's RuleHost). */
function ruleHost(m: Metadata): string {
  return m.sniffHost || m.host;
}

/**
 * The rule list compiled once into per-segment indexes that record, per key, the first rule using
 * it: a match costs O(labels of the host) + one binary search + the non-indexable rules before the
 * first indexed hit, not O(rules), and gives the same answer as walking the list top to bottom.
 */
export class Router {
  private readonly rules: readonly ParsedRule[];
  /** One frozen result per rule, made on its first match, so a match allocates nothing after that. */
  private readonly results: (RouteResult | undefined)[];
  /** In rule order; a lazy lookup happens only on entering a segment (see Segment). */
  private readonly segments: Segment[];
  /** The compiled lists of SUB-RULE lines by rule index; undefined when there are none. */
  private readonly subs: (Router | undefined)[] | undefined;
  /** Per SUB-RULE index, one frozen result per target its list chose. */
  private readonly subResults: (Map<string, RouteResult> | undefined)[] = [];
  /** Rules whose match() threw; each is logged once. */
  private readonly failed: Uint8Array;
  private readonly ipWords = new Uint32Array(4);
  private readonly resolve: (host: string) => Promise<string>;
  private readonly processMode: () => FindProcessMode;
  private readonly lookupProcess: (metadata: Metadata) => Promise<boolean> | undefined;
  private readonly log: Logger;

  /** `compiled` shares one Router per `sub-rules` list among the SUB-RULE lines naming it. */
  constructor(rules: readonly ParsedRule[], options: RouterOptions, compiled = new Map<readonly ParsedRule[], Router>()) {
    this.rules = rules;
    this.resolve = options.resolve;
    this.processMode = options.processMode ?? STRICT;
    this.lookupProcess = options.lookupProcess ?? lookupOwner;
    this.log = options.log;
    this.results = new Array(rules.length);
    this.failed = new Uint8Array(rules.length);
    compiled.set(rules, this);
    this.subs = rules.some((r) => r.sub !== undefined)
      ? rules.map((r) => r.sub && (compiled.get(r.sub) ?? new Router(r.sub, options, compiled)))
      : undefined;
    const resolveAt = firstNeeding(rules, "needsIp");
    const processAt = firstNeeding(rules, "needsProcess");
    const cuts = [...new Set([0, resolveAt, processAt].filter((c) => c >= 0))].sort((a, b) => a - b);
    this.segments = cuts.map((lo, k) => this.compile(lo, cuts[k + 1] ?? rules.length, lo === resolveAt, lo === processAt));
  }

  private compile(lo: number, hi: number, resolve: boolean, process: boolean): Segment {
    const domains = new DomainIndex();
    const prefixes: PrefixEntry[] = [];
    const scan: number[] = [];
    for (let i = lo; i < hi; i++) {
      const { rule, plugin } = this.rules[i]!;
      const hint = rule.index;
      if (hint?.kind === "domain") domains.addExact(hint.value, i);
      else if (hint?.kind === "domain-suffix") domains.addSuffix(hint.value, i);
      else if (hint?.kind === "ip-cidr") {
        try {
          prefixes.push({ prefix: parsePrefix(hint.value), rule: i });
        } catch (err) {
          // A plugin's bad hint costs speed, not correctness: its match() still decides.
          this.log.warn(`rule ${rule.type} (plugin ${plugin}): unusable ip-cidr index "${hint.value}": ${(err as Error).message}`);
          scan.push(i);
        }
      } else scan.push(i);
    }
    return { hi, resolve, process, domains, ips: new IpRangeTable(prefixes), scan: Int32Array.from(scan) };
  }

  /**
   * First rule, top to bottom, that matches and whose target `accept` takes (it refuses PASS,
   * UDP-incapable and missing targets, and matching goes on with the next rule). Synchronous unless
   * a DNS or process lookup is needed; the resolved address is stored in `metadata.destinationIP`,
   * the process in `metadata.process`, `processPath` and `uid`.
   */
  match(metadata: Metadata, accept: (target: string) => boolean): RouteResult | Promise<RouteResult> {
    const mode = this.processMode();
    const segments = this.segments;
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      const process = mode === "always" ? s === 0 : mode === "strict" && seg.process;
      if (process || (seg.resolve && metadata.host !== "" && metadata.destinationIP === "")) {
        const pending = this.enter(seg, metadata, process);
        if (pending) return this.evaluateAfter(pending, s, metadata, accept, mode);
      }
      const r = this.evaluate(seg, metadata, accept);
      if (r !== undefined) return r;
    }
    return NO_MATCH;
  }

  /** Segment `s` once its lookups are done, then the next ones, each after its own. */
  private async evaluateAfter(
    pending: Promise<unknown>,
    s: number,
    m: Metadata,
    accept: (target: string) => boolean,
    mode: FindProcessMode,
  ): Promise<RouteResult> {
    await pending;
    for (;;) {
      const r = this.evaluate(this.segments[s]!, m, accept);
      if (r !== undefined) return r;
      if (++s >= this.segments.length) return NO_MATCH;
      const seg = this.segments[s]!;
      const next = this.enter(seg, m, mode === "strict" && seg.process);
      if (next) await next;
    }
  }

  /** The lookups due on entering `seg` (DNS for a host without an address; the process when asked); undefined when none is. */
  private enter(seg: Segment, m: Metadata, process: boolean): Promise<unknown> | undefined {
    const dns = seg.resolve && m.host !== "" && m.destinationIP === "" ? this.resolveInto(m) : undefined;
    const owner = process ? this.findProcess(m) : undefined;
    return dns && owner ? Promise.all([dns, owner]) : (dns ?? owner);
  }

  private async resolveInto(m: Metadata): Promise<void> {
    try {
      m.destinationIP = await this.resolve(m.host);
    } catch (err) {
      // Not fatal (mihomo): IP rules simply do not match.
      this.log.debug(`resolve ${m.host} for rules failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Never for the core's own connections (mihomo); undefined when nothing is looked up. */
  private findProcess(m: Metadata): Promise<void> | undefined {
    if (m.type === "Inner") return undefined;
    return this.lookupProcess(m)?.then((found) => {
      if (!found) this.log.debug(`[Process] no owner found for ${m.network} ${m.sourceIP}:${m.sourcePort}`);
    });
  }

  /**
   * A SUB-RULE's list: its first match whatever the target (the outer list judges it), without
   * lookups (the SUB-RULE line made those its list needs).
   */
  private first(m: Metadata): RouteResult | undefined {
    for (let s = 0; s < this.segments.length; s++) {
      const r = this.evaluate(this.segments[s]!, m, ACCEPT_ANY);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * First accepted match within a segment, or undefined. Hot path, measured by
   * scripts/bench-rules.ts (~1.2 µs per evaluation with 100k suffix + 100k CIDR rules on the 2-vCPU
   * VM): it allocates only the parent-domain substrings of the lookup.
   */
  private evaluate(seg: Segment, m: Metadata, accept: (target: string) => boolean): RouteResult | undefined {
    let hit = seg.hi;
    if (seg.domains.size > 0) {
      const host = ruleHost(m);
      if (host !== "") {
        const d = seg.domains.lookup(host);
        if (d >= 0) hit = d;
      }
    }
    if (seg.ips.size > 0 && m.destinationIP !== "") {
      const family = parseIp(m.destinationIP, this.ipWords);
      if (family !== 0) {
        const c = seg.ips.lookup(family, this.ipWords);
        if (c >= 0 && c < hit) hit = c;
      }
    }
    // Non-indexed rules before the first indexed hit are tried in order.
    const scan = seg.scan;
    for (let k = 0; k < scan.length; k++) {
      const i = scan[k]!;
      if (i >= hit) break;
      if (!this.test(i, m)) continue;
      const sub = this.subs?.[i];
      if (sub === undefined) return this.take(i, seg, m, accept);
      // A SUB-RULE matches when its list does; a refused target goes on with this list's next rule (mihomo).
      const r = this.viaSub(i, sub, m);
      if (r !== undefined && accept(r.target)) return r;
    }
    return hit < seg.hi ? this.take(hit, seg, m, accept) : undefined;
  }

  /** Rule `i` matched: its result if accepted, else the next accepted match in the segment. */
  private take(i: number, seg: Segment, m: Metadata, accept: (target: string) => boolean): RouteResult | undefined {
    if (accept(this.rules[i]!.target)) return this.result(i);
    // Rare (PASS, a UDP flow on a UDP-less target): the indexes only know the first rule per key,
    // so walk the rest of the segment with each rule's own match().
    for (let j = i + 1; j < seg.hi; j++) {
      const r = this.hit(j, m);
      if (r !== undefined && accept(r.target)) return r;
    }
    return undefined;
  }

  /** Rule `j`'s result when it matches (a SUB-RULE's carries the target its list chose), else undefined. */
  private hit(j: number, m: Metadata): RouteResult | undefined {
    if (!this.test(j, m)) return undefined;
    const sub = this.subs?.[j];
    return sub === undefined ? this.result(j) : this.viaSub(j, sub, m);
  }

  /** The SUB-RULE line `i` as mihomo shows it (/connections, logs), with the target its list chose. */
  private viaSub(i: number, sub: Router, m: Metadata): RouteResult | undefined {
    const inner = sub.first(m);
    if (inner === undefined) return undefined;
    let byTarget = this.subResults[i];
    if (byTarget === undefined) {
      byTarget = new Map();
      this.subResults[i] = byTarget;
    }
    let r = byTarget.get(inner.target);
    if (r === undefined) {
      r = Object.freeze({ rule: this.rules[i]!, target: inner.target });
      byTarget.set(inner.target, r);
    }
    return r;
  }

  private result(i: number): RouteResult {
    let r = this.results[i];
    if (r === undefined) {
      const rule = this.rules[i]!;
      r = Object.freeze({ rule, target: rule.target });
      this.results[i] = r;
    }
    return r;
  }

  /** A rule's match(); one that throws counts as not matching and is logged once (a plugin must not take the process down). */
  private test(i: number, m: Metadata): boolean {
    const parsed = this.rules[i]!;
    try {
      return parsed.rule.match(m);
    } catch (err) {
      if (this.failed[i] === 0) {
        this.failed[i] = 1;
        this.log.error(
          `rule ${parsed.rule.type} (plugin ${parsed.plugin}, "${parsed.line}") threw and is treated as not matching: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      return false;
    }
  }
}
