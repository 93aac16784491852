/**
 * SOCKS4/4a/5 handshakes on one client connection. Input is accumulated until a message is whole;
 * after the request the client stream goes to the tunnel as is (no extra layer on the data path).
 */
import type { SocketStream } from "../../../src/core/socket-stream.ts";
import { setDestination } from "../address.ts";
import { authRequired, type ConnContext, checkUser, Deadline, endWithReply, errorOf, joinPending, tcpMetadata } from "../shared.ts";
import {
  AUTH_FAILED,
  AUTH_OK,
  BAD_ATYP,
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  failureCode,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USER_PASS,
  methodReply,
  NEED_MORE,
  parseGreeting,
  parseRequest4,
  parseRequest5,
  parseUserPass,
  REP_ADDRESS_NOT_SUPPORTED,
  REP_COMMAND_NOT_SUPPORTED,
  REP_GENERAL_FAILURE,
  REP_SUCCEEDED,
  reply4,
  reply5,
  SOCKS4,
  SOCKS4_GRANTED,
  SOCKS4_IDENT_MISMATCH,
  SOCKS4_REJECTED,
  SOCKS5,
} from "./protocol.ts";
import type { SocksUdpRelay } from "./udp.ts";

export interface SocksContext extends ConnContext {
  /** UDP ASSOCIATE support; undefined when the listener has `udp: false`. */
  udp: SocksUdpRelay | undefined;
}

/** The longest handshake message we buffer (SOCKS5 ones are ≤ 513 bytes; SOCKS4 user ids are short). */
const MAX_HANDSHAKE_BYTES = 1024;

/** step() result: the connection has been dealt with (handed over, answered or dropped). */
const HANDLED = -10;

const H_START = 0;
const H_GREETING = 1;
const H_AUTH = 2;
const H_REQUEST5 = 3;
const H_REQUEST4 = 4;
const H_DONE = 5;

/**
 * Entry point for socks and mixed listeners: serve one accepted client connection. `first` holds
 * bytes already read from it (mixed peeks at the first chunk).
 */
export function handleSocks(ctx: SocksContext, stream: SocketStream, first?: Uint8Array): void {
  const handshake = new SocksHandshake(ctx, stream);
  if (first) handshake.onData(first);
}

class SocksHandshake {
  private state = H_START;
  private pending: Uint8Array | undefined;
  private readonly auth: boolean;
  /** The client picked username/password although none is configured: accept any. */
  private anyCredentials = false;
  private user = "";
  private readonly deadline: Deadline;

  constructor(
    private readonly ctx: SocksContext,
    private readonly stream: SocketStream,
  ) {
    this.auth = authRequired(ctx.common, stream.remoteAddress);
    this.deadline = new Deadline(ctx.handshakeTimeoutMs, () => this.drop("handshake timed out"));
    stream.onData = (chunk) => this.onData(chunk);
    stream.onEnd = () => this.drop("client closed during the handshake");
    stream.onClose = () => this.deadline.clear();
    this.deadline.arm();
  }

  onData(chunk: Uint8Array): void {
    try {
      const data = joinPending(this.pending, chunk);
      this.pending = undefined;
      this.process(data);
    } catch (err) {
      this.ctx.log.error(`SOCKS ${this.stream.remoteAddress}: ${errorOf(err).message}`);
      this.drop("internal error");
    }
  }

  /** Consume whole messages from `data`; keep an incomplete tail for the next read. */
  private process(data: Uint8Array): void {
    let b = data;
    while (b.length > 0 && this.state !== H_DONE) {
      const used = this.step(b);
      if (used === NEED_MORE) {
        if (b.length > MAX_HANDSHAKE_BYTES) this.drop("handshake message too long");
        else this.pending = b;
        return;
      }
      if (used === HANDLED) return;
      b = b.subarray(used);
    }
  }

  /** One message: returns the bytes it used, NEED_MORE, or HANDLED. */
  private step(b: Uint8Array): number {
    switch (this.state) {
      case H_START:
        if (b[0] === SOCKS5) this.state = H_GREETING;
        else if (b[0] === SOCKS4) this.state = H_REQUEST4;
        else return this.drop("not a SOCKS handshake");
        return 0;
      case H_GREETING:
        return this.greeting(b);
      case H_AUTH:
        return this.credentials(b);
      case H_REQUEST5:
        return this.request5(b);
      case H_REQUEST4:
        return this.request4(b);
      default:
        return HANDLED;
    }
  }

  private greeting(b: Uint8Array): number {
    const g = parseGreeting(b, b.length);
    if (g === NEED_MORE) return NEED_MORE;
    if (typeof g === "number") return this.drop("malformed SOCKS5 greeting");
    let method = METHOD_NONE_ACCEPTABLE;
    if (this.auth) {
      if (g.userPass) method = METHOD_USER_PASS;
    } else if (g.noAuth) {
      method = METHOD_NO_AUTH;
    } else if (g.userPass) {
      // No users configured but the client insists on credentials: take whatever it sends.
      method = METHOD_USER_PASS;
      this.anyCredentials = true;
    }
    if (method === METHOD_NONE_ACCEPTABLE) {
      this.ctx.log.info(`SOCKS5 ${this.stream.remoteAddress}: no acceptable authentication method`);
      return this.answerAndClose(methodReply(METHOD_NONE_ACCEPTABLE));
    }
    this.stream.write(methodReply(method));
    this.state = method === METHOD_USER_PASS ? H_AUTH : H_REQUEST5;
    return g.end;
  }

