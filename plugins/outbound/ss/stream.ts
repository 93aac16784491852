/**
 * A Shadowsocks client connection as a Duplex over the server stream (TCP, or an obfs/v2ray-plugin
 * wrapping of it). The request (salt, target address, SIP022 headers) goes out with the first
 * bytes the tunnel writes, or on its own one macrotask after the dial when nothing was written
 * by then (server-first protocols): the tunnel writes a connection's `head` synchronously after
 * the dial, so a head shares the first packet with the request.
 */
import type { Duplex } from "../../../src/sdk/index.ts";
import type { ChunkReader, ChunkWriter } from "./codec.ts";
import { Layer } from "./layer.ts";

export interface ClientSession {
  writer: ChunkWriter;
  reader: ChunkReader;
  /** The request bytes, carrying `first` (which may be empty) as initial payload. */
  request(first: Uint8Array): Uint8Array;
}

const NOTHING = new Uint8Array(0);

export class ShadowStream extends Layer {
  private requestSent = false;

  constructor(
    inner: Duplex,
    private readonly session: ClientSession,
    /** Prefix for errors: the proxy's name. */
    private readonly label: string,
  ) {
    super(inner);
    setImmediate(() => {
      if (!this.requestSent && !this.closed) this.inner.write(this.firstOutput(NOTHING));
    });
  }

  protected fromServer(data: Uint8Array): void {
    const plain = this.session.reader.feed(data);
    if (plain instanceof Error) this.close(new Error(`${this.label}: ${plain.message}`));
    else if (plain.length > 0) this.onData?.(plain);
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    if (!this.requestSent) return this.inner.write(this.firstOutput(chunk));
    const { writer } = this.session;
    const out = new Uint8Array(writer.size(chunk.length));
    writer.sealChunks(chunk, out, 0);
    return this.inner.write(out);
  }

  private firstOutput(chunk: Uint8Array): Uint8Array {
    this.requestSent = true;
    return this.session.request(chunk);
  }

  override end(): void {
    if (this.closed) return;
    if (!this.requestSent) this.inner.write(this.firstOutput(NOTHING));
    this.inner.end();
  }
}
