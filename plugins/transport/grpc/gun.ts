/**
 * gRPC "gun" transport (v2ray/Xray/mihomo `network: grpc`): one HTTP/2 POST to
 * `/<serviceName>/Tun` whose request and response bodies are streams of gRPC messages, each a
 * protobuf `Hunk { bytes data = 1; }` carrying stream bytes. HTTP/2 over TLS when the stream under
 * it is TLS (ALPN h2), else h2c with prior knowledge, as mihomo does.
 */
import type { DialOptions, Duplex, GrpcTransportOptions } from "../../../src/sdk/index.ts";
import { alpnOf, openH2Stream } from "../h2/h2.ts";
import { WrappedStream } from "../wrapped-stream.ts";

/** Bytes of a varint. */
function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** One gRPC message holding `data` as Hunk field 1: flag, length (BE), tag 0x0A, varint length, data. */
function hunk(data: Uint8Array): Uint8Array {
  const v = varintLength(data.length);
  const body = 1 + v + data.length;
  const out = new Uint8Array(5 + body);
  out[1] = body >>> 24;
  out[2] = (body >>> 16) & 0xff;
  out[3] = (body >>> 8) & 0xff;
  out[4] = body & 0xff;
  out[5] = 0x0a;
  let n = data.length;
  let i = 6;
  while (n >= 0x80) {
    out[i++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[i++] = n;
  out.set(data, i);
  return out;
}

export class GunClient {
  private readonly path: string;

  constructor(private readonly options: GrpcTransportOptions) {
    this.path = `/${encodeURI(options.serviceName)}/Tun`;
  }

  async wrap(inner: Duplex, dial?: DialOptions): Promise<Duplex> {
    dial?.signal?.throwIfAborted();
    const alpn = alpnOf(inner);
    if (alpn !== undefined && alpn !== "h2") {
      inner.close();
      throw new Error(`grpc: the server did not agree to HTTP/2 over TLS (ALPN ${alpn ? `"${alpn}"` : "none"})`);
    }
    const h2 = await openH2Stream(
      inner,
      {
        scheme: alpn === undefined ? "http" : "https",
        authority: this.options.host,
        method: "POST",
        path: this.path,
        headers: { "content-type": "application/grpc", "user-agent": "grpc-go/1.36.0", te: "trailers" },
      },
      dial?.signal,
      "grpc",
    );
    return new GunStream(h2);
  }
}

/**
 * Hunks in and out. Reading hands on data as views of the received chunks; only the few header
 * bytes of a message that straddle two chunks are copied.
 */
class GunStream extends WrappedStream {
  /** Message bytes left after the data of the current message (other fields: skipped). */
  private skip = 0;
  /** Data bytes left in the current message. */
  private data = 0;
  /** A message header (5 + tag + varint) split across chunks. */
  private head = new Uint8Array(16);
  private headLen = 0;
  private sink: ((chunk: Uint8Array) => void) | undefined;

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.sink;
  }

  /** Reading starts when someone listens: until then the HTTP/2 stream keeps what arrived. */
  set onData(fn: ((chunk: Uint8Array) => void) | undefined) {
    this.sink = fn;
    if (fn && !this.inner.onData) this.inner.onData = (c) => this.receive(c);
  }

  write(chunk: Uint8Array): boolean {
    return this.inner.write(hunk(chunk));
  }

  private receive(c: Uint8Array): void {
    let i = 0;
    while (i < c.length && !this.inner.closed) {
      if (this.data > 0) {
        const take = Math.min(this.data, c.length - i);
        this.sink?.(i === 0 && take === c.length ? c : c.subarray(i, i + take));
        this.data -= take;
        i += take;
        continue;
      }
      if (this.skip > 0) {
        const take = Math.min(this.skip, c.length - i);
        this.skip -= take;
        i += take;
        continue;
      }
      // Collect the message header one byte at a time until it parses (at most 16 bytes).
      this.head[this.headLen++] = c[i++]!;
      const parsed = this.parseHead();
      if (parsed === "error") return;
      if (parsed === "done") this.headLen = 0;
    }
  }

  /** "more" until the header is complete; then sets `data`/`skip`. */
  private parseHead(): "more" | "done" | "error" {
    const h = this.head;
    const n = this.headLen;
    if (n < 5) return "more";
    const len = h[1]! * 2 ** 24 + ((h[2]! << 16) | (h[3]! << 8) | h[4]!);
    if (h[0] !== 0) {
      this.inner.close(new Error("grpc: compressed messages are not supported"));
      return "error";
    }
    if (len === 0) return "done";
    if (n < 6) return "more";
    if (h[5] !== 0x0a) {
      this.inner.close(new Error(`grpc: unexpected field tag ${h[5]} in a Hunk`));
      return "error";
    }
    let v = 0;
    let mul = 1;
    for (let i = 6; i < n; i++) {
      const b = h[i]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) {
        const headerBytes = i + 1 - 5;
        if (headerBytes + v > len) {
          this.inner.close(new Error("grpc: Hunk longer than its message"));
          return "error";
        }
        this.data = v;
        this.skip = len - headerBytes - v;
        return "done";
      }
      if (i >= 15) break;
    }
    if (n >= 16) {
      this.inner.close(new Error("grpc: bad varint in a Hunk"));
      return "error";
    }
    return "more";
  }
}
