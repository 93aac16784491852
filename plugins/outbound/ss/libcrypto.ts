/**
 * ChaCha20-Poly1305 from the system's OpenSSL through `bun:ffi`. Bun's node:crypto has no
 * chacha20-poly1305 (bun-probe §5); measured here per 16 KiB Shadowsocks chunk (seal + open, both
 * directions of one connection): this binding 0.93 s of CPU per GiB, libsodium's WASM build 6.3,
 * @noble/ciphers 14.4, node:crypto AES-128-GCM 0.61. A compiled ferry binary loads libcrypto from
 * the system at run time, so this is the fast path wherever the library exists; aead.ts falls back
 * to the bundled WASM build otherwise.
 *
 * One cipher context per direction for the whole process, re-keyed on every call: measured as fast
 * as a context per key (chacha's key setup is a copy), and it leaves no native state per connection
 * to free. JS is single-threaded, so the shared contexts are never used concurrently.
 */
import { dlopen, FFIType, type Pointer, ptr } from "bun:ffi";
import type { Aead } from "./aead.ts";

const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
const TAG = 16;

const symbols = {
  EVP_CIPHER_CTX_new: { args: [], returns: FFIType.ptr },
  EVP_chacha20_poly1305: { args: [], returns: FFIType.ptr },
  EVP_EncryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_EncryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_DecryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_EncryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_CIPHER_CTX_ctrl: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

/** OpenSSL 3, then 1.1 (same symbols). Linux only: elsewhere an unversioned libcrypto may abort the process. */
const NAMES = ["libcrypto.so.3", "libcrypto.so.1.1"];

/** Held for the life of the process: the symbols must not outlive the library handle. */
let lib: ReturnType<typeof dlopen<typeof symbols>> | undefined;

/** The binding, or undefined when no usable libcrypto is found. */
export function libcryptoChacha20Poly1305(): Aead | undefined {
  if (process.platform !== "linux") return undefined;
  for (const name of NAMES) {
    if (lib) break;
    try {
      lib = dlopen(name, symbols);
    } catch {
      // not installed under this name
    }
  }
  if (!lib) return undefined;
  const s = lib.symbols;
  const cipher = s.EVP_chacha20_poly1305();
  const enc = s.EVP_CIPHER_CTX_new();
  const dec = s.EVP_CIPHER_CTX_new();
  if (!cipher || !enc || !dec) return undefined;
  if (s.EVP_EncryptInit_ex(enc, cipher, null, null, null) !== 1 || s.EVP_DecryptInit_ex(dec, cipher, null, null, null) !== 1) return undefined;
  // Passed as typed arrays (not cached pointers) so they stay reachable for the GC.
  const outLen = new Int32Array(1);
  // Final() of an AEAD writes nothing; it still wants a valid output pointer.
  const finalOut = new Uint8Array(TAG);
  // Pointers are taken right before each call and used only within it.
  const at = (b: Uint8Array, off: number): Pointer => ptr(b, off);
  return {
    name: "chacha20-poly1305 (libcrypto via bun:ffi)",
    nonceSize: 12,
    seal(key, nonce, src, dst, off) {
      if (dst.length - off < src.length + TAG) throw new RangeError("seal: output too small");
      s.EVP_EncryptInit_ex(enc, null, null, key, nonce);
      if (src.length > 0) s.EVP_EncryptUpdate(enc, at(dst, off), outLen, src, src.length);
      s.EVP_EncryptFinal_ex(enc, finalOut, outLen);
      s.EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, TAG, at(dst, off + src.length));
    },
    open(key, nonce, src, dst, off) {
      const n = src.length - TAG;
      if (n < 0 || dst.length - off < n) return false;
      s.EVP_DecryptInit_ex(dec, null, null, key, nonce);
      s.EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, TAG, at(src, n));
      if (n > 0) s.EVP_DecryptUpdate(dec, at(dst, off), outLen, src, n);
      // On a bad tag OpenSSL has already written (unauthenticated) plaintext; callers drop dst then.
      return s.EVP_DecryptFinal_ex(dec, finalOut, outLen) === 1;
    },
  };
}
