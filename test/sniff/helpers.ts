import { createCipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initialKeys } from "../../src/sniff/quic.ts";
import { curl } from "../helpers.ts";

/**
 * What a real client sends first: a raw TCP listener records the bytes of one curl run until
 * `whole(bytes)` holds, then hangs up (curl then fails, which is expected). `args` gets the port.
 */
export async function captureFirstBytes(args: (port: number) => string[], whole: (bytes: Uint8Array) => boolean): Promise<Uint8Array> {
  let bytes = new Uint8Array(0);
  const done = Promise.withResolvers<Uint8Array>();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        const next = new Uint8Array(bytes.length + chunk.length);
        next.set(bytes, 0);
        next.set(chunk, bytes.length);
        bytes = next;
        if (whole(bytes)) {
          done.resolve(bytes);
          socket.terminate();
        }
      },
      close() {
        done.resolve(bytes);
      },
    },
  });
  try {
    const run = curl(["--max-time", "5", ...args(server.port)]);
    const got = await done.promise;
    await run;
    return got;
  } finally {
    server.stop(true);
  }
}

/** A TLS record is whole once its 5-byte header's length has arrived. */
export function wholeRecord(b: Uint8Array): boolean {
  return b.length >= 5 && b.length >= 5 + ((b[3]! << 8) | b[4]!);
}

/** A ClientHello captured from curl for `name` (curl resolves the name itself: never the system resolver). */
export function curlClientHello(name: string, extra: string[] = []): Promise<Uint8Array> {
  return captureFirstBytes((port) => ["-k", ...extra, "--resolve", `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`], wholeRecord);
}

/** The handshake message inside a single-record ClientHello (header included). */
export function handshakeOf(record: Uint8Array): Uint8Array {
  return record.subarray(5, 5 + ((record[3]! << 8) | record[4]!));
}

/** The handshake bytes re-framed into records of at most `size` bytes each. */
export function fragment(handshake: Uint8Array, size: number): Uint8Array {
  const parts: number[] = [];
  for (let at = 0; at < handshake.length; at += size) {
    const body = handshake.subarray(at, Math.min(handshake.length, at + size));
    parts.push(0x16, 3, 1, body.length >> 8, body.length & 255, ...body);
  }
  return Uint8Array.from(parts);
}

/** A hex fixture: `#` comment lines dropped, whitespace ignored. */
function hexFixture(name: string): Buffer {
  const text = readFileSync(join(import.meta.dir, "fixtures", name), "utf8");
  return Buffer.from(text.replace(/^#.*$/gm, "").replace(/\s+/g, ""), "hex");
}

/**
 * RFC 9001 Appendix A.2: the client's first Initial packet (1200 bytes, DCID 0x8394c8f03e515708,
 * packet number 2), "The resulting protected packet", as the RFC prints it.
 */
export const RFC9001_CLIENT_INITIAL = hexFixture("rfc9001-a2-client-initial.hex");

/** A.2's unprotected payload starts with this CRYPTO frame (a ClientHello for example.com); PADDING fills it to 1162 bytes. */
export const RFC9001_CRYPTO_FRAME = hexFixture("rfc9001-a2-crypto-frame.hex");
export const RFC9001_DCID = Buffer.from("8394c8f03e515708", "hex");

/**
 * A protected QUIC v1 client Initial (RFC 9001 §5): long header with `dcid` and an empty SCID and
 * token, a 4-byte packet number, `payload` (frames) encrypted and the header protected. Checked
 * in the tests by rebuilding A.2's packet byte for byte.
 */
export function clientInitial(dcid: Uint8Array, pn: number, payload: Uint8Array): Buffer {
  const { key, iv, hp } = initialKeys(dcid, 1);
  const length = 4 + payload.length + 16;
  const header = Buffer.from([0xc3, 0, 0, 0, 1, dcid.length, ...dcid, 0, 0, 0x40 | (length >> 8), length & 255, pn >>> 24, (pn >> 16) & 255, (pn >> 8) & 255, pn & 255]);
  const nonce = Buffer.from(iv);
  for (let i = 0; i < 4; i++) nonce[8 + i]! ^= header[header.length - 4 + i]!;
  const gcm = createCipheriv("aes-128-gcm", key, nonce);
  gcm.setAAD(header);
  const sealed = Buffer.concat([gcm.update(payload), gcm.final(), gcm.getAuthTag()]);
  const mask = createCipheriv("aes-128-ecb", hp, null).setAutoPadding(false).update(sealed.subarray(0, 16));
  const packet = Buffer.concat([header, sealed]);
  packet[0]! ^= mask[0]! & 0x0f;
  for (let i = 0; i < 4; i++) packet[header.length - 4 + i]! ^= mask[1 + i]!;
  return packet;
}

/** A CRYPTO frame (2-byte varints for offset and length). */
export function cryptoFrame(offset: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x06, 0x40 | (offset >> 8), offset & 255, 0x40 | (data.length >> 8), data.length & 255]), data]);
}

/** Frames padded with PADDING frames to `size` bytes. */
export function padded(frames: Uint8Array[], size: number): Buffer {
  const body = Buffer.concat(frames);
  return Buffer.concat([body, Buffer.alloc(Math.max(0, size - body.length))]);
}
