import { API_VERSION, definePlugin, type Rule } from "../../../src/sdk/index.ts";
import { inUintRanges, parseUintRanges } from "../uint-ranges.ts";

export default definePlugin({
  name: "rule-dscp",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("DSCP", {
      parse(payload, _params, ctx): Rule {
        const ranges = parseUintRanges(payload, 63, "DSCP");
        // mihomo reads the TOS of tproxy UDP only; every other connection (SOCKS, HTTP, …) has DSCP 0.
        // ferry has no tproxy inbound, so the rule's answer is the same for every connection.
        ctx.warn(
          inUintRanges(ranges, 0)
            ? "DSCP is only read from tproxy traffic, which ferry has none of: every connection has DSCP 0, so this rule matches them all"
            : "DSCP is only read from tproxy traffic, which ferry has none of: every connection has DSCP 0, so this rule never matches",
        );
        return { type: "DSCP", payload, needsIp: false, match: (m) => inUintRanges(ranges, m.dscp) };
      },
    });
  },
});
