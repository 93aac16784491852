import { API_VERSION, definePlugin, type Rule, type RuleParseContext, UserError } from "../../../src/sdk/index.ts";

/**
 * Split `((A,x),(B,y))` into its top-level groups, as mihomo does: parentheses must balance, the
 * payload must start with `(` and end with `)`, and each parenthesised group directly inside the
 * outer pair is one sub-rule. Without a pair spanning the whole payload (`(A,x),(B,y)`), the groups
 * at the outermost level are the sub-rules. Text between groups is ignored.
 */
export function subRuleTexts(payload: string): string[] {
  if (!payload.startsWith("(") || !payload.endsWith(")")) {
    throw new UserError(`payload format error: "${payload}" must be parenthesised, e.g. ((DOMAIN,example.com),(NETWORK,udp))`);
  }
  let depth = 0;
  let outerCloses = -1;
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) {
      if (depth === 0) throw new UserError(`missing "(" in "${payload}"`);
      depth--;
      if (depth === 0 && outerCloses < 0) outerCloses = i;
    }
  }
  if (depth !== 0) throw new UserError(`missing ")" in "${payload}"`);

  const base = outerCloses === payload.length - 1 ? 1 : 0;
  const out: string[] = [];
  let start = -1;
  depth = 0;
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i);
    if (c === 40) {
      if (depth === base) start = i;
      depth++;
    } else if (c === 41) {
      depth--;
      if (depth === base) out.push(payload.slice(start + 1, i));
    }
  }
  return out;
}

function parseAll(payload: string, ctx: RuleParseContext): Rule[] {
  return subRuleTexts(payload).map((text) => ctx.parseRule(text));
}

/** mihomo's display form, e.g. `((DomainSuffix,a.com) && (Network,udp))`. */
function describe(rules: Rule[], joiner: string): string {
  return `(${rules.map((r) => `(${r.type},${r.payload})`).join(joiner)})`;
}

export default definePlugin({
  name: "rule-logic",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("AND", {
      payloadTakesRest: true,
      parse(payload, _params, ctx): Rule {
        const rules = parseAll(payload, ctx);
        // mihomo accepts an empty AND (always true); ours refuses it as almost certainly a mistake.
        if (rules.length === 0) throw new UserError("AND needs at least one sub-rule");
        return {
          type: "AND",
          payload: describe(rules, " && "),
          needsIp: rules.some((r) => r.needsIp),
          needsProcess: rules.some((r) => r.needsProcess === true),
          match(m) {
            for (const r of rules) if (!r.match(m)) return false;
            return true;
          },
        };
      },
    });

    host.registerRule("OR", {
      payloadTakesRest: true,
      parse(payload, _params, ctx): Rule {
        const rules = parseAll(payload, ctx);
        // mihomo accepts an empty OR (never true); ours refuses it.
        if (rules.length === 0) throw new UserError("OR needs at least one sub-rule");
        return {
          type: "OR",
          payload: describe(rules, " || "),
          needsIp: rules.some((r) => r.needsIp),
          needsProcess: rules.some((r) => r.needsProcess === true),
          match(m) {
            for (const r of rules) if (r.match(m)) return true;
            return false;
          },
        };
      },
    });

    host.registerRule("NOT", {
      payloadTakesRest: true,
      parse(payload, _params, ctx): Rule {
        const rules = parseAll(payload, ctx);
        const inner = rules[0];
        if (rules.length !== 1 || !inner) {
          throw new UserError(`NOT must contain exactly one sub-rule (found ${rules.length})`);
        }
        return {
          type: "NOT",
          payload: `(!(${inner.type},${inner.payload}))`,
          needsIp: inner.needsIp,
          needsProcess: inner.needsProcess === true,
          match: (m) => !inner.match(m),
        };
      },
    });
  },
});
