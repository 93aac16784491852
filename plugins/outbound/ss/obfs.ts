/**
 * simple-obfs, client side, as mihomo and obfs-local speak it (SIP003 plugin `obfs`):
 *
 * - http: the first write goes out as the body of `GET / HTTP/1.1` with WebSocket upgrade headers;
 *   the server's reply head (up to the blank line) is dropped; after that both ways are raw.
 * - tls: the first write rides in the session-ticket extension of a fake TLS 1.2 ClientHello,
 *   later writes in application-data records (≤ 16 KiB each). The server answers ServerHello and
 *   ChangeCipherSpec records (dropped), then records whose contents are the data.
 */
import { randomBytes, randomInt } from "node:crypto";
import type { Duplex } from "../../../src/sdk/index.ts";
import { Layer } from "./layer.ts";

const encoder = new TextEncoder();
/** A reply head longer than this is not simple-obfs. */
const MAX_HEAD = 8192;

class HttpObfs extends Layer {
  private sent = false;
  private head: Uint8Array | undefined = new Uint8Array(0);

  constructor(
    inner: Duplex,
    private readonly hostHeader: string,
  ) {
    super(inner);
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.sent) return this.inner.write(chunk);
    this.sent = true;
    const head = encoder.encode(
      `GET / HTTP/1.1\r\nHost: ${this.hostHeader}\r\nUser-Agent: curl/7.${randomInt(54)}.${randomInt(2)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nContent-Length: ${chunk.length}\r\n\r\n`,
    );
    const out = new Uint8Array(head.length + chunk.length);
    out.set(head);
    out.set(chunk, head.length);
    return this.inner.write(out);
  }

  protected fromServer(data: Uint8Array): void {
    const seen = this.head;
    if (!seen) {
      this.onData?.(data);
      return;
    }
    const b = new Uint8Array(seen.length + data.length);
    b.set(seen);
    b.set(data, seen.length);
    const end = Buffer.from(b.buffer, b.byteOffset, b.length).indexOf("\r\n\r\n");
    if (end < 0) {
      if (b.length > MAX_HEAD) this.close(new Error("obfs http: no end of the reply head"));
      else this.head = b;
      return;
    }
    this.head = undefined;
    if (end + 4 < b.length) this.onData?.(b.subarray(end + 4));
  }
}

const RECORD = 16 * 1024;
const CIPHER_SUITES = [
  0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00,
  0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c,
  0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff,
];
/** ec_point_formats, supported_groups, signature_algorithms, encrypt_then_mac, extended_master_secret. */
const OTHER_EXTENSIONS = [
  0x00, 0x0b, 0x00, 0x04, 0x03, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x19, 0x00, 0x18, 0x00,
  0x0d, 0x00, 0x20, 0x00, 0x1e, 0x06, 0x01, 0x06, 0x02, 0x06, 0x03, 0x05, 0x01, 0x05, 0x02, 0x05, 0x03, 0x04, 0x01, 0x04, 0x02, 0x04, 0x03,
  0x03, 0x01, 0x03, 0x02, 0x03, 0x03, 0x02, 0x01, 0x02, 0x02, 0x02, 0x03, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
];

