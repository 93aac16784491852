import { isIP } from "node:net";
import type { udp } from "bun";
import {
  API_VERSION,
  type CreateContext,
  definePlugin,
  type DialOptions,
  type Duplex,
  type Metadata,
  type Packet,
  type PacketConn,
  t,
  type Transport,
} from "../../../src/sdk/index.ts";
import { readSocksAddress, socksAddressLength, writeSocksAddress } from "../../inbound/address.ts";
import { commonOptions, dialProxyServer, fingerprintProblems, serverOptions, tlsTransport } from "../common.ts";
import { StreamReader } from "../handshake.ts";

/** config.md §7.4: mihomo's Socks5Option keys. */
const options = t.Object({
  ...serverOptions,
  ...commonOptions,
  username: t.Optional(t.String()),
  password: t.Optional(t.String()),
  tls: t.Optional(t.Boolean()),
  "skip-cert-verify": t.Optional(t.Boolean()),
  fingerprint: t.Optional(t.String()),
});

const CMD_CONNECT = 1;
const CMD_UDP_ASSOCIATE = 3;

/** RFC 1928 §6 reply codes. */
const REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

interface Settings {
  addr: string;
  user: Uint8Array | undefined;
  ctx: CreateContext;
  server: string;
  port: number;
  "dialer-proxy"?: string;
  tls: Transport | undefined;
}

/**
 * RFC 1928/1929 client handshake, one step at a time (microsocks reads each message with one
 * recv, so pipelined messages would be lost). Resolves with the bound address of the reply.
 */
async function handshake(s: Duplex, r: StreamReader, set: Settings, cmd: number, host: string, port: number): Promise<{ host: string; port: number }> {
  s.write(new Uint8Array([5, 1, set.user ? 2 : 0]));
  const method = await r.exactly(2);
  if (method[0] !== 5) throw new Error(`socks5 ${set.addr}: not a SOCKS5 server (version ${method[0]})`);
  if (method[1] === 2) {
    if (!set.user) throw new Error(`socks5 ${set.addr}: the server requires a username and password`);
    s.write(set.user);
    const auth = await r.exactly(2);
    if (auth[1] !== 0) throw new Error(`socks5 ${set.addr}: username/password rejected`);
  } else if (method[1] !== 0) {
    throw new Error(`socks5 ${set.addr}: no acceptable authentication method${set.user ? "" : " (the server may require a username and password)"}`);
  }
  const req = new Uint8Array(3 + socksAddressLength(host));
  req.set([5, cmd, 0]);
  s.write(req.subarray(0, writeSocksAddress(req, 3, host, port)));
  const head = await r.exactly(5);
  if (head[1] !== 0) throw new Error(`socks5 ${set.addr}: ${REPLIES[head[1]!] ?? `reply ${head[1]}`}`);
  // ATYP is head[3]; head[4] is the first address byte (or a domain's length).
  const rest = head[3] === 1 ? 4 + 2 - 1 : head[3] === 4 ? 16 + 2 - 1 : head[3] === 3 ? head[4]! + 2 : -1;
  if (rest < 0) throw new Error(`socks5 ${set.addr}: bad address type ${head[3]} in the reply`);
  const addr = new Uint8Array(2 + rest);
  addr.set(head.subarray(3, 5));
  addr.set(await r.exactly(rest), 2);
  const bound = readSocksAddress(addr, 0, addr.length);
  if (typeof bound === "number") throw new Error(`socks5 ${set.addr}: malformed reply address`);
  return { host: bound.host || bound.ip, port: bound.port };
}

async function connect(set: Settings, cmd: number, host: string, port: number, dial: DialOptions | undefined) {
  const s = await dialProxyServer(set.ctx, set, set.tls, dial);
  const r = new StreamReader(s, `socks5 ${set.addr}`, { signal: dial?.signal });
  try {
    const bound = await handshake(s, r, set, cmd, host, port);
    return { stream: r.release(), bound };
  } catch (err) {
    throw r.fail(err);
  }
}

