import type { TCPSocketListener } from "bun";
import type { SocketStream } from "../../../src/core/socket-stream.ts";
import { API_VERSION, definePlugin, type Inbound, t } from "../../../src/sdk/index.ts";
import { joinHostPort } from "../address.ts";
import { bindTcpThenUdp } from "../../../src/core/port-pair.ts";
import { HANDSHAKE_TIMEOUT_MS, openTcp } from "../shared.ts";
import { handleSocks, type SocksContext } from "./handler.ts";
import { SocksUdpRelay } from "./udp.ts";

export { handleSocks, type SocksContext, SocksUdpRelay };

/** Options of socks and mixed listeners (`udp`: UDP ASSOCIATE, default on). */
export const socksOptions = t.Object({
  udp: t.Optional(t.Boolean({ default: true })),
});

/**
 * A TCP listener plus, when `udp` is on, the SOCKS5 UDP relay on the same port. Shared by the
 * socks and mixed plugins, which differ only in how a connection is served.
 */
export function socksFamilyInbound(
  ctx: SocksContext,
  udpEnabled: boolean,
  serve: (ctx: SocksContext, stream: SocketStream) => void,
): Inbound {
  let listener: TCPSocketListener<SocketStream> | undefined;
  return {
    async start() {
      const tcpAt = (port: number) => openTcp(ctx, (stream) => serve(ctx, stream), port);
      if (!udpEnabled) {
        listener = tcpAt(ctx.common.port);
        return;
      }
      const relay = new SocksUdpRelay(ctx);
      listener = (await bindTcpThenUdp(ctx.common.port, tcpAt, (port) => relay.open(port))).tcp;
      ctx.udp = relay;
    },
    close() {
      listener?.stop();
      listener = undefined;
      ctx.udp?.close();
      ctx.udp = undefined;
    },
    addresses: () => (listener ? [joinHostPort(ctx.common.listen, listener.port)] : []),
  };
}

/** SOCKS4/4a/5 listener (`socks-port`, `listeners[].type: socks`). */
export default definePlugin({
  name: "inbound-socks",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerInbound("socks", {
      options: socksOptions,
      create(options, common, ctx) {
        const conn: SocksContext = { common, tunnel: ctx.tunnel, log: ctx.log, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, udp: undefined };
        return socksFamilyInbound(conn, options.udp !== false, (c, stream) => handleSocks(c, stream));
      },
    });
  },
});
