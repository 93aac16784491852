/**
 * The HTTP proxy protocol on one client connection: CONNECT tunnels and absolute-URI requests with
 * keep-alive. A CONNECT hands the client stream itself to the tunnel. Plain requests are rewritten
 * to origin-form and sent through an "upstream side" Duplex per destination, so each destination
 * is one tunnel connection (as mihomo shows them) while the client connection lives on.
 */
import type { SocketStream } from "../../../src/core/socket-stream.ts";
import type { Duplex } from "../../../src/sdk/index.ts";
import { latin1, setDestination, splitHostPort } from "../address.ts";
import {
  authRequired,
  type ConnContext,
  checkUser,
  DRAIN_LINGER_MS,
  Deadline,
  endWithReply,
  errorOf,
  joinPending,
  tcpMetadata,
} from "../shared.ts";
import {
  bytesEqualLower,
  ChunkedScanner,
  contentLength,
  FIELD,
  fieldValue,
  findField,
  findHeadEnd,
  hasLastToken,
  hasToken,
  listValue,
  MALFORMED,
  MAX_HEAD_BYTES,
  NEED_MORE,
  parseAbsoluteUri,
  parseFields,
  parseRequestLine,
  type RequestLine,
  ResponseScanner,
} from "./parse.ts";

const encoder = new TextEncoder();

function response(status: string, extra = ""): Uint8Array {
  return encoder.encode(`HTTP/1.1 ${status}\r\n${extra}Content-Length: 0\r\n\r\n`);
}

const CLOSE = "Connection: close\r\n";
const BAD_REQUEST = response("400 Bad Request", CLOSE);
const TOO_LARGE = response("431 Request Header Fields Too Large", CLOSE);
const BAD_GATEWAY = response("502 Bad Gateway", CLOSE);
const AUTH_HEADER = 'Proxy-Authenticate: Basic realm="ferry"\r\n';
const AUTH_REQUIRED = response("407 Proxy Authentication Required", AUTH_HEADER);
const AUTH_REQUIRED_CLOSE = response("407 Proxy Authentication Required", AUTH_HEADER + CLOSE);
// mihomo answers CONNECT in the request's HTTP version (some clients insist on it).
const ESTABLISHED = [
  encoder.encode("HTTP/1.0 200 Connection established\r\n\r\n"),
  encoder.encode("HTTP/1.1 200 Connection established\r\n\r\n"),
];

/** Hop-by-hop fields never forwarded (RFC 9110 §7.6.1, plus the proxy's own). */
const HOP_BY_HOP = ["connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade"];

function isHopByHop(data: Uint8Array, ns: number, ne: number): boolean {
  for (const name of HOP_BY_HOP) if (bytesEqualLower(data, ns, ne, name)) return true;
  return false;
}

// Client-side states.
const Q_HEAD = 0; // reading a request head
const Q_BODY = 1; // forwarding a Content-Length body
const Q_CHUNKED = 2; // forwarding a chunked body
const Q_HOLD = 3; // not reading: upstream connecting, or waiting for the response to finish
const Q_RAW = 4; // upgraded (101): bytes both ways untouched
const Q_DONE = 5; // handed off or finished

const PAUSE_UPSTREAM = 1;
const PAUSE_HOLD = 2;

/**
 * Entry point for http and mixed listeners: serve one accepted client connection. `first` holds
 * bytes already read from it (mixed peeks at the first chunk).
 */
export function handleHttp(ctx: ConnContext, stream: SocketStream, first?: Uint8Array): void {
  const session = new HttpSession(ctx, stream);
  if (first) session.onClientData(first);
}

/**
 * The tunnel's view of one upstream: it reads the client's (rewritten) requests from here and
 * writes the origin's responses into it. Everything is forwarded to the session.
 */
class UpstreamSide implements Duplex {
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;
  onClose: ((err?: Error) => void) | undefined;
  closed = false;
  /** The tunnel has reported the outbound connected. */
  connected = false;
  /** Another request may follow on this upstream. */
  reusable = true;
  /** Response bytes for the current request have been forwarded. */
  responding = false;
  readonly response = new ResponseScanner();
  private sink: ((chunk: Uint8Array) => void) | undefined;
  /** Request bytes emitted before the tunnel attached `onData` (kept in order). */
  private held: Uint8Array[] | undefined;

