import type { Duplex } from "../sdk/stream.ts";
import { UserError } from "../sdk/types.ts";

/** How the client reaches a server: a TCP stream to `host:port`, and TLS over a stream. */
export interface HttpDialer {
  dial(host: string, port: number, signal: AbortSignal): Promise<Duplex>;
  tls(stream: Duplex, serverName: string, signal: AbortSignal): Promise<Duplex>;
}

export interface HttpRequest {
  url: string;
  headers: Record<string, string[]>;
  /**
   * Largest body accepted; 0 = no limit. A larger body fails the request: mihomo truncates it,
   * which can parse into a shorter but "good" node list, so an update could silently lose nodes.
   */
  sizeLimit: number;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
}

const MAX_REDIRECTS = 5;
const MAX_HEAD = 64 * 1024;

/**
 * A minimal HTTP/1.1 GET over our own streams, so a download can go through any outbound (a
 * provider's `proxy`) exactly as a connection would, and names resolve with ferry's resolver, never
 * the system's. Follows redirects; `Connection: close` keeps framing simple.
 */
export async function httpGet(dialer: HttpDialer, request: HttpRequest): Promise<HttpResponse> {
  const signal = AbortSignal.timeout(request.timeoutMs);
  let url = request.url;
  for (let hop = 0; ; hop++) {
    const res = await once(dialer, { ...request, url }, signal).catch((err: unknown) => {
      if (signal.aborted) throw new UserError(`timed out after ${request.timeoutMs} ms`);
      throw err;
    });
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && res.status !== 304 && location && hop < MAX_REDIRECTS) {
      url = new URL(location, url).href;
      continue;
    }
    return res;
  }
}

async function once(dialer: HttpDialer, request: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
  const u = new URL(request.url);
  const https = u.protocol === "https:";
  if (!https && u.protocol !== "http:") throw new UserError(`unsupported URL scheme "${u.protocol}"`);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : https ? 443 : 80;
  const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`];
  const names = new Set<string>();
  for (const [name, values] of Object.entries(request.headers)) {
    names.add(name.toLowerCase());
    for (const v of values) lines.push(`${name}: ${v}`);
  }
  if (u.username && !names.has("authorization")) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    lines.push(`Authorization: Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`);
  }
  lines.push("Accept: */*", "Connection: close", "", "");
  let stream = await dialer.dial(host, port, signal);
  try {
    if (https) stream = await dialer.tls(stream, host, signal);
    return await exchange(stream, lines.join("\r\n"), request.sizeLimit, signal);
  } finally {
    stream.close();
  }
}

function exchange(stream: Duplex, head: string, sizeLimit: number, signal: AbortSignal): Promise<HttpResponse> {
  return new Promise((resolveOnce, rejectOnce) => {
    // End, close, abort and a complete body can each end the exchange; the first one counts.
    let done = false;
    const resolve = (r: HttpResponse) => {
      if (!done) resolveOnce(r);
      done = true;
    };
    const reject = (err: unknown) => {
      if (!done) rejectOnce(err);
      done = true;
    };
    const chunks: Uint8Array[] = [];
    let size = 0;
    let response: { status: number; headers: Map<string, string>; bodyStart: number } | undefined;
    let wanted = -1;
    const finish = () => {
      if (done) return;
      stream.onData = undefined;
      stream.onEnd = undefined;
      stream.onClose = undefined;
      signal.removeEventListener("abort", abort);
      const all = Buffer.concat(chunks, size);
      if (!response) {
        reject(new UserError(size === 0 ? "connection closed without a response" : "malformed HTTP response"));
        return;
      }
      let body: Uint8Array = all.subarray(response.bodyStart);
      try {
        if (response.headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) body = dechunk(body);
      } catch (err) {
        reject(err);
        return;
      }
      if (sizeLimit > 0 && body.length > sizeLimit) {
        reject(tooLarge(sizeLimit));
        return;
      }
      resolve({ status: response.status, headers: response.headers, body });
    };
    const abort = () => {
      stream.close();
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    signal.addEventListener("abort", abort, { once: true });
    stream.onData = (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
      if (!response) {
        const all = Buffer.concat(chunks, size);
        const end = all.indexOf("\r\n\r\n");
        if (end < 0) {
          if (size > MAX_HEAD) {
            stream.close();
            reject(new UserError("response head too large"));
          }
          return;
        }
        response = parseHead(all.subarray(0, end).toString("latin1"), end + 4);
        if (!response) {
          stream.close();
          reject(new UserError("malformed HTTP response"));
          return;
        }
        const length = response.headers.get("content-length");
        const chunked = response.headers.get("transfer-encoding") !== undefined;
        if (length !== undefined && !chunked) wanted = response.bodyStart + Number(length);
        if (response.status === 304 || response.status === 204) wanted = response.bodyStart;
      }
      // With a size limit, stop as soon as a plain body is past it (a chunked one is measured decoded).
      if (sizeLimit > 0 && response && !response.headers.has("transfer-encoding") && size > response.bodyStart + sizeLimit) {
        stream.close();
        reject(tooLarge(sizeLimit));
        return;
      }
      if (wanted >= 0 && size >= wanted) finish();
    };
    stream.onEnd = finish;
    stream.onClose = (err) => {
      if (err && !response) {
        signal.removeEventListener("abort", abort);
        reject(err);
        return;
      }
      finish();
    };
    stream.write(Buffer.from(head, "latin1"));
  });
}

function tooLarge(sizeLimit: number): UserError {
  return new UserError(`body larger than size-limit (${sizeLimit} bytes)`);
}

function parseHead(text: string, bodyStart: number): { status: number; headers: Map<string, string>; bodyStart: number } | undefined {
  const [statusLine, ...rest] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "");
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of rest) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { status: Number(m[1]), headers, bodyStart };
}

/** Decode a chunked body (trailers ignored). */
function dechunk(data: Uint8Array): Uint8Array {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) throw new UserError("truncated chunked body");
    const size = Number.parseInt(buf.subarray(at, eol).toString("latin1").split(";")[0]!.trim(), 16);
    if (!Number.isFinite(size)) throw new UserError("malformed chunked body");
    if (size === 0) break;
    const start = eol + 2;
    if (start + size > buf.length) throw new UserError("truncated chunked body");
    parts.push(buf.subarray(start, start + size));
    at = start + size + 2;
  }
  return Buffer.concat(parts);
}
