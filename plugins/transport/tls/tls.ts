/**
 * TLS client over any Duplex. Two paths, measured against nginx over loopback, 256 MiB each way
 * (scripts/bench-transports.ts, client CPU per GiB, medians of 5; plain TCP: 0.70 down / 0.11 up):
 * - native, 1.06 down / 0.30 up: the stream is a plain Bun TCP socket, upgraded in place with
 *   `socket.upgradeTLS` so the bytes stay in Bun's socket layer. The common case (TLS straight to
 *   the server) takes it.
 * - node, 1.09 down / 0.96 up: anything else (a stream through a dialer-proxy, TLS inside a
 *   WebSocket) goes through `node:tls` over a Node adapter of our Duplex.
 */
import { createHash } from "node:crypto";
import type { Duplex as NodeDuplex } from "node:stream";
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate, rootCertificates, connect as tlsConnect } from "node:tls";
import type { Socket, TLSOptions } from "bun";
import { SocketStream, socketHandlers } from "../../../src/core/socket-stream.ts";
import type { DialOptions, Duplex, TlsTransportOptions } from "../../../src/sdk/index.ts";
import { NodeDuplexAdapter, NodeStreamDuplex } from "../node-bridge.ts";

/** A TLS stream; `alpn` is the negotiated protocol ("" when none). */
export interface TlsDuplex extends Duplex {
  readonly alpn: string;
}

/** TLS on a Bun socket: a SocketStream whose socket is the TLS side of `upgradeTLS`. */
class NativeTlsStream extends SocketStream implements TlsDuplex {
  get alpn(): string {
    return this.socket?.alpnProtocol || "";
  }
}

class NodeTlsStream extends NodeStreamDuplex implements TlsDuplex {
  constructor(
    node: NodeDuplex,
    remoteAddress: string,
    readonly alpn: string,
  ) {
    super(node, remoteAddress);
  }
}

/** Settings prepared once per transport instance, shared by its connections. */
export class TlsClient {
  private readonly pin: string | undefined;
  private readonly verify: boolean;
  private readonly bunTls: TLSOptions;
  private readonly nodeTls: ConnectionOptions;

  constructor(readonly options: TlsTransportOptions) {
    this.pin = options.fingerprint?.replaceAll(":", "").toLowerCase();
    // A pin replaces chain verification, as in mihomo.
    this.verify = !options.skipCertVerify && !this.pin;
    const ca = options.ca && options.ca.length > 0 ? [...rootCertificates, ...options.ca] : undefined;
    // Verification is done in our handshake callback (so the error names what failed), never by
    // the TLS library tearing the connection down on its own.
    this.bunTls = { serverName: options.serverName, rejectUnauthorized: false };
    this.nodeTls = { servername: options.serverName, rejectUnauthorized: false };
    if (ca) {
      this.bunTls.ca = ca;
      this.nodeTls.ca = ca;
    }
    if (options.alpn && options.alpn.length > 0) {
      this.bunTls.ALPNProtocols = alpnWire(options.alpn);
      this.nodeTls.ALPNProtocols = options.alpn;
    }
  }

