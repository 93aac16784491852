import { API_VERSION, definePlugin, type Rule, UserError } from "../../../src/sdk/index.ts";

export default definePlugin({
  name: "rule-network",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("NETWORK", {
      parse(payload): Rule {
        const network = payload.toLowerCase();
        if (network !== "tcp" && network !== "udp") {
          throw new UserError(`unsupported network "${payload}" (only tcp or udp)`);
        }
        return { type: "Network", payload: network, needsIp: false, match: (m) => m.network === network };
      },
    });
  },
});
