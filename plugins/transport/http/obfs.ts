/**
 * v2ray's TCP "http" header obfuscation as mihomo's client does it: the first write goes out
 * behind an HTTP/1.1 request head (method, one of the paths, Host and headers picked at random per
 * connection), and the server's response head is cut from the front of what comes back. After
 * that, bytes pass straight through.
 */
import type { DialOptions, Duplex, HttpObfsTransportOptions } from "../../../src/sdk/index.ts";
import { WrappedStream } from "../wrapped-stream.ts";

const MAX_HEAD = 16 * 1024;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

export class HttpObfsClient {
  constructor(private readonly options: HttpObfsTransportOptions) {}

  wrap(inner: Duplex, dial?: DialOptions): Promise<Duplex> {
    dial?.signal?.throwIfAborted();
    return Promise.resolve(new HttpObfsStream(inner, this.requestHead()));
  }

  /** mihomo: Host from the `Host` header list if given, else `host`; each header takes one of its values. */
  private requestHead(): Uint8Array {
    const o = this.options;
    let host = o.host;
    let lines = "";
    for (const [k, values] of Object.entries(o.headers)) {
      if (values.length === 0) continue;
      const v = pick(values);
      if (k.toLowerCase() === "host") host = v;
      else lines += `${k}: ${v}\r\n`;
    }
    return Buffer.from(`${o.method} ${pick(o.path)} HTTP/1.1\r\nHost: ${host}\r\n${lines}\r\n`, "latin1");
  }
}

class HttpObfsStream extends WrappedStream {
  onData: ((chunk: Uint8Array) => void) | undefined;
  /** The request head, until the first write carries it. */
  private head: Uint8Array | undefined;
  /** The response head read so far, until it is complete. */
  private reply: Buffer | undefined = Buffer.alloc(0);

  constructor(inner: Duplex, head: Uint8Array) {
    super(inner);
    this.head = head;
    inner.onData = (c) => {
      if (this.reply === undefined) this.onData?.(c);
      else this.readHead(c);
    };
  }

  private readHead(c: Uint8Array): void {
    const buf = Buffer.concat([this.reply!, c]);
    const end = buf.indexOf("\r\n\r\n", Math.max(0, this.reply!.length - 3), "latin1");
    if (end < 0) {
      if (buf.length > MAX_HEAD) this.close(new Error("http obfs: response head too large"));
      else this.reply = buf;
      return;
    }
    if (buf.toString("latin1", 0, 5) !== "HTTP/") {
      this.close(new Error(`http obfs: not an HTTP response ("${buf.toString("latin1", 0, Math.min(end, 40))}")`));
      return;
    }
    this.reply = undefined;
    if (end + 4 < buf.length) this.onData?.(buf.subarray(end + 4));
  }

  write(chunk: Uint8Array): boolean {
    const head = this.head;
    if (head === undefined) return this.inner.write(chunk);
    this.head = undefined;
    const first = new Uint8Array(head.length + chunk.length);
    first.set(head);
    first.set(chunk, head.length);
    return this.inner.write(first);
  }
}
