import type { TCPSocketListener } from "bun";
import type { SocketStream } from "../../../src/core/socket-stream.ts";
import { API_VERSION, definePlugin, type Inbound, t } from "../../../src/sdk/index.ts";
import { joinHostPort } from "../address.ts";
import { type ConnContext, HANDSHAKE_TIMEOUT_MS, openTcp } from "../shared.ts";
import { handleHttp } from "./handler.ts";

export { handleHttp };

/** HTTP proxy listener (`port`, `listeners[].type: http`): CONNECT and absolute-URI requests. */
export default definePlugin({
  name: "inbound-http",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerInbound("http", {
      // `users` and the other common keys are the core's; TLS (`certificate`) is not supported yet.
      options: t.Object({}),
      create(_options, common, ctx): Inbound {
        const conn: ConnContext = { common, tunnel: ctx.tunnel, log: ctx.log, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS };
        let listener: TCPSocketListener<SocketStream> | undefined;
        return {
          async start() {
            listener = openTcp(conn, (stream) => handleHttp(conn, stream));
          },
          close() {
            listener?.stop();
            listener = undefined;
          },
          addresses: () => (listener ? [joinHostPort(common.listen, listener.port)] : []),
        };
      },
    });
  },
});
