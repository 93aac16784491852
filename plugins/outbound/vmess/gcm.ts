/**
 * AES-128-GCM for the VMess body, from the system's libcrypto through `bun:ffi`, with
 * node:crypto as the fallback. Why not node:crypto alone (what ss uses): a v2ray server sends
 * chunks of ~2 KiB, and per 2 KiB chunk node:crypto pays a cipher object, an output buffer and a
 * copy into place; measured here 1.37 µs per open against 0.97 µs for a libcrypto context reused
 * with a new key and nonce (0.72 → 0.51 s of CPU per GiB; CPU profile of a download: cipher
 * construction, update and the copy were 60% of ferry's time). At 16 KiB the two are even.
 *
 * One context per direction for the whole process, re-keyed per call (JS is single-threaded); it
 * decrypts straight into the caller's buffer. Used only after it agrees with node:crypto on a
 * sample; `FERRY_AES=node` forces the fallback.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { randomBytes } from "node:crypto";
import { type Aead, nodeAesGcm, TAG_SIZE } from "../ss/aead.ts";

const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;

const symbols = {
  EVP_CIPHER_CTX_new: { args: [], returns: FFIType.ptr },
  EVP_aes_128_gcm: { args: [], returns: FFIType.ptr },
  EVP_EncryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_EncryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_DecryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_EncryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_CIPHER_CTX_ctrl: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

/** Held for the life of the process: the symbols must not outlive the library handle. */
let lib: ReturnType<typeof dlopen<typeof symbols>> | undefined;

function libcryptoAes128Gcm(): Aead | undefined {
  if (process.platform !== "linux") return undefined;
  for (const name of ["libcrypto.so.3", "libcrypto.so.1.1"]) {
    if (lib) break;
    try {
      lib = dlopen(name, symbols);
    } catch {
      // not installed under this name
    }
  }
  if (!lib) return undefined;
  const s = lib.symbols;
  const cipher = s.EVP_aes_128_gcm();
  const enc = s.EVP_CIPHER_CTX_new();
  const dec = s.EVP_CIPHER_CTX_new();
  if (!cipher || !enc || !dec) return undefined;
  if (s.EVP_EncryptInit_ex(enc, cipher, null, null, null) !== 1 || s.EVP_DecryptInit_ex(dec, cipher, null, null, null) !== 1) return undefined;
  const outLen = new Int32Array(1);
  // Final() of GCM writes nothing; it still wants a valid output pointer.
  const finalOut = new Uint8Array(TAG_SIZE);
  return {
    name: "aes-128-gcm (libcrypto via bun:ffi)",
    nonceSize: 12,
    seal(key, nonce, src, dst, off) {
      if (dst.length - off < src.length + TAG_SIZE) throw new RangeError("seal: output too small");
      s.EVP_EncryptInit_ex(enc, null, null, key, nonce);
      if (src.length > 0) s.EVP_EncryptUpdate(enc, ptr(dst, off), outLen, src, src.length);
      s.EVP_EncryptFinal_ex(enc, finalOut, outLen);
      s.EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, ptr(dst, off + src.length));
    },
    open(key, nonce, src, dst, off) {
      const n = src.length - TAG_SIZE;
      if (n < 0 || dst.length - off < n) return false;
      s.EVP_DecryptInit_ex(dec, null, null, key, nonce);
      s.EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, ptr(src, n));
      if (n > 0) s.EVP_DecryptUpdate(dec, ptr(dst, off), outLen, src, n);
      // On a bad tag the (unauthenticated) plaintext is already in dst; callers drop it then.
      return s.EVP_DecryptFinal_ex(dec, finalOut, outLen) === 1;
    },
  };
}

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
    const fast = process.env.FERRY_AES === "node" ? undefined : libcryptoAes128Gcm();
    chosen = fast && agreesWithNode(fast) ? fast : nodeAesGcm("aes-128-gcm");
  }
  return chosen;
}
