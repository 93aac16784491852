import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { WsClient } from "./ws.ts";

/** `WsTransportOptions` (src/sdk/transports.ts). */
const options = t.Object({
  host: t.String(),
  path: t.String(),
  headers: t.Optional(t.Record(t.String(), t.String())),
  maxEarlyData: t.Optional(t.Integer({ minimum: 0 })),
  earlyDataHeaderName: t.Optional(t.String()),
  v2rayHttpUpgrade: t.Optional(t.Boolean()),
});

/** WebSocket transport (v2ray `network: ws`, incl. early data and HTTPUpgrade). */
export default definePlugin({
  name: "transport-ws",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerTransport("ws", {
      options,
      create(o) {
        return new WsClient(o);
      },
    });
  },
});