  constructor(
    private readonly session: HttpSession,
    readonly key: string,
  ) {}

  get remoteAddress(): string {
    return this.session.clientAddress;
  }

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.sink;
  }

  set onData(fn: ((chunk: Uint8Array) => void) | undefined) {
    this.sink = fn;
    if (fn && this.held) queueMicrotask(() => this.flushHeld());
  }

  /** Client bytes for the origin. */
  emit(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.sink && !this.held) this.sink(chunk);
    else if (this.held) this.held.push(chunk);
    else this.held = [chunk];
  }

  private flushHeld(): void {
    const held = this.held;
    this.held = undefined;
    if (!held || this.closed) return;
    for (const chunk of held) this.emit(chunk);
  }

  write(chunk: Uint8Array): boolean {
    return this.session.fromUpstream(this, chunk);
  }

  end(): void {
    this.session.upstreamEnded(this);
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.held = undefined;
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(err);
    this.session.upstreamClosed(this);
  }

  pause(): void {
    this.session.pauseFromUpstream(this, true);
  }

  resume(): void {
    this.session.pauseFromUpstream(this, false);
  }
}

class HttpSession {
  private state = Q_HEAD;
  /** Client bytes not consumed yet: a partial head, or input held while in Q_HOLD. */
  private pending: Uint8Array | undefined;
  /** How much of `pending` is a head already scanned for its end. */
  private scanned = 0;
  private remaining = 0;
  private readonly chunked = new ChunkedScanner();
  private up: UpstreamSide | undefined;
  /** State to enter when the upstream being dialled is ready. */
  private afterConnect = Q_HOLD;
  private requestDone = true;
  private keepAlive = true;
  private clientEnded = false;
  private trusted: boolean;
  private user = "";
  private paused = 0;
  private resumeQueued = false;
  private readonly deadline: Deadline;

  constructor(
    private readonly ctx: ConnContext,
    private readonly stream: SocketStream,
  ) {
    this.trusted = !authRequired(ctx.common, stream.remoteAddress);
    this.deadline = new Deadline(ctx.handshakeTimeoutMs, () => this.abort("request head timed out"));
    stream.onData = (chunk) => this.onClientData(chunk);
    stream.onEnd = () => this.guard(() => this.onClientEnd());
    stream.onClose = () => this.guard(() => this.onClientClose());
    stream.onDrain = () => this.up?.onDrain?.();
    this.deadline.arm();
  }

  get clientAddress(): string {
    return this.stream.remoteAddress;
  }

