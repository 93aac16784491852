/**
 * AES-128-GCM for the VMess body, from the system's libcrypto through `bun:ffi`
 * (ss/libcrypto.ts), with node:crypto as the fallback. Why not node:crypto alone (what ss uses): a v2ray server sends
 * chunks of ~2 KiB, and per 2 KiB chunk node:crypto pays a cipher object, an output buffer and a
 * copy into place; measured here 1.37 µs per open against 0.97 µs for a libcrypto context reused
 * with a new key and nonce (0.72 → 0.51 s of CPU per GiB; CPU profile of a download: cipher
 * construction, update and the copy were 60% of ferry's time). At 16 KiB the two are even.
 *
 * One context per direction for the whole process, re-keyed per call (JS is single-threaded); it
 * decrypts straight into the caller's buffer. Used only after it agrees with node:crypto on a
 * sample; `FERRY_AES=node` forces the fallback.
 */
import { randomBytes } from "node:crypto";
import { type Aead, nodeAesGcm } from "../ss/aead.ts";
import { libcryptoAead } from "../ss/libcrypto.ts";

/** Same ciphertext and tag as node:crypto, and opens what node:crypto seals. */
function agreesWithNode(aead: Aead): boolean {
  const node = nodeAesGcm("aes-128-gcm");
  const key = randomBytes(16);
  const nonce = randomBytes(12);
  const plain = randomBytes(100);
  const a = new Uint8Array(116);
  const b = new Uint8Array(116);
  aead.seal(key, nonce, plain, a, 0);
  node.seal(key, nonce, plain, b, 0);
  const back = new Uint8Array(100);
  return Buffer.from(a).equals(b) && aead.open(key, nonce, b, back, 0) && Buffer.from(back).equals(plain);
}

let chosen: Aead | undefined;

/** The AES-128-GCM to use: libcrypto when it loads and agrees with node:crypto, else node:crypto. */
export function aes128Gcm(): Aead {
  if (!chosen) {
    const fast = process.env.FERRY_AES === "node" ? undefined : libcryptoAead("aes-128-gcm");
    chosen = fast && agreesWithNode(fast) ? fast : nodeAesGcm("aes-128-gcm");
  }
  return chosen;
}
