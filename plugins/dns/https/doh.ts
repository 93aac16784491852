/**
 * DNS over HTTPS (RFC 8484), as mihomo's client does it (dns/doh.go): GET `<path>?dns=<base64url>`
 * with `Accept: application/dns-message`, the query's id set to 0 (and the caller's put back on
 * the answer), no User-Agent, Basic authorization from the URL's userinfo. Over TLS the first
 * connection offers ALPN h2 and http/1.1: with h2 every query is a stream on one kept session,
 * otherwise (and for `http://`) they go over a small pool of HTTP/1.1 keep-alive connections.
 */
import { type ClientHttp2Session, constants, connect as h2connect } from "node:http2";
import { idOf, setId } from "../../../src/dns/message.ts";
import type { DialOptions, Duplex, Resolver, Transport } from "../../../src/sdk/index.ts";
import { NodeDuplexAdapter } from "../../transport/node-bridge.ts";
import { bounded, ConnectionLost, EXCHANGE_TIMEOUT_MS, ExchangeTimeout, IDLE_MS, named } from "../common.ts";
import type { Dial } from "../stream.ts";
import { checkReply } from "../wire.ts";
import { Http1Pool, type HttpReply, MAX_BODY } from "./http1.ts";

export interface DohTarget {
  /** The entry as messages name it. */
  what: string;
  /** `host[:port]` as in the URL: the :authority / Host of every request. */
  authority: string;
  path: string;
  /** `Basic …` from the URL's userinfo, if any. */
  authorization?: string;
}

/** TLS transports for the connections: `probe` offers h2 and http/1.1, `http1` only http/1.1. */
export interface DohTls {
  probe: Transport;
  http1: Transport;
}

/** One HTTP/2 session with its bookkeeping. */
class H2Link {
  /** Answers received: a session that has answered may have been closed by the server since. */
  served = 0;
  active = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly session: ClientHttp2Session) {}

  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }

  busy(): void {
    this.active++;
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }

  done(): void {
    if (--this.active > 0 || !this.usable) return;
    this.idle = setTimeout(() => this.session.close(), IDLE_MS);
  }

  destroy(): void {
    if (this.idle) clearTimeout(this.idle);
    this.session.destroy();
  }
}

export class DohResolver implements Resolver {
  /** Known once the first TLS connection has negotiated ALPN; `http://` is HTTP/1.1 from the start. */
  private mode: "unknown" | "h2" | "http1";
  private link: H2Link | undefined;
  private connecting: Promise<void> | undefined;
  private readonly connectAbort = new AbortController();
  private readonly http1: Http1Pool;
  private closed = false;

  constructor(
    private readonly target: DohTarget,
    private readonly dial: Dial,
    private readonly tls: DohTls | undefined,
  ) {
    this.mode = tls ? "unknown" : "http1";
    this.http1 = new Http1Pool(target.what, (signal) => this.open(signal, tls?.http1));
  }

  exchange(message: Uint8Array, options?: DialOptions): Promise<Uint8Array> {
    return bounded(this.target.what, options?.signal, (signal) => this.once(message, signal));
  }

  close(): void {
    this.closed = true;
    this.connectAbort.abort(new Error(`${this.target.what}: resolver closed`));
    this.link?.destroy();
    this.http1.close();
  }

  private async once(message: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const what = this.target.what;
    // RFC 8484 §4.1: id 0 keeps the request cacheable.
    const query = new Uint8Array(message);
    setId(query, 0);
    const reply = await this.get(`${this.target.path}?dns=${Buffer.from(query).toString("base64url")}`, signal);
    if (reply.status !== 200) throw new Error(`${what}: the server answered HTTP ${reply.status}`);
    const problem = checkReply(query, reply.body);
    if (problem) throw new Error(`${what}: ${problem === "foreign" ? "the body is not an answer to the query" : problem}`);
    setId(reply.body, idOf(message));
    return reply.body;
  }

