import { API_VERSION, definePlugin, type Metadata, parsePortRanges, portInRanges, type Rule } from "../../../src/sdk/index.ts";

const SLASH = /\//;

export default definePlugin({
  name: "rule-port",
  apiVersion: API_VERSION,
  setup(host) {
    const port = (type: string, portOf: (m: Metadata) => number) => ({
      parse(payload: string): Rule {
        // `/` separates items: a `,` would split the rule line.
        const ranges = parsePortRanges(payload, SLASH);
        return { type, payload, needsIp: false, match: (m) => portInRanges(ranges, portOf(m)) };
      },
    });
    host.registerRule("DST-PORT", port("DstPort", (m) => m.destinationPort));
    host.registerRule("SRC-PORT", port("SrcPort", (m) => m.sourcePort));
    host.registerRule("IN-PORT", port("InPort", (m) => m.inboundPort));
  },
});
