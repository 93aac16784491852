/**
 * One AEAD interface for every Shadowsocks cipher, with the implementation picked by measurement
 * (CPU seconds per GiB through one connection, seal + open of 16 KiB chunks, this machine kind):
 *
 * | cipher | backend | s/GiB |
 * |---|---|---|
 * | AES-128/256-GCM | node:crypto, a cipher object per chunk | 0.61 / 0.66 |
 * | AES-128-GCM | libcrypto via bun:ffi (not used: slower than node:crypto) | 0.68 |
 * | ChaCha20-Poly1305 | libcrypto via bun:ffi (libcrypto.ts) | 0.93 |
 * | ChaCha20-Poly1305 | libsodium-wrappers (WASM, bundled): the portable fallback | 6.3 |
 * | ChaCha20-Poly1305 | @noble/ciphers (pure JS; not used) | 14.4 |
 *
 * Bun's node:crypto has no chacha20-poly1305, so that cipher uses the system's libcrypto when it
 * loads and passes a known-answer check, and the WASM build compiled into the binary otherwise
 * (`FERRY_CHACHA=wasm` forces the fallback). XChaCha20 is HChaCha20 (below) + ChaCha20-Poly1305.
 *
 * Keys are passed per call: node:crypto and the shared libcrypto contexts take them per operation
 * anyway, and nothing native is held per connection.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { libcryptoAead } from "./libcrypto.ts";

export const TAG_SIZE = 16;

export interface Aead {
  /** Which implementation, for logs and tests. */
  readonly name: string;
  /** Nonce bytes: 12, or 24 for XChaCha20. */
  readonly nonceSize: number;
  /** Encrypt `src` into `dst` at `off`: `src.length` bytes of ciphertext, then the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, off: number): void;
  /**
   * Decrypt `src` (ciphertext and tag) into `dst` at `off` (`src.length - 16` bytes). False when
   * the tag does not verify; `dst` may then hold garbage and must be dropped.
   */
  open(key: Uint8Array, nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, off: number): boolean;
}

type GcmName = "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm";

/**
 * AES-GCM through node:crypto, one cipher object per chunk: measured the fastest way in Bun
 * (bun-probe §5; 5.7 GB/s per 16 KiB seal here). Its output arrives in new buffers, so each chunk
 * is copied once into `dst`; the whole seal + copy + open + copy still beats the ffi binding.
 */
export function nodeAesGcm(name: GcmName): Aead {
  return {
    name: `${name} (node:crypto)`,
    nonceSize: 12,
    seal(key, nonce, src, dst, off) {
      const c = createCipheriv(name, key, nonce);
      dst.set(c.update(src), off);
      c.final();
      dst.set(c.getAuthTag(), off + src.length);
    },
    open(key, nonce, src, dst, off) {
      const n = src.length - TAG_SIZE;
      if (n < 0) return false;
      const d = createDecipheriv(name, key, nonce);
      d.setAuthTag(src.subarray(n));
      const plain = d.update(src.subarray(0, n));
      try {
        d.final();
      } catch {
        return false;
      }
      dst.set(plain, off);
      return true;
    },
  };
}

/** ChaCha20-Poly1305 from libsodium's WASM build, bundled into the binary: always available. */
async function wasmChacha20Poly1305(): Promise<Aead> {
  const { default: sodium } = await import("libsodium-wrappers");
  await sodium.ready;
  return {
    name: "chacha20-poly1305 (libsodium WASM)",
    nonceSize: 12,
    seal(key, nonce, src, dst, off) {
      dst.set(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(src, null, null, nonce, key), off);
    },
    open(key, nonce, src, dst, off) {
      if (src.length < TAG_SIZE) return false;
      let plain: Uint8Array;
      try {
        plain = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, src, null, nonce, key);
      } catch {
        return false;
      }
      dst.set(plain, off);
      return true;
    },
  };
}

/** Known answer (Tink's self-test, RFC 8439 key and nonce, empty message): the tag alone. */
function passesKnownAnswer(aead: Aead): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
  const nonce = Uint8Array.of(7, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47);
  const out = new Uint8Array(TAG_SIZE);
  aead.seal(key, nonce, new Uint8Array(0), out, 0);
  return Buffer.from(out).toString("hex") === "a0784d7a4716f3feb4f64e7f4b39bf04" && aead.open(key, nonce, out, new Uint8Array(0), 0);
}

