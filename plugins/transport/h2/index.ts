import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { H2Client } from "./h2.ts";

/** `H2TransportOptions` (src/sdk/transports.ts). */
const options = t.Object({
  host: t.Array(t.String(), { minItems: 1 }),
  path: t.String(),
});

/** HTTP/2 transport (v2ray "http", mihomo `network: h2`); wrap a TLS stream that negotiated ALPN h2. */
export default definePlugin({
  name: "transport-h2",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerTransport("h2", {
      options,
      create(o) {
        return new H2Client(o);
      },
    });
  },
});