/**
 * UDP ASSOCIATE: datagrams carry the RFC 1928 §7 header to the relay the server named (its own
 * address when it answers 0.0.0.0 or ::). The TCP control connection stays open for the life of
 * the association; its end ends the association. One Bun UDP socket per association.
 */
async function associate(set: Settings, dial: DialOptions | undefined): Promise<PacketConn> {
  const { stream, bound } = await connect(set, CMD_UDP_ASSOCIATE, "0.0.0.0", 0, dial);
  let relayHost = bound.host;
  if (relayHost === "0.0.0.0" || relayHost === "::" || !isIP(relayHost)) {
    relayHost = isIP(stream.remoteAddress) ? stream.remoteAddress : await set.ctx.resolve(set.server);
  }
  const relayPort = bound.port;
  // Datagrams are built in one scratch buffer: Bun's UDP send copies synchronously.
  const scratch = new Uint8Array(65536 + 262);
  let socket: udp.Socket<"uint8array">;
  try {
    socket = await Bun.udpSocket({
      binaryType: "uint8array",
      hostname: relayHost.includes(":") ? "::" : "0.0.0.0",
      socket: {
        data(_s, data) {
          // RSV RSV FRAG, then the source address; fragments (FRAG ≠ 0) are not supported: dropped.
          if (data.length < 4 || data[2] !== 0) return;
          const from = readSocksAddress(data, 3, data.length);
          if (typeof from === "number") return;
          conn.onPacket?.({ data: data.subarray(from.end), host: from.host || from.ip, port: from.port });
        },
      },
    });
  } catch (err) {
    stream.close();
    throw err;
  }
  const conn: PacketConn = {
    closed: false,
    onPacket: undefined,
    onClose: undefined,
    send(p: Packet) {
      if (conn.closed) return;
      scratch[0] = 0;
      scratch[1] = 0;
      scratch[2] = 0;
      const at = writeSocksAddress(scratch, 3, p.host, p.port);
      if (at + p.data.length > scratch.length) return;
      scratch.set(p.data, at);
      socket.send(scratch.subarray(0, at + p.data.length), relayPort, relayHost);
    },
    close(err?: Error) {
      if (conn.closed) return;
      conn.closed = true;
      socket.close();
      stream.close();
      const cb = conn.onClose;
      conn.onClose = undefined;
      cb?.(err);
    },
  };
  // The control connection carries nothing more; its end or close ends the association.
  stream.onData = () => {};
  stream.onEnd = () => conn.close();
  stream.onClose = (err) => conn.close(err);
  return conn;
}

/** SOCKS5 outbound (mihomo's adapter/outbound/socks5.go): CONNECT, and UDP ASSOCIATE with `udp: true`. */
export default definePlugin({
  name: "outbound-socks5",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerOutbound("socks5", {
      options,
      validate(o) {
        const problems = fingerprintProblems(o);
        for (const key of ["username", "password"] as const) {
          if (Buffer.byteLength(o[key] ?? "") > 255) problems.push({ key, message: "longer than 255 bytes (RFC 1929)" });
        }
        return problems;
      },
      create(o, ctx) {
        let user: Uint8Array | undefined;
        if (o.username) {
          const u = Buffer.from(o.username);
          const p = Buffer.from(o.password ?? "");
          user = new Uint8Array([1, u.length, ...u, p.length, ...p]);
        }
        const addr = o.server.includes(":") ? `[${o.server}]:${o.port}` : `${o.server}:${o.port}`;
        const set: Settings = { addr, user, ctx, server: o.server, port: o.port, "dialer-proxy": o["dialer-proxy"], tls: o.tls ? tlsTransport(ctx, o) : undefined };
        return {
          name: o.name,
          type: "Socks5",
          supportsUdp: o.udp === true,
          addr,
          async dialTcp(m: Metadata, dial) {
            return (await connect(set, CMD_CONNECT, m.host || m.destinationIP, m.destinationPort, dial)).stream;
          },
          dialUdp: o.udp ? (_m: Metadata, dial?: DialOptions) => associate(set, dial) : undefined,
        };
      },
    });
  },
});