export type ChachaBackend = "libcrypto" | "wasm";

const loaded = new Map<ChachaBackend, Promise<Aead | undefined>>();

/** One ChaCha20-Poly1305 backend, loaded once; undefined when it cannot load here. */
export function chachaBackend(which: ChachaBackend): Promise<Aead | undefined> {
  let p = loaded.get(which);
  if (!p) {
    p =
      which === "wasm"
        ? wasmChacha20Poly1305()
        : Promise.resolve().then(() => {
            const aead = libcryptoAead("chacha20-poly1305");
            return aead && passesKnownAnswer(aead) ? aead : undefined;
          });
    loaded.set(which, p);
  }
  return p;
}

/** The ChaCha20-Poly1305 to use: libcrypto when it loads, else the bundled WASM build. */
export async function chacha20Poly1305(): Promise<Aead> {
  const fast = process.env.FERRY_CHACHA === "wasm" ? undefined : await chachaBackend("libcrypto");
  const aead = fast ?? (await chachaBackend("wasm"));
  if (!aead) throw new Error("no ChaCha20-Poly1305 implementation could be loaded");
  return aead;
}

const SIGMA = Uint32Array.of(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574);
/** HChaCha20's working state, reused: JS is single-threaded and the function does not re-enter. */
const x = new Uint32Array(16);

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha §2.2): 32-byte subkey from a key and the first 16 nonce
 * bytes. Runs once per XChaCha operation, ~1 µs.
 */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array, out: Uint8Array): void {
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  const nv = new DataView(nonce16.buffer, nonce16.byteOffset, 16);
  x.set(SIGMA);
  for (let i = 0; i < 8; i++) x[4 + i] = kv.getUint32(i * 4, true);
  for (let i = 0; i < 4; i++) x[12 + i] = nv.getUint32(i * 4, true);
  const qr = (a: number, b: number, c: number, d: number) => {
    x[a] = (x[a]! + x[b]!) >>> 0;
    x[d] = rotl(x[d]! ^ x[a]!, 16);
    x[c] = (x[c]! + x[d]!) >>> 0;
    x[b] = rotl(x[b]! ^ x[c]!, 12);
    x[a] = (x[a]! + x[b]!) >>> 0;
    x[d] = rotl(x[d]! ^ x[a]!, 8);
    x[c] = (x[c]! + x[d]!) >>> 0;
    x[b] = rotl(x[b]! ^ x[c]!, 7);
  };
  for (let round = 0; round < 10; round++) {
    qr(0, 4, 8, 12);
    qr(1, 5, 9, 13);
    qr(2, 6, 10, 14);
    qr(3, 7, 11, 15);
    qr(0, 5, 10, 15);
    qr(1, 6, 11, 12);
    qr(2, 7, 8, 13);
    qr(3, 4, 9, 14);
  }
  const ov = new DataView(out.buffer, out.byteOffset, 32);
  for (let i = 0; i < 4; i++) {
    ov.setUint32(i * 4, x[i]!, true);
    ov.setUint32(16 + i * 4, x[12 + i]!, true);
  }
}

function rotl(v: number, n: number): number {
  return ((v << n) | (v >>> (32 - n))) >>> 0;
}

/** XChaCha20-Poly1305 over a ChaCha20-Poly1305: subkey = HChaCha20(key, nonce[0..16]), nonce = 0⁴ ‖ nonce[16..24]. */
export function xchacha(inner: Aead): Aead {
  const subkey = new Uint8Array(32);
  const nonce12 = new Uint8Array(12);
  const prepare = (key: Uint8Array, nonce: Uint8Array) => {
    hchacha20(key, nonce, subkey);
    nonce12.set(nonce.subarray(16, 24), 4);
  };
  return {
    name: `x${inner.name}`,
    nonceSize: 24,
    seal(key, nonce, src, dst, off) {
      prepare(key, nonce);
      inner.seal(subkey, nonce12, src, dst, off);
    },
    open(key, nonce, src, dst, off) {
      prepare(key, nonce);
      return inner.open(subkey, nonce12, src, dst, off);
    },
  };
}