  wrap(stream: Duplex, dial?: DialOptions): Promise<TlsDuplex> {
    dial?.signal?.throwIfAborted();
    const handshake =
      stream instanceof SocketStream && !(stream instanceof NativeTlsStream) && stream.socket && !stream.closed
        ? this.native(stream.socket, stream.remoteAddress)
        : this.node(stream);
    const signal = dial?.signal;
    if (!signal) return handshake.promise;
    const onAbort = () => handshake.abort(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    return handshake.promise.finally(() => signal.removeEventListener("abort", onAbort));
  }

  /** Why the peer's certificate is refused, or undefined when it is accepted. */
  private check(leafDer: Uint8Array | undefined, chainError: Error | null, cert: () => PeerCertificate): Error | undefined {
    const name = this.options.serverName;
    if (this.pin) {
      const got = leafDer ? createHash("sha256").update(leafDer).digest("hex") : "none";
      if (got !== this.pin) return new Error(`TLS ${name}: certificate fingerprint mismatch: expected ${this.pin}, got ${got}`);
      return undefined;
    }
    if (!this.verify) return undefined;
    if (chainError) return new Error(`TLS ${name}: ${chainError.message}`);
    const hostError = checkServerIdentity(name, cert());
    return hostError ? new Error(`TLS ${name}: ${hostError.message}`) : undefined;
  }

  private native(socket: Socket<SocketStream>, remoteAddress: string): Handshake {
    const out = new NativeTlsStream();
    let settle: ((err?: Error) => void) | undefined;
    let tlsSocket: Socket<SocketStream> | undefined;
    const promise = new Promise<TlsDuplex>((resolve, reject) => {
      settle = (err) => {
        settle = undefined;
        if (!err) {
          resolve(out);
          return;
        }
        tlsSocket?.terminate();
        reject(err);
      };
    });
    const [raw, tls] = socket.upgradeTLS<SocketStream>({
      data: out,
      tls: this.bunTls,
      socket: {
        ...socketHandlers,
        // Attached once verified: nothing may reach the stream before.
        open() {},
        handshake: (s, _ok, err) => {
          if (!settle) return;
          const problem = this.check(s.getPeerX509Certificate()?.raw, err, () => s.getPeerCertificate());
          if (!problem) out.attach(s);
          settle(problem);
        },
        close(s, err) {
          if (settle) settle(new Error(`TLS ${s.getServername() || remoteAddress}: connection closed during handshake${err ? `: ${err.message}` : ""}`));
          else s.data.handleClose(err);
        },
        error(s, err) {
          if (settle) settle(err);
          else s.data.close(err);
        },
      },
    });
    tlsSocket = tls;
    // The raw side still reports ciphertext to its old handlers: route it nowhere, so the plain
    // stream we were given goes quiet instead of seeing TLS records.
    raw.reload({ socket: { data() {} } });
    return { promise, abort: (err) => settle?.(err) };
  }

  private node(stream: Duplex): Handshake {
    const sock = tlsConnect({ ...this.nodeTls, socket: new NodeDuplexAdapter(stream) });
    let settle: ((err?: Error) => void) | undefined;
    const promise = new Promise<TlsDuplex>((resolve, reject) => {
      settle = (err) => {
        settle = undefined;
        sock.off("secureConnect", onSecure);
        sock.off("error", onError);
        sock.off("close", onClose);
        if (!err) {
          resolve(new NodeTlsStream(sock, stream.remoteAddress, sock.alpnProtocol || ""));
          return;
        }
        sock.destroy();
        reject(err);
      };
    });
    const onSecure = () => {
      // node:tls reports only a code; a name mismatch is re-checked below for a message that says which names.
      const code = sock.authorized ? "" : String(sock.authorizationError ?? "UNKNOWN");
      const authError = code && code !== "ERR_TLS_CERT_ALTNAME_INVALID" ? new Error(`certificate not trusted (${code})`) : null;
      settle?.(this.check(sock.getPeerX509Certificate()?.raw, authError, () => sock.getPeerCertificate()));
    };
    const onError = (err: Error) => settle?.(new Error(`TLS ${this.options.serverName}: ${err.message}`));
    const onClose = () => settle?.(new Error(`TLS ${this.options.serverName}: connection closed during handshake`));
    sock.once("secureConnect", onSecure);
    sock.once("error", onError);
    sock.once("close", onClose);
    return { promise, abort: (err) => settle?.(err) };
  }
}

interface Handshake {
  promise: Promise<TlsDuplex>;
  abort(err: Error): void;
}

/** ALPN names in the TLS wire format (length-prefixed), which Bun's socket API expects. */
function alpnWire(names: string[]): Uint8Array {
  const parts = names.map((n) => new TextEncoder().encode(n));
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out[i++] = p.length;
    out.set(p, i);
    i += p.length;
  }
  return out;
}
