import { API_VERSION, definePlugin, UserError } from "../../../src/sdk/index.ts";
import { resolverOptions, withParams } from "../common.ts";
import { rcodeReply } from "../wire.ts";

/** mihomo's names for `rcode://NAME` (dns/rcode.go) and the RCODE each answers with. */
const RCODES: Record<string, number> = {
  success: 0,
  format_error: 1,
  server_failure: 2,
  name_error: 3,
  not_implemented: 4,
  refused: 5,
};

/**
 * `rcode://NAME`: answers every query itself, with that RCODE and no records (the query echoed
 * back as the reply, as mihomo does). Typically a nameserver-policy value that blocks a list.
 */
export default definePlugin({
  name: "dns-rcode",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerResolver("rcode", {
      options: resolverOptions,
      validate: (url) =>
        RCODES[url.hostname] === undefined ? `unknown rcode "${url.hostname}" (expected one of ${Object.keys(RCODES).join(", ")})` : undefined,
      create(url, o, ctx) {
        const name = url.hostname;
        const what = `rcode://${name}`;
        const rcode = RCODES[name];
        if (rcode === undefined) {
          throw new UserError(`${what}: unknown rcode "${name}" (expected one of ${Object.keys(RCODES).join(", ")})`);
        }
        return withParams({ exchange: async (message) => rcodeReply(message, rcode) }, o, what, ctx.log);
      },
    });
  },
});
