import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { TlsClient } from "./tls.ts";

export type { TlsDuplex } from "./tls.ts";

/** `TlsTransportOptions` (src/sdk/transports.ts). */
const options = t.Object({
  serverName: t.String(),
  alpn: t.Optional(t.Array(t.String())),
  skipCertVerify: t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String({ pattern: "^([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$" })),
  ca: t.Optional(t.Array(t.String())),
});

/** TLS client transport: `ctx.transport("tls").create(options, ctx).wrap(stream)`. */
export default definePlugin({
  name: "transport-tls",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerTransport("tls", {
      options,
      create(o) {
        return new TlsClient(o);
      },
    });
  },
});
