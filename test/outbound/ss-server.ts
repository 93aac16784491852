/**
 * A test-only Shadowsocks server for what no Debian peer speaks: SIP022 (single user, and several
 * users behind SIP023 identity headers), its UDP, and sing's UDP-over-TCP v1/v2. AEAD-2017 works
 * too. Written from the specs on the server side (request parsing, replay checks, response
 * headers), and shares only the primitives (AEAD, key derivation, chunk codec) with the client.
 * It relays to IP targets on loopback only and records why it refused anything.
 */
import { randomBytes } from "node:crypto";
import type { udp } from "bun";
import { decodeAddress, encodeAddress, SOCKS, UOT } from "../../plugins/outbound/ss/address.ts";
import { type Aead, TAG_SIZE, xchacha } from "../../plugins/outbound/ss/aead.ts";
import {
  aeadSubkey,
  aesBlock,
  evpBytesToKey,
  identitySubkey,
  type MethodName,
  method,
  parsePsks,
  pskHash,
  sessionSubkey,
} from "../../plugins/outbound/ss/cipher.ts";
import { AEAD_MAX_PAYLOAD, ChunkReader, ChunkWriter, SS2022_MAX_PAYLOAD } from "../../plugins/outbound/ss/codec.ts";
import { timestampFresh, writeTimestamp } from "../../plugins/outbound/ss/session.ts";
import { ReplayWindow } from "../../plugins/outbound/ss/udp-codec.ts";
import { bindTcpThenUdp } from "../../src/core/port-pair.ts";
import { connectTcp, listenTcp, type SocketStream } from "../../src/core/socket-stream.ts";

export interface TestServerOptions {
  cipher: MethodName;
  /** AEAD: the password. SIP022: the server's key; with `users`, its identity key (iPSK). */
  password: string;
  /** SIP022 multi-user: the users' keys (base64). */
  users?: string[];
}

export interface TestServer {
  port: number;
  /** Why connections or packets were refused, in order. */
  refusals: string[];
  /** Target addresses requested (`host:port`), in order. */
  targets: string[];
  close(): void;
}

/** SIP022 §3.1.5: salts are remembered for 60 s; a repeat within that is a replay. */
export class SaltPool {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs = 60_000) {}

  /** True when the salt is new (and now remembered); false for a replay. */
  add(salt: Uint8Array, now = Date.now()): boolean {
    for (const [k, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(k);
    }
    const key = Buffer.from(salt).toString("hex");
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry > now) return false;
    this.seen.delete(key);
    this.seen.set(key, now + this.ttlMs);
    return true;
  }
}

const isLoopback = (host: string) => host.startsWith("127.") || host === "::1";

