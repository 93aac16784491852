import { API_VERSION, definePlugin, type Rule, UserError } from "../../../src/sdk/index.ts";
import { subRuleTexts } from "../logic/index.ts";

/**
 * `SUB-RULE,(CONDITION),name` (config.md §12). The rule itself is the condition: the rule parser
 * links the line to the `sub-rules` list its target names, and the router evaluates that list when
 * the condition matches.
 */
export default definePlugin({
  name: "rule-sub-rule",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("SUB-RULE", {
      payloadTakesRest: true,
      parse(payload, _params, ctx): Rule {
        // As mihomo: the payload is read as the inside of a logic rule's parentheses, holding one rule.
        const texts = subRuleTexts(`(${payload})`);
        const text = texts[0];
        if (texts.length !== 1 || text === undefined) {
          throw new UserError(`SUB-RULE needs exactly one condition in parentheses, e.g. (NETWORK,tcp) (found ${texts.length})`);
        }
        const condition = ctx.parseRule(text);
        return {
          type: "SubRules",
          payload,
          needsIp: condition.needsIp,
          needsProcess: condition.needsProcess === true,
          match: (m) => condition.match(m),
        };
      },
    });
  },
});
