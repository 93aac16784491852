import { API_VERSION, definePlugin, t } from "../../../src/sdk/index.ts";
import { GunClient } from "./gun.ts";

/** `GrpcTransportOptions` (src/sdk/transports.ts). */
const options = t.Object({
  serviceName: t.String(),
  host: t.String(),
});

/** gRPC "gun" transport (v2ray/mihomo `network: grpc`). */
export default definePlugin({
  name: "transport-grpc",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerTransport("grpc", {
      options,
      create(o) {
        return new GunClient(o);
      },
    });
  },
});
