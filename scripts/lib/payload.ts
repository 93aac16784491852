/**
 * Deterministic payloads: the first N bytes of the AES-128-CTR keystream with an all-zero key and
 * IV. Any test can regenerate the expected bytes without reading files, and the content is the
 * same as the maintainers' peer lab serves, so checksums agree across both.
 */
import { createCipheriv } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** SHA-256 of the payload of each size the origin serves. */
export const PAYLOAD_SHA256: Readonly<Record<number, string>> = {
  [KiB]: "2990b14123348d32c26023200157608e39b6c1c0206a4ad6f7c77cfdfab45613",
  [64 * KiB]: "b8cc440efb1157d3d652e35472c75367afee67389cee2bd950b1ad849e5c1545",
  [MiB]: "cbe2b262041a8db47d844bcaccfaa76de692ca1410e9920198b250445175e1b8",
  [16 * MiB]: "04257f2c06bb2404d0a64584ceb92e782d5a5e281c5436876fc11ad1b4993547",
  [GiB]: "a110c53382d90198328a45c24dfc98a504911e2abf65c16d6c879ae958528cbd",
};

const keystream = () => createCipheriv("aes-128-ctr", Buffer.alloc(16), Buffer.alloc(16));

/** The first n payload bytes, in memory (for small sizes). */
export function payloadBytes(n: number): Buffer {
  return keystream().update(Buffer.alloc(n));
}

/** "1G", "256M", "64k", "1000" -> bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+)([kKmMgG]?)(i?[bB])?$/.exec(s.trim());
  if (!m) throw new Error(`bad size '${s}' (want N, NK, NM or NG)`);
  const unit = { "": 1, k: KiB, m: MiB, g: GiB }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Number(m[1]) * unit;
}

export function cacheDir(): string {
  return process.env.FERRY_PEERS_CACHE ?? join(tmpdir(), `ferry-peers-cache-${process.getuid?.() ?? 0}`);
}

/**
 * Path of a cached file holding the first n payload bytes, made on first use (~2 s per GiB).
 * Written to a temp name and renamed, so concurrent makers never expose a partial file.
 */
export function payloadFile(n: number): string {
  const dir = cacheDir();
  const file = join(dir, `stream-${n}.bin`);
  if (existsSync(file) && statSync(file).size === n) return file;
  // World-readable: nginx workers may run as another user when the harness is not root.
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = mkdtempSync(join(dir, ".gen-"));
  const part = join(tmp, "data");
  const fd = openSync(part, "w", 0o644);
  try {
    const cipher = keystream();
    const zeros = Buffer.alloc(Math.min(n, 4 * MiB));
    for (let done = 0; done < n; ) {
      const len = Math.min(zeros.length, n - done);
      const chunk = cipher.update(len === zeros.length ? zeros : zeros.subarray(0, len));
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
      done += len;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(part, file);
  rmSync(tmp, { recursive: true, force: true });
  return file;
}
