/**
 * Per-connection client state for both editions: the salt, the request bytes, the chunk writer
 * and the reader of the response stream.
 *
 * AEAD-2017: `salt ‖ chunks(target address ‖ first payload)`.
 * SIP022 (spec §3.1): `salt ‖ identity headers ‖ seal(type 0, timestamp, length) ‖ seal(target,
 * padding length, padding, first payload) ‖ chunks(rest)`; the response starts `salt ‖ seal(type
 * 1, timestamp, request salt, length)` and the client checks all three.
 */
import { randomBytes, randomInt } from "node:crypto";
import { type Aead, TAG_SIZE } from "./aead.ts";
import { aeadSubkey, aesBlock, identitySubkey, type Method, pskHash, sessionSubkey } from "./cipher.ts";
import { AEAD_MAX_PAYLOAD, ChunkReader, ChunkWriter, SS2022_MAX_PAYLOAD } from "./codec.ts";
import type { ClientSession } from "./stream.ts";

/** Key material of one configured proxy. */
export type Keys = { method: Method; aead: Aead } & ({ edition: 2017; master: Uint8Array } | { edition: 2022; psks: Uint8Array[] });

/** SIP022 §3.1.3: request padding when there is little or no initial payload. */
export const MAX_PADDING = 900;
/** SIP022 §3.1.3 and §3.2.3: accepted clock difference, seconds. */
export const MAX_TIME_DIFF = 30;

export function clientSession(keys: Keys, target: Uint8Array): ClientSession {
  return keys.edition === 2017 ? aeadSession(keys, keys.master, target) : ss2022Session(keys, keys.psks, target);
}

function aeadSession(keys: Keys, master: Uint8Array, target: Uint8Array): ClientSession {
  const { aead, method } = keys;
  const salt = randomBytes(method.keySize);
  const writer = new ChunkWriter(aead, aeadSubkey(master, salt), AEAD_MAX_PAYLOAD);
  const reader = new ChunkReader(aead, { saltSize: method.keySize, subkey: (s) => aeadSubkey(master, s), maxPayload: AEAD_MAX_PAYLOAD });
  return {
    writer,
    reader,
    request(first) {
      const payload = new Uint8Array(target.length + first.length);
      payload.set(target);
      payload.set(first, target.length);
      const out = new Uint8Array(salt.length + writer.size(payload.length));
      out.set(salt);
      writer.sealChunks(payload, out, salt.length);
      return out;
    },
  };
}

/** Seconds since the epoch as a big-endian u64 at `b[off]`. */
export function writeTimestamp(b: Uint8Array, off: number, seconds = Math.floor(Date.now() / 1000)): void {
  const v = new DataView(b.buffer, b.byteOffset);
  v.setUint32(off, Math.floor(seconds / 2 ** 32));
  v.setUint32(off + 4, seconds >>> 0);
}

/** The u64 timestamp at `b[off]` is within ±30 s of now. */
export function timestampFresh(b: Uint8Array, off: number): boolean {
  const v = new DataView(b.buffer, b.byteOffset);
  const t = v.getUint32(off) * 2 ** 32 + v.getUint32(off + 4);
  return Math.abs(Date.now() / 1000 - t) <= MAX_TIME_DIFF;
}

/** SIP023 TCP identity headers: for each identity key, AES(identity subkey, hash of the next key). */
function identityHeaders(psks: Uint8Array[], salt: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < psks.length - 1; i++) out.push(aesBlock(identitySubkey(psks[i]!, salt), pskHash(psks[i + 1]!)));
  return out;
}

function ss2022Session(keys: Keys, psks: Uint8Array[], target: Uint8Array): ClientSession {
  const { aead, method } = keys;
  const size = method.keySize;
  const user = psks[psks.length - 1]!;
  const salt = randomBytes(size);
  const writer = new ChunkWriter(aead, sessionSubkey(user, salt), SS2022_MAX_PAYLOAD);
  const reader = new ChunkReader(aead, {
    saltSize: size,
    subkey: (s) => sessionSubkey(user, s),
    maxPayload: SS2022_MAX_PAYLOAD,
    header: {
      size: 1 + 8 + size + 2,
      check(h) {
        if (h[0] !== 1) return `response header type ${h[0]}, expected 1`;
        if (!timestampFresh(h, 1)) return "response timestamp is more than 30 s off (replay, or clocks apart)";
        if (!Buffer.from(h.buffer, h.byteOffset + 9, size).equals(salt)) return "response is for another request (request salt differs)";
        return (h[9 + size]! << 8) | h[10 + size]!;
      },
    },
  });
  return {
    writer,
    reader,
    request(first) {
      // The variable header holds at most 0xFFFF bytes; what does not fit follows as chunks.
      const room = SS2022_MAX_PAYLOAD - target.length - 2;
      const initial = first.length > room ? first.subarray(0, room) : first;
      const rest = first.subarray(initial.length);
      const padding = initial.length < MAX_PADDING ? randomInt(1, Math.min(MAX_PADDING, room - initial.length) + 1) : 0;
      const variable = new Uint8Array(target.length + 2 + padding + initial.length);
      variable.set(target);
      variable[target.length] = padding >> 8;
      variable[target.length + 1] = padding & 0xff;
      variable.set(initial, target.length + 2 + padding);
      const fixed = new Uint8Array(11);
      writeTimestamp(fixed, 1);
      fixed[9] = variable.length >> 8;
      fixed[10] = variable.length & 0xff;
      const eih = identityHeaders(psks, salt);
      const out = new Uint8Array(size + eih.length * 16 + fixed.length + variable.length + 2 * TAG_SIZE + writer.size(rest.length));
      out.set(salt);
      let off = size;
      for (const h of eih) {
        out.set(h, off);
        off += 16;
      }
      off = writer.sealChunk(fixed, out, off);
      off = writer.sealChunk(variable, out, off);
      writer.sealChunks(rest, out, off);
      return out;
    },
  };
}
