/**
 * AEADs from the system's OpenSSL through `bun:ffi`: ChaCha20-Poly1305 for Shadowsocks and VMess,
 * AES-128-GCM for the VMess body (why there and not for ss: vmess/gcm.ts). Bun's node:crypto has
 * no chacha20-poly1305 (bun-probe §5); measured here per 16 KiB Shadowsocks chunk (seal + open,
 * both directions of one connection): this binding 0.93 s of CPU per GiB, libsodium's WASM build
 * 6.3, @noble/ciphers 14.4, node:crypto AES-128-GCM 0.61. A compiled ferry binary loads libcrypto
 * from the system at run time, so this is the fast path wherever the library exists; the callers
 * check each binding against known answers and fall back (aead.ts, vmess/gcm.ts) otherwise.
 *
 * One cipher context per direction for the whole process, re-keyed on every call: measured as fast
 * as a context per key (chacha's key setup is a copy), and it leaves no native state per connection
 * to free. JS is single-threaded, so the shared contexts are never used concurrently.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import type { Aead } from "./aead.ts";

const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
const TAG = 16;

const evp = {
  EVP_CIPHER_CTX_new: { args: [], returns: FFIType.ptr },
  EVP_EncryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_EncryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_DecryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_EncryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_CIPHER_CTX_ctrl: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

/** Each cipher's EVP_CIPHER getter, loaded with the calls above: a library without it is not used for that cipher. */
const GETTERS = {
  "chacha20-poly1305": "EVP_chacha20_poly1305",
  "aes-128-gcm": "EVP_aes_128_gcm",
} as const;

export type LibcryptoCipher = keyof typeof GETTERS;

type Getter = (typeof GETTERS)[LibcryptoCipher];
type Symbols = typeof evp & Record<Getter, { readonly args: readonly []; readonly returns: FFIType.ptr }>;

/** OpenSSL 3, then 1.1 (same symbols). Linux only: elsewhere an unversioned libcrypto may abort the process. */
const NAMES = ["libcrypto.so.3", "libcrypto.so.1.1"];

/** Held for the life of the process, one per cipher: the symbols must not outlive the library handle. */
const libs = new Map<LibcryptoCipher, ReturnType<typeof dlopen<Symbols>>>();

function load(cipher: LibcryptoCipher): ReturnType<typeof dlopen<Symbols>> | undefined {
  let lib = libs.get(cipher);
  for (const name of NAMES) {
    if (lib) break;
    try {
      // Only this cipher's getter is asked for, so a library lacking the other still serves this one.
      lib = dlopen(name, { ...evp, [GETTERS[cipher]]: { args: [], returns: FFIType.ptr } } as Symbols);
      libs.set(cipher, lib);
    } catch {
      // not installed under this name
    }
  }
  return lib;
}

/** The binding for one cipher, or undefined when no usable libcrypto is found. */
export function libcryptoAead(cipher: LibcryptoCipher): Aead | undefined {
  if (process.platform !== "linux") return undefined;
  const lib = load(cipher);
  if (!lib) return undefined;
  const s = lib.symbols;
  const evpCipher = s[GETTERS[cipher]]();
  const enc = s.EVP_CIPHER_CTX_new();
  const dec = s.EVP_CIPHER_CTX_new();
  if (!evpCipher || !enc || !dec) return undefined;
  if (s.EVP_EncryptInit_ex(enc, evpCipher, null, null, null) !== 1 || s.EVP_DecryptInit_ex(dec, evpCipher, null, null, null) !== 1) return undefined;
  // Passed as typed arrays (not cached pointers) so they stay reachable for the GC.
  const outLen = new Int32Array(1);
  // Final() of an AEAD writes nothing; it still wants a valid output pointer.
  const finalOut = new Uint8Array(TAG);
  // Pointers (ptr) are taken right before each call and used only within it.
  return {
    name: `${cipher} (libcrypto via bun:ffi)`,
    nonceSize: 12,
    seal(key, nonce, src, dst, off) {
      if (dst.length - off < src.length + TAG) throw new RangeError("seal: output too small");
      s.EVP_EncryptInit_ex(enc, null, null, key, nonce);
      if (src.length > 0) s.EVP_EncryptUpdate(enc, ptr(dst, off), outLen, src, src.length);
      s.EVP_EncryptFinal_ex(enc, finalOut, outLen);
      s.EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, TAG, ptr(dst, off + src.length));
    },
    open(key, nonce, src, dst, off) {
      const n = src.length - TAG;
      if (n < 0 || dst.length - off < n) return false;
      s.EVP_DecryptInit_ex(dec, null, null, key, nonce);
      s.EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, TAG, ptr(src, n));
      if (n > 0) s.EVP_DecryptUpdate(dec, ptr(dst, off), outLen, src, n);
      // On a bad tag OpenSSL has already written (unauthenticated) plaintext; callers drop dst then.
      return s.EVP_DecryptFinal_ex(dec, finalOut, outLen) === 1;
    },
  };
}