  /** Socket callbacks must never throw: a bug or a bad input closes this connection only. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.crashed(err);
    }
  }

  private crashed(err: unknown): void {
    this.ctx.log.error(`HTTP ${this.clientAddress}: ${errorOf(err).message}`);
    this.abort("internal error");
  }

  // Per-chunk paths use try/catch inline rather than guard(), which would allocate a closure per chunk.
  onClientData(chunk: Uint8Array): void {
    try {
      const data = joinPending(this.pending, chunk);
      this.pending = undefined;
      this.feed(data);
    } catch (err) {
      this.crashed(err);
    }
  }

  /** Run client bytes through the request state machine; body bytes are forwarded as views, not copies. */
  private feed(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      switch (this.state) {
        case Q_HEAD: {
          const next = this.takeHead(data, off);
          if (next < 0) return;
          off = next;
          break;
        }
        case Q_BODY: {
          const n = Math.min(this.remaining, data.length - off);
          this.up?.emit(off === 0 && n === data.length ? data : data.subarray(off, off + n));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.requestFinished();
          break;
        }
        case Q_CHUNKED: {
          const r = this.chunked.scan(data, off, data.length);
          if (r === MALFORMED) {
            this.abort("malformed chunked request body");
            return;
          }
          const stop = r === NEED_MORE ? data.length : r;
          this.up?.emit(off === 0 && stop === data.length ? data : data.subarray(off, stop));
          off = stop;
          if (r !== NEED_MORE) this.requestFinished();
          break;
        }
        case Q_RAW:
          this.up?.emit(off === 0 ? data : data.subarray(off));
          return;
        case Q_HOLD:
          this.pending = off === 0 ? data : data.subarray(off);
          this.scanned = 0;
          return;
        default:
          return;
      }
    }
  }

  /** Find and act on a request head at data[off…]; returns where to continue, or -1 to stop. */
  private takeHead(data: Uint8Array, off: number): number {
    if (this.scanned === 0) {
      // Empty lines before a request line are ignored (RFC 9112 §2.2).
      while (off < data.length && (data[off] === 13 || data[off] === 10)) off++;
      if (off === data.length) {
        if (this.clientEnded) this.finish();
        return off;
      }
    }
    const end = findHeadEnd(data, off + Math.max(0, this.scanned - 3), data.length);
    if (end < 0) {
      if (data.length - off > MAX_HEAD_BYTES) return this.reject(TOO_LARGE, "request head too large");
      if (this.clientEnded) {
        this.abort("client closed in the middle of a request head");
        return -1;
      }
      this.pending = off === 0 ? data : data.subarray(off);
      this.scanned = this.pending.length;
      return -1;
    }
    this.scanned = 0;
    if (end - off > MAX_HEAD_BYTES) return this.reject(TOO_LARGE, "request head too large");
    this.deadline.clear();
    const line = parseRequestLine(data, off, end);
    const fields = line && parseFields(data, line.fieldsStart, end);
    if (!line || !fields) return this.reject(BAD_REQUEST, "malformed request head");
    if (!this.trusted && !this.authenticate(data, fields)) {
      this.ctx.log.info(`HTTP ${this.clientAddress}: proxy authentication failed`);
      const bodyless = findField(data, fields, "transfer-encoding") < 0 && contentLength(data, fields) <= 0;
      if (!bodyless || !this.wantsKeepAlive(data, fields, line.minor)) {
        return this.reject(AUTH_REQUIRED_CLOSE, "");
      }
      this.stream.write(AUTH_REQUIRED);
      this.deadline.arm();
      return end;
    }
    if (line.method === "CONNECT") {
      this.connect(line, data, end);
      return -1;
    }
    return this.request(line, fields, data, end);
  }

  /** Proxy-Authorization: Basic base64(user:pass). Once it passes, the connection is trusted (as mihomo does). */
  private authenticate(data: Uint8Array, fields: number[]): boolean {
    const i = findField(data, fields, "proxy-authorization");
    if (i < 0) return false;
    const value = fieldValue(data, fields, i);
    if (value.length < 7 || value.slice(0, 6).toLowerCase() !== "basic ") return false;
    const plain = Buffer.from(value.slice(6).trim(), "base64").toString("utf8");
    const colon = plain.indexOf(":");
    if (colon < 0) return false;
    const user = plain.slice(0, colon);
    if (!checkUser(this.ctx.common, user, plain.slice(colon + 1))) return false;
    this.trusted = true;
    this.user = user;
    return true;
  }

  private wantsKeepAlive(data: Uint8Array, fields: number[], minor: number): boolean {
    const connection = `${listValue(data, fields, "connection")},${listValue(data, fields, "proxy-connection")}`;
    return minor === 1 ? !hasToken(connection, "close") : hasToken(connection, "keep-alive");
  }

  /** CONNECT: hand the client stream to the tunnel; answer 200 once the outbound is up. */
  private connect(line: RequestLine, data: Uint8Array, end: number): void {
    const target = splitHostPort(line.target);
    if (!target || target.port === 0) {
      this.reject(BAD_REQUEST, `bad CONNECT target "${line.target}"`);
      return;
    }
    this.dropUpstream();
    this.state = Q_DONE;
    const { stream, ctx } = this;
    const metadata = tcpMetadata(ctx, stream, "HTTPS");
    setDestination(metadata, target.host, target.port);
    metadata.inboundUser = this.user;
    stream.onData = undefined;
    stream.onEnd = undefined;
    stream.onClose = undefined;
    stream.onDrain = undefined;
    // Paused until the reply is written, so no byte arrives before the tunnel relays.
    stream.pause();
    const established = ESTABLISHED[line.minor]!;
    ctx.tunnel.handleTcp({
      metadata,
      stream,
      head: end < data.length ? data.subarray(end) : undefined,
      onReady(result) {
        if (stream.closed) return;
        if (result.ok) {
          stream.write(established);
          stream.resume();
        } else {
          endWithReply(stream, BAD_GATEWAY);
        }
      },
    });
  }

  /** An absolute-URI request: rewrite it and send it to the upstream for its destination. */
  private request(line: RequestLine, fields: number[], data: Uint8Array, end: number): number {
    const uri = parseAbsoluteUri(line.target);
    if (!uri) return this.reject(BAD_REQUEST, `not an absolute http URI: "${line.target.slice(0, 100)}"`);
    const te = listValue(data, fields, "transfer-encoding");
    let bodyState = Q_HOLD;
    let length = 0;
    if (te) {
      // A request body must end with chunked framing to be delimited (RFC 9112 §6.3).
      if (!hasLastToken(te, "chunked")) return this.reject(BAD_REQUEST, "unsupported transfer-encoding");
      bodyState = Q_CHUNKED;
    } else {
      length = contentLength(data, fields);
      if (length === MALFORMED) return this.reject(BAD_REQUEST, "bad content-length");
      if (length > 0) bodyState = Q_BODY;
    }
    this.keepAlive = this.wantsKeepAlive(data, fields, line.minor);
    const head = rewriteHead(line, uri.path, uri.authority, fields, data, bodyState === Q_CHUNKED, !this.keepAlive);
    const key = `${uri.host.toLowerCase()}:${uri.port}`;
    this.requestDone = bodyState === Q_HOLD;
    this.remaining = length;
    if (bodyState === Q_CHUNKED) this.chunked.reset();
    let up = this.up;
    if (up && up.key === key && up.reusable && up.connected && !up.closed) {
      up.response.begin(line.method === "HEAD");
      up.responding = false;
      up.emit(head);
      this.setState(bodyState);
      return end;
    }
    this.dropUpstream();
    up = new UpstreamSide(this, key);
    this.up = up;
    up.response.begin(line.method === "HEAD");
    this.afterConnect = bodyState;
    this.setState(Q_HOLD);
    const metadata = tcpMetadata(this.ctx, this.stream, "HTTP");
    setDestination(metadata, uri.host, uri.port);
    metadata.inboundUser = this.user;
    const dialled = up;
    this.ctx.tunnel.handleTcp({
      metadata,
      stream: up,
      head,
      onReady: (result) => this.guard(() => this.upstreamReady(dialled, result.ok)),
    });
    return end;
  }

  private upstreamReady(up: UpstreamSide, ok: boolean): void {
    if (up !== this.up || this.state === Q_DONE) return;
    if (!ok) {
      this.fail();
      return;
    }
    up.connected = true;
    this.setState(this.afterConnect);
    this.resumeInput();
  }

  /** The request (head and body) has been sent. */
  private requestFinished(): void {
    this.requestDone = true;
    if (this.up?.response.active) this.setState(Q_HOLD);
    else this.exchangeFinished();
  }

  /** Response bytes from the origin, forwarded unchanged to the client. */
  fromUpstream(up: UpstreamSide, chunk: Uint8Array): boolean {
    if (up !== this.up || this.state === Q_DONE) return true;
    try {
      return this.forwardResponse(up, chunk);
    } catch (err) {
      this.crashed(err);
      return false;
    }
  }

  private forwardResponse(up: UpstreamSide, chunk: Uint8Array): boolean {
    const r = up.response.scan(chunk, chunk.length);
    if (r === MALFORMED) {
      this.abort(`malformed or unexpected response from ${up.key}`);
      return false;
    }
    up.responding = true;
    let out = chunk;
    if (r >= 0 && r < chunk.length) {
      // Bytes past the end of the response: the upstream is out of step; never reuse it.
      out = chunk.subarray(0, r);
      up.reusable = false;
    }
    const ok = this.stream.write(out);
    if (up.response.upgraded && this.state !== Q_RAW) {
      this.setState(Q_RAW);
      this.resumeInput();
    } else if (r >= 0) {
      if (up.response.closes) up.reusable = false;
      this.responseFinished();
    }
    return ok;
  }

  private responseFinished(): void {
    if (this.requestDone) this.exchangeFinished();
  }

  /** Request and response both complete: next request, or close as the client asked. */
  private exchangeFinished(): void {
    if (!this.keepAlive || this.clientEnded) {
      this.finish();
      return;
    }
    if (this.up && !this.up.reusable) this.dropUpstream();
    this.setState(Q_HEAD);
    this.deadline.arm();
    this.resumeInput();
  }

  /**
   * Process held client input later, outside the tunnel callback that got us here (re-entering
   * the relay from its own write path is asking for trouble). Input that arrives meanwhile is
   * appended to `pending`, so order is kept.
   */
  private resumeInput(): void {
    if (!this.pending || this.state === Q_HOLD || this.resumeQueued) return;
    this.resumeQueued = true;
    queueMicrotask(() => {
      this.resumeQueued = false;
      const held = this.pending;
      if (!held || this.state === Q_DONE || this.state === Q_HOLD) return;
      this.pending = undefined;
      this.guard(() => this.feed(held));
    });
  }

  upstreamEnded(up: UpstreamSide): void {
    this.guard(() => {
      if (up !== this.up || this.state === Q_DONE) return;
      up.reusable = false;
      if (this.state === Q_RAW) this.stream.end();
      else if (up.response.active) this.upstreamLost(up, true);
      else this.dropUpstream();
    });
  }

  upstreamClosed(up: UpstreamSide): void {
    this.guard(() => {
      if (up !== this.up || this.state === Q_DONE) return;
      this.up = undefined;
      if (this.state === Q_RAW) this.finish();
      else if (up.response.active) this.upstreamLost(up, false);
      this.paused &= ~PAUSE_UPSTREAM;
      this.applyPause();
    });
  }

  /**
   * The upstream ended (`clean`: its EOF) or closed (error, or closed from the API) with a response
   * due or in progress. Only a clean EOF completes a close-delimited response.
   */
  private upstreamLost(up: UpstreamSide, clean: boolean): void {
    if (clean && up.response.untilClose) {
      up.response.complete();
      this.keepAlive = false;
      this.responseFinished();
    } else if (!up.responding) {
      this.fail();
    } else {
      this.abort(`${up.key} closed in the middle of a response`);
    }
  }

  pauseFromUpstream(up: UpstreamSide, on: boolean): void {
    if (up !== this.up) return;
    if (on) this.paused |= PAUSE_UPSTREAM;
    else this.paused &= ~PAUSE_UPSTREAM;
    this.applyPause();
  }

  private setState(state: number): void {
    this.state = state;
    if (state === Q_HOLD) this.paused |= PAUSE_HOLD;
    else this.paused &= ~PAUSE_HOLD;
    this.applyPause();
  }

  private applyPause(): void {
    if (this.state === Q_DONE) return;
    if (this.paused) this.stream.pause();
    else this.stream.resume();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    switch (this.state) {
      case Q_RAW:
        this.up?.onEnd?.();
        break;
      case Q_HOLD:
        // The response (or the dial) is still due; exchangeFinished closes afterwards.
        break;
      case Q_HEAD:
        // Held input still to be processed may hold whole requests; a partial head cannot complete.
        if (this.resumeQueued) break;
        if (this.pending) this.abort("client closed in the middle of a request head");
        else this.finish();
        break;
      default:
        this.abort("client closed in the middle of a request body");
    }
  }

  private onClientClose(): void {
    this.deadline.clear();
    this.state = Q_DONE;
    this.dropUpstream();
  }

  private dropUpstream(): void {
    const up = this.up;
    this.up = undefined;
    this.paused &= ~PAUSE_UPSTREAM;
    up?.close();
  }

  /** The upstream could not serve the request before any response byte: 502, then close. */
  private fail(): void {
    this.state = Q_DONE;
    this.deadline.clear();
    this.dropUpstream();
    endWithReply(this.stream, BAD_GATEWAY);
  }

  /** Answer an error and close; returns -1 so the parser stops. */
  private reject(reply: Uint8Array, why: string): number {
    if (why) this.ctx.log.debug(`HTTP ${this.clientAddress}: ${why}`);
    this.state = Q_DONE;
    this.deadline.clear();
    this.dropUpstream();
    endWithReply(this.stream, reply);
    return -1;
  }

  /** Orderly end: everything answered, close the client connection once its output is flushed. */
  private finish(): void {
    this.state = Q_DONE;
    this.deadline.clear();
    this.dropUpstream();
    endWithReply(this.stream, undefined, DRAIN_LINGER_MS);
  }

  private abort(why: string): void {
    if (why) this.ctx.log.debug(`HTTP ${this.clientAddress}: ${why}`);
    this.state = Q_DONE;
    this.deadline.clear();
    this.dropUpstream();
    // With an error the close is abortive (RST): a cut response must not look complete to the client.
    this.stream.close(new Error(why || "aborted"));
  }
}