  private credentials(b: Uint8Array): number {
    const c = parseUserPass(b, b.length);
    if (c === NEED_MORE) return NEED_MORE;
    if (typeof c === "number") return this.answerAndClose(AUTH_FAILED);
    if (!this.anyCredentials) {
      if (!checkUser(this.ctx.common, c.user, c.pass)) {
        this.ctx.log.info(`SOCKS5 ${this.stream.remoteAddress}: authentication failed for "${c.user}"`);
        return this.answerAndClose(AUTH_FAILED);
      }
      this.user = c.user;
    }
    this.stream.write(AUTH_OK);
    this.state = H_REQUEST5;
    return c.end;
  }

  private request5(b: Uint8Array): number {
    const r = parseRequest5(b, b.length);
    if (r === NEED_MORE) return NEED_MORE;
    if (r === BAD_ATYP) return this.answerAndClose(reply5(REP_ADDRESS_NOT_SUPPORTED, "0.0.0.0", 0));
    if (typeof r === "number") return this.answerAndClose(reply5(REP_GENERAL_FAILURE, "0.0.0.0", 0));
    const { address } = r;
    if (r.command === CMD_CONNECT) {
      this.connect("Socks5", address.host || address.ip, address.port, b.subarray(address.end));
      return HANDLED;
    }
    if (r.command === CMD_UDP_ASSOCIATE && this.ctx.udp) {
      this.associate(this.ctx.udp);
      return HANDLED;
    }
    return this.answerAndClose(reply5(REP_COMMAND_NOT_SUPPORTED, "0.0.0.0", 0));
  }

  private request4(b: Uint8Array): number {
    const r = parseRequest4(b, b.length, MAX_HANDSHAKE_BYTES);
    if (r === NEED_MORE) return NEED_MORE;
    if (typeof r === "number") return this.answerAndClose(reply4(SOCKS4_REJECTED, 0, "0.0.0.0"));
    if (r.command !== CMD_CONNECT) return this.answerAndClose(reply4(SOCKS4_REJECTED, r.port, r.ip));
    if (this.auth) {
      // SOCKS4 has only a user id: it passes when it names a configured user whose password is empty (as in mihomo).
      if (!checkUser(this.ctx.common, r.user, "")) {
        this.ctx.log.info(`SOCKS4 ${this.stream.remoteAddress}: user id "${r.user}" not accepted`);
        return this.answerAndClose(reply4(SOCKS4_IDENT_MISMATCH, r.port, r.ip));
      }
      this.user = r.user;
    }
    this.connect("Socks4", r.host || r.ip, r.port, b.subarray(r.end), r);
    return HANDLED;
  }

  /** CONNECT: the stream goes to the tunnel, paused until the reply is written. */
  private connect(
    kind: "Socks4" | "Socks5",
    host: string,
    port: number,
    early: Uint8Array,
    v4?: { port: number; ip: string },
  ): void {
    const { stream, ctx } = this;
    this.finishHandshake();
    stream.onData = undefined;
    stream.onEnd = undefined;
    stream.onClose = undefined;
    stream.pause();
    const metadata = tcpMetadata(ctx, stream, kind);
    setDestination(metadata, host, port);
    metadata.inboundUser = this.user;
    ctx.tunnel.handleTcp({
      metadata,
      stream,
      head: early.length > 0 ? early : undefined,
      onReady(result) {
        if (stream.closed) return;
        if (result.ok) {
          stream.write(v4 ? reply4(SOCKS4_GRANTED, v4.port, v4.ip) : reply5(REP_SUCCEEDED, stream.localAddress, stream.localPort));
          stream.resume();
        } else {
          endWithReply(stream, v4 ? reply4(SOCKS4_REJECTED, v4.port, v4.ip) : reply5(failureCode(result.error), "0.0.0.0", 0));
        }
      },
    });
  }

  /** UDP ASSOCIATE: reply with the relay's address; the association lasts as long as this connection. */
  private associate(udp: SocksUdpRelay): void {
    const { stream } = this;
    this.finishHandshake();
    stream.write(reply5(REP_SUCCEEDED, stream.localAddress, udp.port));
    udp.associate(stream, this.user);
  }

  private finishHandshake(): void {
    this.state = H_DONE;
    this.pending = undefined;
    this.deadline.clear();
  }

  private answerAndClose(reply: Uint8Array): number {
    this.finishHandshake();
    endWithReply(this.stream, reply);
    return HANDLED;
  }

  private drop(why: string): number {
    this.ctx.log.debug(`SOCKS ${this.stream.remoteAddress}:${this.stream.remotePort}: ${why}`);
    this.finishHandshake();
    this.stream.close(new Error(why));
    return HANDLED;
  }
}
