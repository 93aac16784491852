/**
 * Shadowsocks methods and their keys: AEAD (2017: EVP_BytesToKey master key, HKDF-SHA1 "ss-subkey"
 * per salt) and SIP022 (base64 PSKs, BLAKE3 key derivation).
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from "node:crypto";
import { UserError } from "../../../src/sdk/index.ts";
import { type Aead, chacha20Poly1305, nodeAesGcm, xchacha } from "./aead.ts";

export const AEAD_METHODS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305"] as const;
export const SS2022_METHODS = ["2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"] as const;
export const METHODS = [...AEAD_METHODS, ...SS2022_METHODS] as const;
export type MethodName = (typeof METHODS)[number];

export interface Method {
  readonly name: MethodName;
  readonly is2022: boolean;
  /** Key bytes, also the salt size. */
  readonly keySize: number;
  /** True for the 2022 AES methods (UDP headers and identity headers use the AES block cipher). */
  readonly aesBlock: boolean;
  /** The AEAD of the TCP stream (and of 2017 UDP and 2022 AES UDP packets). */
  aead(): Promise<Aead>;
}

const aesAead = (name: "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm") => {
  const aead = nodeAesGcm(name);
  return () => Promise.resolve(aead);
};
const xchachaAead = () => chacha20Poly1305().then(xchacha);

const TABLE: Record<MethodName, Omit<Method, "name">> = {
  "aes-128-gcm": { is2022: false, keySize: 16, aesBlock: false, aead: aesAead("aes-128-gcm") },
  "aes-192-gcm": { is2022: false, keySize: 24, aesBlock: false, aead: aesAead("aes-192-gcm") },
  "aes-256-gcm": { is2022: false, keySize: 32, aesBlock: false, aead: aesAead("aes-256-gcm") },
  "chacha20-ietf-poly1305": { is2022: false, keySize: 32, aesBlock: false, aead: chacha20Poly1305 },
  "xchacha20-ietf-poly1305": { is2022: false, keySize: 32, aesBlock: false, aead: xchachaAead },
  "2022-blake3-aes-128-gcm": { is2022: true, keySize: 16, aesBlock: true, aead: aesAead("aes-128-gcm") },
  "2022-blake3-aes-256-gcm": { is2022: true, keySize: 32, aesBlock: true, aead: aesAead("aes-256-gcm") },
  "2022-blake3-chacha20-poly1305": { is2022: true, keySize: 32, aesBlock: false, aead: chacha20Poly1305 },
};

export function method(name: MethodName): Method {
  return { name, ...TABLE[name] };
}

/** OpenSSL's EVP_BytesToKey with MD5 and no salt: the AEAD master key from a password. */
export function evpBytesToKey(password: string, size: number): Uint8Array {
  const pass = Buffer.from(password, "utf8");
  const out = new Uint8Array(size);
  let prev: Uint8Array = new Uint8Array(0);
  for (let filled = 0; filled < size; ) {
    prev = createHash("md5").update(prev).update(pass).digest();
    out.set(prev.subarray(0, size - filled), filled);
    filled += prev.length;
  }
  return out;
}

/** AEAD session subkey: HKDF-SHA1(master key, salt, "ss-subkey"). */
export function aeadSubkey(master: Uint8Array, salt: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha1", master, salt, "ss-subkey", master.length));
}

const SESSION_CONTEXT = new TextEncoder().encode("shadowsocks 2022 session subkey");
const IDENTITY_CONTEXT = new TextEncoder().encode("shadowsocks 2022 identity subkey");

function derive(context: Uint8Array, psk: Uint8Array, salt: Uint8Array): Uint8Array {
  const material = new Uint8Array(psk.length + salt.length);
  material.set(psk);
  material.set(salt, psk.length);
  return blake3(material, { context, dkLen: psk.length });
}

/** SIP022 session subkey: BLAKE3 derive_key("shadowsocks 2022 session subkey", psk ‖ salt). */
export function sessionSubkey(psk: Uint8Array, salt: Uint8Array): Uint8Array {
  return derive(SESSION_CONTEXT, psk, salt);
}

/** SIP023 identity subkey: BLAKE3 derive_key("shadowsocks 2022 identity subkey", iPSK ‖ salt). */
export function identitySubkey(psk: Uint8Array, salt: Uint8Array): Uint8Array {
  return derive(IDENTITY_CONTEXT, psk, salt);
}

/** First 16 bytes of BLAKE3(psk): what an identity header carries for the next layer's key. */
export function pskHash(psk: Uint8Array): Uint8Array {
  return blake3(psk).subarray(0, 16);
}

/**
 * SIP022 password: base64 PSKs joined by `:` (identity keys, then the user key; SIP023). A key
 * shorter than the method's is an error; a longer one is hashed down with SHA-256, as the Go
 * implementations (sing-shadowsocks) do.
 */
export function parsePsks(password: string, m: Method): Uint8Array[] {
  const parts = password.split(":");
  if (parts.length > 1 && !m.aesBlock) throw new UserError(`${m.name} takes one key (identity headers need an AES method)`);
  return parts.map((part, i) => {
    const which = parts.length > 1 ? `key ${i + 1} of ${parts.length}: ` : "";
    const hint = `${m.name} needs a ${m.keySize}-byte key (openssl rand -base64 ${m.keySize})`;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(part) || part.length % 4 !== 0) throw new UserError(`${which}not base64; ${hint}`);
    const key = new Uint8Array(Buffer.from(part, "base64"));
    if (key.length < m.keySize) throw new UserError(`${which}a ${key.length}-byte key; ${hint}`);
    return key.length === m.keySize ? key : new Uint8Array(createHash("sha256").update(key).digest().subarray(0, m.keySize));
  });
}

/** One AES block (ECB, no padding) with a 16- or 32-byte key: SIP022 UDP separate headers and SIP023 identity headers. */
export function aesBlock(key: Uint8Array, block: Uint8Array, decrypt = false): Uint8Array {
  const alg = key.length === 16 ? "aes-128-ecb" : "aes-256-ecb";
  const c = decrypt ? createDecipheriv(alg, key, null) : createCipheriv(alg, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

/** Add one to a little-endian counter nonce (2017 AEAD and SIP022 TCP chunks). */
export function incrementNonce(nonce: Uint8Array): void {
  for (let i = 0; i < nonce.length; i++) {
    nonce[i] = (nonce[i]! + 1) & 0xff;
    if (nonce[i] !== 0) return;
  }
}