export async function startTestServer(o: TestServerOptions): Promise<TestServer> {
  const m = method(o.cipher);
  const aead = await m.aead();
  const size = m.keySize;
  const serverKeys = m.is2022 ? parsePsks(o.password, m) : [];
  const serverPsk = serverKeys[0];
  const master = m.is2022 ? undefined : evpBytesToKey(o.password, size);
  const users = (o.users ?? []).map((u) => parsePsks(u, m)[0]!);
  const salts = new SaltPool();
  const refusals: string[] = [];
  const targets: string[] = [];

  /** The user key an identity header names (SIP023), or the server key without users. */
  const userFor = (salt: Uint8Array, identity: Uint8Array | undefined): Uint8Array | undefined => {
    if (users.length === 0) return serverPsk;
    if (!identity || !serverPsk) return undefined;
    const hash = aesBlock(identitySubkey(serverPsk, salt), identity, true);
    return users.find((u) => Buffer.from(pskHash(u)).equals(hash));
  };

  function refuse(client: SocketStream, why: string): void {
    refusals.push(why);
    client.close();
  }

  function handleTcp(client: SocketStream): void {
    const eihSize = m.is2022 && users.length > 0 ? 16 : 0;
    let head: Uint8Array | undefined = new Uint8Array(0);
    let reader: ChunkReader | undefined;
    let userKey: Uint8Array | undefined;
    let requestSalt: Uint8Array | undefined;
    let variableLength = -1;
    let plainHead: Uint8Array | undefined = new Uint8Array(0);
    let target: SocketStream | Uot | undefined;
    const pendingToTarget: Uint8Array[] = [];

    const makeReader = (): ChunkReader =>
      m.is2022
        ? new ChunkReader(aead, {
            saltSize: size,
            subkey: (s) => sessionSubkey(userKey!, s),
            maxPayload: SS2022_MAX_PAYLOAD,
            header: {
              size: 11,
              check(h) {
                if (h[0] !== 0) return `request header type ${h[0]}`;
                if (!timestampFresh(h, 1)) return "request timestamp more than 30 s off";
                variableLength = (h[9]! << 8) | h[10]!;
                return variableLength;
              },
            },
          })
        : new ChunkReader(aead, { saltSize: size, subkey: (s) => aeadSubkey(master!, s), maxPayload: AEAD_MAX_PAYLOAD });

    client.onData = (data) => {
      let input = data;
      if (head) {
        const joined = new Uint8Array(head.length + data.length);
        joined.set(head);
        joined.set(data, head.length);
        if (joined.length < size + eihSize) {
          head = joined;
          return;
        }
        head = undefined;
        requestSalt = joined.slice(0, size);
        if (!salts.add(requestSalt)) return refuse(client, "replayed salt");
        userKey = m.is2022 ? userFor(requestSalt, eihSize ? joined.subarray(size, size + 16) : undefined) : undefined;
        if (m.is2022 && !userKey) return refuse(client, "unknown user");
        input = eihSize ? Buffer.concat([joined.subarray(0, size), joined.subarray(size + eihSize)]) : joined;
        reader = makeReader();
      }
      const plain = reader!.feed(input);
      if (plain instanceof Error) return refuse(client, plain.message);
      if (plain.length === 0) return;
      if (plainHead) {
        const joined = new Uint8Array(plainHead.length + plain.length);
        joined.set(plainHead);
        joined.set(plain, plainHead.length);
        const a = decodeAddress(joined, 0);
        if (!a) {
          plainHead = joined;
          return;
        }
        plainHead = undefined;
        let rest = joined.subarray(a.end);
        if (m.is2022) {
          const padding = (rest[0]! << 8) | rest[1]!;
          const initial = variableLength - (a.end + 2 + padding);
          if (padding === 0 && initial === 0) return refuse(client, "request without payload or padding");
          rest = rest.subarray(2 + padding);
        }
        targets.push(`${a.host}:${a.port}`);
        if (a.host === "sp.udp-over-tcp.arpa" || a.host === "sp.v2.udp-over-tcp.arpa") {
          target = new Uot(a.host === "sp.v2.udp-over-tcp.arpa", (frame) => respond(frame));
          target.input(rest);
          return;
        }
        if (!isLoopback(a.host)) return refuse(client, `target ${a.host} is not loopback`);
        if (rest.length > 0) pendingToTarget.push(rest);
        connectTcp(a.host, a.port).then(
          (t) => {
            target = t;
            t.onData = (d) => respond(d);
            t.onEnd = () => client.end();
            t.onClose = () => client.close();
            client.onEnd = () => t.end();
            client.onClose = () => t.close();
            for (const p of pendingToTarget.splice(0)) t.write(p);
          },
          () => client.close(),
        );
        return;
      }
      if (target instanceof Uot) target.input(plain);
      else if (target) target.write(plain);
      else pendingToTarget.push(plain);
    };

    let writer: ChunkWriter | undefined;
    const respond = (data: Uint8Array) => {
      if (writer) {
        const out = new Uint8Array(writer.size(data.length));
        writer.sealChunks(data, out, 0);
        client.write(out);
        return;
      }
      const salt = randomBytes(size);
      const key = m.is2022 ? sessionSubkey(userKey!, salt) : aeadSubkey(master!, salt);
      writer = new ChunkWriter(aead, key, m.is2022 ? SS2022_MAX_PAYLOAD : AEAD_MAX_PAYLOAD);
      if (!m.is2022) {
        const out = new Uint8Array(size + writer.size(data.length));
        out.set(salt);
        writer.sealChunks(data, out, size);
        client.write(out);
        return;
      }
      const first = data.subarray(0, SS2022_MAX_PAYLOAD);
      const fixed = new Uint8Array(1 + 8 + size + 2);
      fixed[0] = 1;
      writeTimestamp(fixed, 1);
      fixed.set(requestSalt!, 9);
      fixed[9 + size] = first.length >> 8;
      fixed[10 + size] = first.length & 0xff;
      const rest = data.subarray(first.length);
      const out = new Uint8Array(size + fixed.length + first.length + 2 * TAG_SIZE + writer.size(rest.length));
      out.set(salt);
      let off = writer.sealChunk(fixed, out, size);
      off = writer.sealChunk(first, out, off);
      writer.sealChunks(rest, out, off);
      client.write(out);
    };
    client.onEnd = () => client.end();
  }

  /** UDP-over-TCP on the server side: frames to datagrams on one socket, and back. */
  class Uot {
    private socket: udp.Socket<"buffer"> | undefined;
    private buffered = new Uint8Array(0);
    private readonly waiting: Uint8Array[] = [];
    private needRequest: boolean;

    constructor(
      v2: boolean,
      private readonly send: (frame: Uint8Array) => void,
    ) {
      this.needRequest = v2;
      Bun.udpSocket({
        hostname: "127.0.0.1",
        socket: {
          data: (_s, data, port, address) => {
            const addr = encodeAddress(address, port, UOT);
            const frame = new Uint8Array(addr.length + 2 + data.length);
            frame.set(addr);
            frame[addr.length] = data.length >> 8;
            frame[addr.length + 1] = data.length & 0xff;
            frame.set(data, addr.length + 2);
            this.send(frame);
          },
        },
      }).then((s) => {
        this.socket = s;
        for (const d of this.waiting.splice(0)) this.input(d);
      });
    }

    input(data: Uint8Array): void {
      if (!this.socket) {
        this.waiting.push(data);
        return;
      }
      const b = new Uint8Array(this.buffered.length + data.length);
      b.set(this.buffered);
      b.set(data, this.buffered.length);
      let off = 0;
      if (this.needRequest) {
        const a = decodeAddress(b, 1, SOCKS);
        if (!a) {
          this.buffered = b;
          return;
        }
        if (b[0] !== 0) refusals.push("UoT v2 connect mode is not expected from ferry");
        this.needRequest = false;
        off = a.end;
      }
      for (;;) {
        const a = decodeAddress(b, off, UOT);
        if (!a || b.length < a.end + 2) break;
        const n = (b[a.end]! << 8) | b[a.end + 1]!;
        if (b.length < a.end + 2 + n) break;
        if (isLoopback(a.host)) this.socket.send(b.subarray(a.end + 2, a.end + 2 + n), a.port, a.host);
        else refusals.push(`UoT target ${a.host} is not loopback`);
        off = a.end + 2 + n;
      }
      this.buffered = b.slice(off);
    }
  }

  // ------------------------------------------------------------------------------ UDP

  /** One client session (AEAD-2017: one client address): its socket towards the targets. */
  interface Session {
    socket?: udp.Socket<"buffer">;
    queue: { data: Uint8Array; host: string; port: number }[];
    window: ReplayWindow;
    serverId: Uint8Array;
    packetId: number;
    clientId: Uint8Array;
    user: Uint8Array;
    from: { port: number; address: string };
  }
  const sessions = new Map<string, Session>();
  const xaead: Aead | undefined = m.is2022 && !m.aesBlock ? xchacha(aead) : undefined;

  // TCP and UDP on one port, as ss-server listens.
  const { tcp: listener, udp: udpServer } = await bindTcpThenUdp(
    0,
    (port) =>
      listenTcp({
        hostname: "127.0.0.1",
        port,
        onAccept(client) {
          handleTcp(client);
        },
      }),
    (port) =>
      Bun.udpSocket({
        hostname: "127.0.0.1",
        port,
        socket: {
          data(_s, packet, port, address) {
            const why = handlePacket(packet, { port, address });
            if (why) refusals.push(why);
          },
        },
      }),
  );

  /** Seal a datagram from `source` back to the client of `s`. */
  function reply(s: Session, data: Uint8Array, source: { host: string; port: number }): void {
    const addr = encodeAddress(source.host, source.port);
    let out: Uint8Array;
    if (!m.is2022) {
      const salt = randomBytes(size);
      const plain = Buffer.concat([addr, data]);
      out = new Uint8Array(size + plain.length + TAG_SIZE);
      out.set(salt);
      aead.seal(aeadSubkey(master!, salt), new Uint8Array(aead.nonceSize), plain, out, size);
    } else {
      const ids = new Uint8Array(16);
      ids.set(s.serverId);
      new DataView(ids.buffer).setUint32(12, s.packetId++);
      const main = new Uint8Array(1 + 8 + 8 + 2);
      main[0] = 1;
      writeTimestamp(main, 1);
      main.set(s.clientId, 9);
      if (xaead) {
        const plain = Buffer.concat([ids, main, addr, data]);
        const nonce = randomBytes(24);
        out = new Uint8Array(24 + plain.length + TAG_SIZE);
        out.set(nonce);
        xaead.seal(s.user, nonce, plain, out, 24);
      } else {
        const plain = Buffer.concat([main, addr, data]);
        out = new Uint8Array(16 + plain.length + TAG_SIZE);
        aead.seal(sessionSubkey(s.user, s.serverId), ids.subarray(4, 16), plain, out, 16);
        out.set(aesBlock(s.user, ids));
      }
    }
    udpServer.send(out, s.from.port, s.from.address);
  }

  /** Open one client datagram and relay it; returns why it was refused, if it was. */
  function handlePacket(packet: Uint8Array, from: { port: number; address: string }): string | undefined {
    if (!m.is2022) {
      if (packet.length < size + TAG_SIZE) return "UDP packet too short";
      const plain = new Uint8Array(packet.length - size - TAG_SIZE);
      if (!aead.open(aeadSubkey(master!, packet.subarray(0, size)), new Uint8Array(aead.nonceSize), packet.subarray(size), plain, 0)) {
        return "UDP packet failed authentication";
      }
      const a = decodeAddress(plain, 0);
      if (!a) return "UDP packet without an address";
      return relay(`${from.address}:${from.port}`, undefined, { user: new Uint8Array(0), clientId: new Uint8Array(0), from }, a, plain.subarray(a.end));
    }
    let ids: Uint8Array;
    let body: Uint8Array;
    let user = serverPsk!;
    if (xaead) {
      const all = new Uint8Array(packet.length - 24 - TAG_SIZE);
      if (!xaead.open(serverPsk!, packet.subarray(0, 24), packet.subarray(24), all, 0)) return "UDP packet failed authentication";
      ids = all.subarray(0, 16);
      body = all.subarray(16);
    } else {
      ids = aesBlock(serverPsk!, packet.subarray(0, 16), true);
      let off = 16;
      if (users.length > 0) {
        const hash = aesBlock(serverPsk!, packet.subarray(16, 32), true);
        for (let i = 0; i < 16; i++) hash[i]! ^= ids[i]!;
        const found = users.find((u) => Buffer.from(pskHash(u)).equals(hash));
        if (!found) return "UDP packet from an unknown user";
        user = found;
        off = 32;
      }
      body = new Uint8Array(packet.length - off - TAG_SIZE);
      if (!aead.open(sessionSubkey(user, ids.subarray(0, 8)), ids.subarray(4, 16), packet.subarray(off), body, 0)) return "UDP packet failed authentication";
    }
    if (body[0] !== 0) return `UDP header type ${body[0]}`;
    if (!timestampFresh(body, 1)) return "UDP timestamp more than 30 s off";
    const padding = (body[9]! << 8) | body[10]!;
    const a = decodeAddress(body, 11 + padding);
    if (!a) return "UDP packet without an address";
    const clientId = ids.slice(0, 8);
    const v = new DataView(ids.buffer, ids.byteOffset);
    const packetId = v.getUint32(8) * 2 ** 32 + v.getUint32(12);
    return relay(Buffer.from(clientId).toString("hex"), packetId, { user, clientId, from }, a, body.subarray(a.end));
  }

  function relay(
    key: string,
    packetId: number | undefined,
    who: { user: Uint8Array; clientId: Uint8Array; from: { port: number; address: string } },
    to: { host: string; port: number },
    data: Uint8Array,
  ): string | undefined {
    if (!isLoopback(to.host)) return `UDP target ${to.host} is not loopback`;
    let s = sessions.get(key);
    if (s && packetId !== undefined && !s.window.check(packetId)) return "replayed UDP packet id";
    if (!s) {
      const session: Session = { queue: [], window: new ReplayWindow(), serverId: randomBytes(8), packetId: 0, ...who };
      s = session;
      sessions.set(key, session);
      Bun.udpSocket({
        hostname: "127.0.0.1",
        socket: { data: (_sock, d, port, address) => reply(session, d, { host: address, port }) },
      }).then((sock) => {
        session.socket = sock;
        for (const q of session.queue.splice(0)) sock.send(q.data, q.port, q.host);
      });
    }
    if (packetId !== undefined) s.window.record(packetId);
    s.from = who.from;
    if (s.socket) s.socket.send(data, to.port, to.host);
    else s.queue.push({ data, host: to.host, port: to.port });
    return undefined;
  }

  return {
    port: listener.port,
    refusals,
    targets,
    close() {
      listener.stop(true);
      udpServer.close();
      for (const s of sessions.values()) s.socket?.close();
    },
  };
}
