import type { SocketStream } from "../../../src/core/socket-stream.ts";
import { API_VERSION, definePlugin } from "../../../src/sdk/index.ts";
import { handleHttp } from "../http/index.ts";
import { Deadline, errorOf, HANDSHAKE_TIMEOUT_MS } from "../shared.ts";
import { handleSocks, type SocksContext, socksFamilyInbound, socksOptions } from "../socks/index.ts";

/** The first byte tells the protocols apart: 4 or 5 is a SOCKS version, anything else HTTP. */
function serveMixed(ctx: SocksContext, stream: SocketStream): void {
  const deadline = new Deadline(ctx.handshakeTimeoutMs, () => stream.close(new Error("handshake timed out")));
  stream.onClose = () => deadline.clear();
  stream.onData = (chunk) => {
    deadline.clear();
    stream.onData = undefined;
    stream.onClose = undefined;
    try {
      if (chunk[0] === 4 || chunk[0] === 5) handleSocks(ctx, stream, chunk);
      else handleHttp(ctx, stream, chunk);
    } catch (err) {
      const error = errorOf(err);
      ctx.log.error(`mixed ${stream.remoteAddress}: ${error.message}`);
      stream.close(error);
    }
  };
  deadline.arm();
}

/** HTTP and SOCKS on one port (`mixed-port`, `listeners[].type: mixed`). */
export default definePlugin({
  name: "inbound-mixed",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerInbound("mixed", {
      options: socksOptions,
      create(options, common, ctx) {
        const conn: SocksContext = { common, tunnel: ctx.tunnel, log: ctx.log, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, udp: undefined };
        return socksFamilyInbound(conn, options.udp !== false, serveMixed);
      },
    });
  },
});
