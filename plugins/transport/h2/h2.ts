/**
 * v2ray's "http" (HTTP/2) transport, mihomo's `network: h2`: one HTTP/2 connection per proxied
 * connection, one PUT stream on it whose request body carries the upload and whose response body
 * carries the download. Runs on node:http2 over the TLS stream (which must have negotiated ALPN
 * h2: mihomo always uses TLS here); Node streams are confined to this transport.
 */
import { connect as h2connect } from "node:http2";
import type { DialOptions, Duplex, H2TransportOptions } from "../../../src/sdk/index.ts";
import { NodeDuplexAdapter, NodeStreamDuplex } from "../node-bridge.ts";

export interface H2Request {
  scheme: "https" | "http";
  authority: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
}

/** Negotiated ALPN of a TLS stream from the tls transport; undefined for a stream without TLS. */
export function alpnOf(s: Duplex): string | undefined {
  return (s as Duplex & { alpn?: string }).alpn;
}

/**
 * One HTTP/2 connection over `inner` carrying one stream; resolves once the server answered 200.
 * The connection lives exactly as long as its stream.
 */
export function openH2Stream(inner: Duplex, r: H2Request, signal: AbortSignal | undefined, what: string): Promise<Duplex> {
  const socket = new NodeDuplexAdapter(inner);
  const session = h2connect(`${r.scheme}://${r.authority}`, { createConnection: () => socket });
  const req = session.request({ ":method": r.method, ":scheme": r.scheme, ":authority": r.authority, ":path": r.path, ...r.headers }, { endStream: false });
  req.on("close", () => session.destroy());
  // Created now, so it keeps the data that arrives together with the response headers.
  const stream = new NodeStreamDuplex(req, inner.remoteAddress);
  return new Promise<Duplex>((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      session.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    const onError = (err: Error) => fail(new Error(`${what}: ${err.message}`));
    const onClose = () => fail(new Error(`${what}: the stream closed before a response`));
    const onResponse = (headers: Record<string, unknown>) => {
      const status = Number(headers[":status"]);
      if (status !== 200) {
        fail(new Error(`${what}: the server answered ${status}`));
        return;
      }
      cleanup();
      resolve(stream);
    };
    const cleanup = () => {
      signal?.removeEventListener("abort", onAbort);
      session.off("error", onError);
      req.off("error", onError);
      req.off("close", onClose);
      req.off("response", onResponse);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    session.on("error", onError);
    req.on("error", onError);
    req.on("close", onClose);
    req.on("response", onResponse);
  });
}

export class H2Client {
  constructor(private readonly options: H2TransportOptions) {}

  wrap(inner: Duplex, dial?: DialOptions): Promise<Duplex> {
    dial?.signal?.throwIfAborted();
    const alpn = alpnOf(inner);
    if (alpn !== undefined && alpn !== "h2") {
      inner.close();
      return Promise.reject(new Error(`h2: the server did not agree to HTTP/2 over TLS (ALPN ${alpn ? `"${alpn}"` : "none"})`));
    }
    const o = this.options;
    const authority = o.host[Math.floor(Math.random() * o.host.length)] ?? "www.example.com";
    return openH2Stream(inner, { scheme: "https", authority, method: "PUT", path: o.path, headers: { "accept-encoding": "identity" } }, dial?.signal, "h2");
  }
}