/** The ClientHello carrying `data` as its session ticket; the ticket must be the first extension (obfs-server reads it at a fixed offset). */
function clientHello(data: Uint8Array, host: Uint8Array): Uint8Array {
  const extensions = 4 + data.length + 9 + host.length + OTHER_EXTENSIONS.length;
  const body = 2 + 32 + 1 + 32 + 2 + CIPHER_SUITES.length + 2 + 2 + extensions;
  const out = new Uint8Array(5 + 4 + body);
  const v = new DataView(out.buffer);
  let o = 0;
  out.set([0x16, 0x03, 0x01], o);
  v.setUint16(3, 4 + body);
  out.set([0x01, 0x00], 5);
  v.setUint16(7, body);
  o = 9;
  out.set([0x03, 0x03], o);
  v.setUint32(o + 2, Math.floor(Date.now() / 1000));
  out.set(randomBytes(28), o + 6);
  out[o + 34] = 32;
  out.set(randomBytes(32), o + 35);
  o += 67;
  v.setUint16(o, CIPHER_SUITES.length);
  out.set(CIPHER_SUITES, o + 2);
  o += 2 + CIPHER_SUITES.length;
  out.set([0x01, 0x00], o);
  v.setUint16(o + 2, extensions);
  o += 4;
  v.setUint16(o, 0x0023);
  v.setUint16(o + 2, data.length);
  out.set(data, o + 4);
  o += 4 + data.length;
  v.setUint16(o, 0x0000);
  v.setUint16(o + 2, host.length + 5);
  v.setUint16(o + 4, host.length + 3);
  out[o + 6] = 0;
  v.setUint16(o + 7, host.length);
  out.set(host, o + 9);
  o += 9 + host.length;
  out.set(OTHER_EXTENSIONS, o);
  return out;
}

class TlsObfs extends Layer {
  private sent = false;
  /** Records still to drop from the reply: ServerHello, ChangeCipherSpec. */
  private skip = 2;
  private readonly header = new Uint8Array(5);
  private headerFill = 0;
  /** Bytes left in the current record's body. */
  private left = 0;

  constructor(
    inner: Duplex,
    private readonly host: Uint8Array,
  ) {
    super(inner);
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    let p = 0;
    let hello: Uint8Array | undefined;
    if (!this.sent) {
      this.sent = true;
      p = Math.min(RECORD, chunk.length);
      hello = clientHello(chunk.subarray(0, p), this.host);
    }
    const rest = chunk.length - p;
    const records = Math.ceil(rest / RECORD);
    const start = hello ? hello.length : 0;
    const out = new Uint8Array(start + rest + 5 * records);
    if (hello) out.set(hello);
    for (let o = start; p < chunk.length; ) {
      const n = Math.min(RECORD, chunk.length - p);
      out[o] = 0x17;
      out[o + 1] = 0x03;
      out[o + 2] = 0x03;
      out[o + 3] = n >> 8;
      out[o + 4] = n & 0xff;
      out.set(chunk.subarray(p, p + n), o + 5);
      o += 5 + n;
      p += n;
    }
    return this.inner.write(out);
  }

  protected fromServer(data: Uint8Array): void {
    let p = 0;
    while (p < data.length) {
      if (this.left === 0) {
        const take = Math.min(5 - this.headerFill, data.length - p);
        this.header.set(data.subarray(p, p + take), this.headerFill);
        this.headerFill += take;
        p += take;
        if (this.headerFill < 5) return;
        this.headerFill = 0;
        const type = this.header[0]!;
        if (type < 0x14 || type > 0x17 || this.header[1] !== 0x03) {
          this.close(new Error("obfs tls: the server did not answer with TLS records"));
          return;
        }
        this.left = (this.header[3]! << 8) | this.header[4]!;
        if (this.left === 0 && this.skip > 0) this.skip--;
        continue;
      }
      const n = Math.min(this.left, data.length - p);
      const body = data.subarray(p, p + n);
      this.left -= n;
      p += n;
      if (this.skip > 0) {
        if (this.left === 0) this.skip--;
      } else {
        this.onData?.(body);
      }
    }
  }
}

export type ObfsMode = "http" | "tls";

/**
 * Wrap a connection to the server in simple-obfs. `host` is the fake Host/SNI; for http the
 * server's port is added to the Host header unless it is 80, as obfs-local does.
 */
export function obfs(inner: Duplex, mode: ObfsMode, host: string, port: number): Duplex {
  if (mode === "http") return new HttpObfs(inner, port === 80 ? host : `${host}:${port}`);
  return new TlsObfs(inner, encoder.encode(host));
}
