/** Small clients on our Duplex for the transport and outbound tests: HTTP/1.1 over any stream, hashing as bytes arrive. */
import { transportPlugins } from "../../plugins/transport/index.ts";
import { API_VERSION, type CreateContext, type Duplex, type PluginHost, type Transport, type TransportDefinition } from "../../src/sdk/index.ts";

const CRLFCRLF = Buffer.from("\r\n\r\n");

export interface Reply {
  status: number;
  head: string;
  bodyLength: number;
  /** SHA-256 (hex) of the body. */
  sha256: string;
  /** The body when it is at most 64 KiB, as text. */
  text: string;
}

/**
 * Send an HTTP/1.1 request with `Connection: close` (and `body` bytes of `upload`, written with
 * backpressure) and read the reply until the peer closes. Bounded by `timeoutMs`.
 */
export function httpRequest(
  s: Duplex,
  opts: { method?: string; path: string; host: string; upload?: Uint8Array; timeoutMs?: number },
): Promise<Reply> {
  const method = opts.method ?? "GET";
  const upload = opts.upload;
  const head = `${method} ${opts.path} HTTP/1.1\r\nHost: ${opts.host}\r\nConnection: close\r\n${upload ? `Content-Length: ${upload.length}\r\n` : ""}\r\n`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`${method} ${opts.path}: timed out`));
    }, opts.timeoutMs ?? 60_000);
    const hasher = new Bun.CryptoHasher("sha256");
    const small: Uint8Array[] = [];
    let pending: Buffer | undefined = Buffer.alloc(0);
    let replyHead = "";
    let bodyLength = 0;
    const body = (c: Uint8Array) => {
      bodyLength += c.length;
      hasher.update(c);
      if (bodyLength <= 65536) small.push(c);
    };
    s.onData = (c) => {
      if (pending === undefined) {
        body(c);
        return;
      }
      pending = Buffer.concat([pending, c]);
      const i = pending.indexOf(CRLFCRLF);
      if (i < 0) return;
      replyHead = pending.subarray(0, i).toString("latin1");
      const rest = pending.subarray(i + 4);
      pending = undefined;
      if (rest.length > 0) body(rest);
    };
    s.onEnd = () => s.close();
    s.onClose = (err) => {
      clearTimeout(timer);
      if (err) return reject(err);
      if (pending !== undefined) return reject(new Error(`${method} ${opts.path}: closed before a reply head`));
      resolve({
        status: Number(replyHead.split(" ")[1]),
        head: replyHead,
        bodyLength,
        sha256: hasher.digest("hex"),
        text: bodyLength <= 65536 ? Buffer.concat(small).toString("utf8") : "",
      });
    };
    s.write(Buffer.from(head, "latin1"));
    if (upload) writeAll(s, upload, 64 * 1024);
  });
}

/** Write `data` in `chunk`-sized slices, pausing on backpressure until `onDrain`. */
export function writeAll(s: Duplex, data: Uint8Array, chunk: number, then?: () => void): void {
  let off = 0;
  const pump = () => {
    while (off < data.length) {
      const piece = data.subarray(off, Math.min(off + chunk, data.length));
      off += piece.length;
      if (!s.write(piece)) return;
    }
    s.onDrain = undefined;
    then?.();
  };
  s.onDrain = pump;
  pump();
}

/** Read until `n` bytes arrived (or the stream closes); resolves with their SHA-256. Bounded by `timeoutMs`. */
export function readHash(s: Duplex, n: number, timeoutMs = 60_000): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hasher = new Bun.CryptoHasher("sha256");
    let bytes = 0;
    const timer = setTimeout(() => reject(new Error(`read timed out after ${bytes} of ${n} bytes`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve({ bytes, sha256: hasher.digest("hex") });
    };
    s.onData = (c) => {
      bytes += c.length;
      hasher.update(c);
      if (bytes >= n) done();
    };
    s.onEnd = done;
    s.onClose = (err) => {
      if (bytes >= n) return;
      clearTimeout(timer);
      if (err) reject(err);
      else done();
    };
  });
}

export const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** A built-in transport as the engine registers it (options are passed as given: no schema decoding here). */
export async function transport(name: string, options: unknown): Promise<Transport> {
  const defs = new Map<string, TransportDefinition>();
  const host = {
    apiVersion: API_VERSION,
    registerTransport: (n: string, d: TransportDefinition) => defs.set(n, d),
  } as unknown as PluginHost;
  for (const p of transportPlugins) await p.setup(host);
  const def = defs.get(name);
  if (!def) throw new Error(`no transport ${name}`);
  return def.create(options, {} as CreateContext);
}
