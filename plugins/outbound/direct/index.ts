import { isIP } from "node:net";
import { API_VERSION, definePlugin, type Packet, type PacketConn, t } from "../../../src/sdk/index.ts";
import { socketOptions } from "../common.ts";

const options = t.Object({ ...socketOptions });

/** DIRECT: connect to the destination from this host. UDP is always on (config.md §7.1). */
export default definePlugin({
  name: "outbound-direct",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("direct", {
      options,
      create(o, ctx) {
        return {
          name: o.name,
          type: "Direct",
          supportsUdp: true,
          addr: "",
          dialTcp(m, dial) {
            return ctx.dialDirect(m.destinationIP || m.host, m.destinationPort, dial);
          },
          async dialUdp(): Promise<PacketConn> {
            const resolved = new Map<string, string>();
            const socket = await Bun.udpSocket({
              socket: {
                data(_s, data, port, address) {
                  conn.onPacket?.({ data, host: address, port });
                },
              },
            });
            const conn: PacketConn = {
              closed: false,
              onPacket: undefined,
              onClose: undefined,
              send(p: Packet) {
                if (conn.closed) return;
                const ip = isIP(p.host) ? p.host : resolved.get(p.host);
                if (ip) {
                  socket.send(p.data, p.port, ip);
                  return;
                }
                ctx.resolve(p.host).then(
                  (addr) => {
                    resolved.set(p.host, addr);
                    if (!conn.closed) socket.send(p.data, p.port, addr);
                  },
                  (err) => ctx.log.debug(`[UDP] ${p.host}: ${err instanceof Error ? err.message : err}`),
                );
              },
              close() {
                if (conn.closed) return;
                conn.closed = true;
                socket.close();
                conn.onClose?.();
              },
            };
            return conn;
          },
        };
      },
    });
  },
});