/**
 * The request head for the origin: origin-form request line, hop-by-hop and proxy fields removed
 * (and those the Connection field names), Host added if the client left it out. Upgrade requests
 * keep `Upgrade` and get `Connection: Upgrade`; a client that closes afterwards passes on
 * `Connection: close`. With chunked framing a Content-Length is dropped
 * (RFC 9112 §6.3, against request smuggling).
 */
function rewriteHead(
  line: RequestLine,
  path: string,
  authority: string,
  fields: number[],
  data: Uint8Array,
  chunked: boolean,
  closing: boolean,
): Uint8Array {
  const connection = listValue(data, fields, "connection");
  const upgrade = hasToken(connection, "upgrade") && findField(data, fields, "upgrade") >= 0;
  let named: Set<string> | undefined;
  if (connection) {
    for (const token of connection.split(",")) {
      const t = token.trim().toLowerCase();
      if (!t || t === "close" || t === "keep-alive" || t === "upgrade") continue;
      named ??= new Set();
      named.add(t);
    }
  }
  const keep: number[] = [];
  let size = 0;
  let hasHost = false;
  for (let i = 0; i < fields.length; i += FIELD) {
    const ns = fields[i]!;
    const ne = fields[i + 1]!;
    if (bytesEqualLower(data, ns, ne, "host")) hasHost = true;
    else if (upgrade && bytesEqualLower(data, ns, ne, "upgrade")) {
      // kept for the protocol switch
    } else if (isHopByHop(data, ns, ne)) continue;
    else if (chunked && bytesEqualLower(data, ns, ne, "content-length")) continue;
    else if (named?.has(latin1(data, ns, ne).toLowerCase())) continue;
    keep.push(i);
    size += fields[i + 4]! - ns;
  }
  // A client that closes after this exchange must get an origin's `Connection: close`, not a
  // keep-alive answer followed by an unannounced close (wrk counts those as errors).
  const conn = upgrade ? "Connection: Upgrade\r\n" : closing && line.minor === 1 ? "Connection: close\r\n" : "";
  const start = `${line.method} ${path} HTTP/1.${line.minor}\r\n${hasHost ? "" : `Host: ${authority}\r\n`}${conn}`;
  const out = Buffer.allocUnsafe(start.length + size + 2);
  // latin1 round-trips the request-target bytes exactly as the client sent them.
  let p = out.write(start, 0, "latin1");
  for (const i of keep) {
    out.set(data.subarray(fields[i]!, fields[i + 4]!), p);
    p += fields[i + 4]! - fields[i]!;
  }
  out[p++] = 13;
  out[p++] = 10;
  return out.subarray(0, p);
}
