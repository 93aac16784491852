import { API_VERSION, definePlugin, type Metadata, type Rule, type RuleSetRef, UserError } from "../../../src/sdk/index.ts";

/** A set may also tell whether its rules read the connection's process (classical with PROCESS-NAME). */
type RuleSetLike = RuleSetRef & { readonly needsProcess?: boolean };

/**
 * `RULE-SET,name,TARGET[,no-resolve][,src]` (config.md §11.3). What the line needs is read from
 * the set's content at the time asked: an update can change it (an ipcidr set getting its first
 * entries, a classical set gaining IP rules).
 */
class RuleSetRule implements Rule {
  readonly type = "RuleSet";
  readonly payload: string;

  constructor(
    private readonly set: RuleSetLike,
    private readonly source: boolean,
    private readonly noResolve: boolean,
  ) {
    this.payload = set.name;
  }

  get needsIp(): boolean {
    return !this.noResolve && this.set.needsIp;
  }

  get needsProcess(): boolean {
    return this.set.needsProcess === true;
  }

  match(m: Metadata): boolean {
    return this.set.match(m, this.source);
  }
}

export default definePlugin({
  name: "rule-rule-set",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("RULE-SET", {
      parse(payload, params, ctx): Rule {
        const set = ctx.ruleSet(payload);
        if (!set) throw new UserError(`rule-set "${payload}" not found (define it under rule-providers)`);
        const noResolve = params.includes("no-resolve");
        if (noResolve && set.behavior === "domain") ctx.warn(`no-resolve has no effect: rule-set "${payload}" holds domains, which never need an IP`);
        return new RuleSetRule(set, params.includes("src"), noResolve);
      },
    });
  },
});
