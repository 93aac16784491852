import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { HttpObfsClient } from "./obfs.ts";

/** `HttpObfsTransportOptions` (src/sdk/transports.ts). */
const options = t.Object({
  method: t.String(),
  path: t.Array(t.String(), { minItems: 1 }),
  headers: t.Record(t.String(), t.Array(t.String())),
  host: t.String(),
});

/** HTTP/1.1 header obfuscation (v2ray tcp "http" header, vmess/vless `network: http`). */
export default definePlugin({
  name: "transport-http",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerTransport("http", {
      options,
      create(o) {
        return new HttpObfsClient(o);
      },
    });
  },
});
