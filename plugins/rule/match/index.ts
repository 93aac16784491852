import { API_VERSION, definePlugin, type Rule } from "../../../src/sdk/index.ts";

const always: Rule = { type: "Match", payload: "", needsIp: false, match: () => true };

export default definePlugin({
  name: "rule-match",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("MATCH", { noPayload: true, parse: () => always });
    // Clash/Surge spelling; mihomo refuses it, so accepting it is ours and worth a portability warning.
    host.registerRule("FINAL", {
      noPayload: true,
      parse(_payload, _params, ctx) {
        ctx.warn(`"FINAL" is Clash/Surge syntax that mihomo rejects; it is treated as MATCH here — write MATCH`);
        return always;
      },
    });
  },
});