  private async get(path: string, signal: AbortSignal): Promise<HttpReply> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error(`${this.target.what}: resolver closed`);
      if (this.mode !== "http1" && !this.link?.usable) await this.connectFirst(signal);
      if (this.mode === "http1") return this.http1.request(this.http1Head(path), signal);
      const link = this.link;
      // A session that has answered before (or vanished since it was opened) may be closed under us: once more on a new one.
      const retry = !link || link.served > 0;
      try {
        if (!link?.usable) throw new ConnectionLost(`${this.target.what}: connection closed`);
        return await this.h2Get(link, path, signal);
      } catch (err) {
        if (!(err instanceof ConnectionLost) || !retry || attempt > 0 || signal.aborted) throw err;
      }
    }
  }

  /** TCP (and TLS through `tls`) to the server, through its proxy if it has one. */
  private async open(signal: AbortSignal, tls: Transport | undefined): Promise<Duplex> {
    const raw = await this.dial(signal);
    if (!tls) return raw;
    try {
      return await tls.wrap(raw, { signal });
    } catch (err) {
      raw.close();
      throw err;
    }
  }

  /** Open a connection and learn from its ALPN whether this server speaks HTTP/2; shared by the queries waiting for it. */
  private connectFirst(signal: AbortSignal): Promise<void> {
    this.connecting ??= this.probe().finally(() => {
      this.connecting = undefined;
    });
    return untilAborted(this.connecting, signal);
  }

  private async probe(): Promise<void> {
    const c = new AbortController();
    const onClose = () => c.abort(this.connectAbort.signal.reason);
    this.connectAbort.signal.addEventListener("abort", onClose, { once: true });
    const timer = setTimeout(() => c.abort(new ExchangeTimeout(`${this.target.what}: no connection within ${EXCHANGE_TIMEOUT_MS / 1000} s`)), EXCHANGE_TIMEOUT_MS);
    try {
      const stream = await this.open(c.signal, this.tls!.probe);
      if (this.closed) {
        stream.close();
        return;
      }
      if ((stream as Duplex & { alpn?: string }).alpn === "h2") {
        this.mode = "h2";
        this.link = this.session(stream);
      } else {
        this.mode = "http1";
        this.http1.adopt(stream);
      }
    } catch (err) {
      throw named(this.target.what, err);
    } finally {
      clearTimeout(timer);
      this.connectAbort.signal.removeEventListener("abort", onClose);
    }
  }

  private session(stream: Duplex): H2Link {
    const session = h2connect(`https://${this.target.authority}`, { createConnection: () => new NodeDuplexAdapter(stream) });
    const link = new H2Link(session);
    const forget = () => {
      if (this.link === link) this.link = undefined;
    };
    // A GOAWAY lets the streams in flight finish; new queries open a new session.
    session.on("goaway", forget);
    session.on("close", forget);
    // Errors reach the streams in flight; without a listener node would throw them.
    session.on("error", forget);
    return link;
  }

  private h2Get(link: H2Link, path: string, signal: AbortSignal): Promise<HttpReply> {
    const what = this.target.what;
    const headers: Record<string, string> = {
      ":method": "GET",
      ":scheme": "https",
      ":authority": this.target.authority,
      ":path": path,
      accept: "application/dns-message",
    };
    if (this.target.authorization) headers.authorization = this.target.authorization;
    const lost = (why: string) => (link.usable ? new Error(`${what}: ${why}`) : new ConnectionLost(`${what}: connection closed (${why})`));
    return new Promise<HttpReply>((resolve, reject) => {
      let req: ReturnType<ClientHttp2Session["request"]>;
      try {
        req = link.session.request(headers, { endStream: true });
      } catch (err) {
        reject(lost(err instanceof Error ? err.message : String(err)));
        return;
      }
      link.busy();
      let status = 0;
      let size = 0;
      const parts: Buffer[] = [];
      let done = false;
      const finish = (err: Error | undefined, reply?: HttpReply) => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        link.done();
        if (!err) {
          link.served++;
          resolve(reply!);
          return;
        }
        if (!req.closed) req.close(constants.NGHTTP2_CANCEL);
        reject(err);
      };
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("response", (h) => {
        status = Number(h[":status"]);
      });
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) finish(new Error(`${what}: response body too large for a DNS message`));
        else parts.push(chunk);
      });
      req.on("end", () => finish(undefined, { status, body: new Uint8Array(Buffer.concat(parts)) }));
      req.on("error", (err: Error) => finish(lost(err.message)));
      req.on("close", () => finish(lost("the stream closed before the answer")));
    });
  }

  private http1Head(path: string): string {
    const auth = this.target.authorization ? `Authorization: ${this.target.authorization}\r\n` : "";
    return `GET ${path} HTTP/1.1\r\nHost: ${this.target.authority}\r\nAccept: application/dns-message\r\n${auth}\r\n`;
  }
}

/** `p`, or the signal's reason when it aborts first. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener("abort", onAbort!));
}
