/**
 * SHAKE128 as an endless stream of 16-bit words: VMess masks every chunk length (and draws every
 * padding length) from SHAKE128(body IV). node:crypto's shake128 has a fixed output length and
 * cannot continue squeezing, and a connection needs 2-4 bytes per chunk for as long as it lives,
 * so this squeezes Keccak-f[1600] itself. One permutation yields 168 bytes (42-84 chunks), so its
 * cost is small beside the AEAD per chunk.
 */

const RATE = 168;

/** Keccak round constants as [low, high] 32-bit halves. */
const RC = new Uint32Array([
  0x00000001, 0x00000000, 0x00008082, 0x00000000, 0x0000808a, 0x80000000, 0x80008000, 0x80000000, 0x0000808b, 0x00000000,
  0x80000001, 0x00000000, 0x80008081, 0x80000000, 0x00008009, 0x80000000, 0x0000008a, 0x00000000, 0x00000088, 0x00000000,
  0x80008009, 0x00000000, 0x8000000a, 0x00000000, 0x8000808b, 0x00000000, 0x0000008b, 0x80000000, 0x00008089, 0x80000000,
  0x00008003, 0x80000000, 0x00008002, 0x80000000, 0x00000080, 0x80000000, 0x0000800a, 0x00000000, 0x8000000a, 0x80000000,
  0x80008081, 0x80000000, 0x00008080, 0x80000000, 0x80000001, 0x00000000, 0x80008008, 0x80000000,
]);

/** Rotation of lane x + 5y (ρ step). */
const ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];
/** Where lane x + 5y goes in the π step: y + 5 * ((2x + 3y) mod 5). */
const PI = Array.from({ length: 25 }, (_, i) => {
  const x = i % 5;
  const y = (i / 5) | 0;
  return y + 5 * ((2 * x + 3 * y) % 5);
});

/** Keccak-f[1600] on 25 lanes stored as [low, high] pairs. */
function keccakF(s: Uint32Array, b: Uint32Array, c: Uint32Array): void {
  for (let round = 0; round < 24; round++) {
    // θ
    for (let x = 0; x < 5; x++) {
      c[2 * x] = s[2 * x]! ^ s[2 * x + 10]! ^ s[2 * x + 20]! ^ s[2 * x + 30]! ^ s[2 * x + 40]!;
      c[2 * x + 1] = s[2 * x + 1]! ^ s[2 * x + 11]! ^ s[2 * x + 21]! ^ s[2 * x + 31]! ^ s[2 * x + 41]!;
    }
    for (let x = 0; x < 5; x++) {
      const l1 = c[2 * ((x + 1) % 5)]!;
      const h1 = c[2 * ((x + 1) % 5) + 1]!;
      const dl = c[2 * ((x + 4) % 5)]! ^ ((l1 << 1) | (h1 >>> 31));
      const dh = c[2 * ((x + 4) % 5) + 1]! ^ ((h1 << 1) | (l1 >>> 31));
      for (let y = 0; y < 25; y += 5) {
        s[2 * (x + y)] = s[2 * (x + y)]! ^ dl;
        s[2 * (x + y) + 1] = s[2 * (x + y) + 1]! ^ dh;
      }
    }
    // ρ and π
    for (let i = 0; i < 25; i++) {
      const lo = s[2 * i]!;
      const hi = s[2 * i + 1]!;
      const r = ROT[i]!;
      const j = PI[i]!;
      if (r === 0) {
        b[2 * j] = lo;
        b[2 * j + 1] = hi;
      } else if (r < 32) {
        b[2 * j] = (lo << r) | (hi >>> (32 - r));
        b[2 * j + 1] = (hi << r) | (lo >>> (32 - r));
      } else if (r === 32) {
        b[2 * j] = hi;
        b[2 * j + 1] = lo;
      } else {
        const m = r - 32;
        b[2 * j] = (hi << m) | (lo >>> (32 - m));
        b[2 * j + 1] = (lo << m) | (hi >>> (32 - m));
      }
    }
    // χ
    for (let y = 0; y < 25; y += 5) {
      for (let x = 0; x < 5; x++) {
        const i = 2 * (x + y);
        const i1 = 2 * (((x + 1) % 5) + y);
        const i2 = 2 * (((x + 2) % 5) + y);
        s[i] = b[i]! ^ (~b[i1]! & b[i2]!);
        s[i + 1] = b[i + 1]! ^ (~b[i1 + 1]! & b[i2 + 1]!);
      }
    }
    // ι
    s[0] = s[0]! ^ RC[2 * round]!;
    s[1] = s[1]! ^ RC[2 * round + 1]!;
  }
}

/** SHAKE128 over a seed shorter than the rate (VMess seeds are 16 bytes), read as big-endian u16s. */
export class Shake128Stream {
  private readonly state = new Uint32Array(50);
  private readonly bytes = new Uint8Array(this.state.buffer);
  private readonly b = new Uint32Array(50);
  private readonly c = new Uint32Array(10);
  private pos = RATE;

  constructor(seed: Uint8Array) {
    if (seed.length >= RATE) throw new Error("shake128: seed too long");
    // Lanes are little-endian; Bun runs on little-endian machines only (x64, arm64).
    this.bytes.set(seed);
    this.bytes[seed.length] = this.bytes[seed.length]! ^ 0x1f;
    this.bytes[RATE - 1] = this.bytes[RATE - 1]! ^ 0x80;
  }

  /** The next two output bytes as a big-endian number. The rate is even, so reads never straddle a block. */
  next16(): number {
    if (this.pos === RATE) {
      keccakF(this.state, this.b, this.c);
      this.pos = 0;
    }
    const v = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
}
