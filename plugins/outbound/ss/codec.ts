/**
 * The Shadowsocks AEAD chunk stream, both editions: `[salt] [header chunk]? ([length chunk]
 * [payload chunk])*`, every chunk sealed with its own nonce (a little-endian counter incremented
 * after each seal/open). Hot path: the relay runs through sealChunks and ChunkReader.feed for every
 * byte. Allocation per call is the output buffer only (nonces and the length block are reused),
 * and the reader copies each input byte at most once, only for a chunk split across reads.
 */
import { type Aead, TAG_SIZE } from "./aead.ts";
import { incrementNonce } from "./cipher.ts";

/** Largest payload per chunk: 0x3FFF for AEAD-2017, 0xFFFF for SIP022. */
export const AEAD_MAX_PAYLOAD = 0x3fff;
export const SS2022_MAX_PAYLOAD = 0xffff;

const LENGTH_CHUNK = 2 + TAG_SIZE;

/** Seals plaintext into chunks with one session subkey. */
export class ChunkWriter {
  readonly nonce: Uint8Array;
  private readonly length = new Uint8Array(2);

  constructor(
    private readonly aead: Aead,
    private readonly key: Uint8Array,
    private readonly maxPayload: number,
  ) {
    this.nonce = new Uint8Array(aead.nonceSize);
  }

  /** Bytes that `n` plaintext bytes take as length + payload chunks. */
  size(n: number): number {
    return n + Math.ceil(n / this.maxPayload) * (LENGTH_CHUNK + TAG_SIZE);
  }

  /** Seal `src` as one standalone chunk (a header) at `dst[off]`; returns the end offset. */
  sealChunk(src: Uint8Array, dst: Uint8Array, off: number): number {
    this.aead.seal(this.key, this.nonce, src, dst, off);
    incrementNonce(this.nonce);
    return off + src.length + TAG_SIZE;
  }

  /** Seal `src` as length + payload chunks at `dst[off]`; returns the end offset. */
  sealChunks(src: Uint8Array, dst: Uint8Array, off: number): number {
    for (let p = 0; p < src.length; ) {
      const n = Math.min(this.maxPayload, src.length - p);
      this.length[0] = n >> 8;
      this.length[1] = n & 0xff;
      off = this.sealChunk(this.length, dst, off);
      off = this.sealChunk(p === 0 && n === src.length ? src : src.subarray(p, p + n), dst, off);
      p += n;
    }
    return off;
  }
}

/** A fixed-size header chunk right after the salt (SIP022 responses and requests). */
export interface HeaderSpec {
  /** Plaintext bytes of the header chunk. */
  size: number;
  /** Check the decrypted header; return the length of the payload chunk that follows, or why it is refused. */
  check(plain: Uint8Array): number | string;
}

export interface ReaderOptions {
  saltSize: number;
  /** Session subkey for the salt the peer sent. */
  subkey(salt: Uint8Array): Uint8Array;
  maxPayload: number;
  header?: HeaderSpec;
}

const SALT = 0;
const HEADER = 1;
const LENGTH = 2;
const PAYLOAD = 3;

/**
 * Opens a chunk stream fed in arbitrary pieces. Each `feed` returns the plaintext completed by it
 * (one new buffer, empty when none) or an Error for a forged, truncated or malformed stream; after
 * an Error the reader must not be fed again.
 */
export class ChunkReader {
  private readonly nonce: Uint8Array;
  private readonly lengthPlain = new Uint8Array(2);
  private key: Uint8Array | undefined;
  private state = SALT;
  private need: number;
  /** A chunk split across reads: its bytes so far (sized for the whole chunk, so filled once). */
  private partial: Uint8Array | undefined;
  private filled = 0;
  private out: Uint8Array | undefined;
  private outPos = 0;

  constructor(
    private readonly aead: Aead,
    private readonly options: ReaderOptions,
  ) {
    this.nonce = new Uint8Array(aead.nonceSize);
    this.need = options.saltSize;
  }

  feed(data: Uint8Array): Uint8Array | Error {
    // Plaintext from this call is at most what it completes: the carried partial chunk plus `data`.
    this.out = undefined;
    this.outPos = 0;
    let pos = 0;
    const partial = this.partial;
    const bound = data.length + (partial ? this.filled : 0);
    if (partial) {
      const take = Math.min(this.need - this.filled, data.length);
      partial.set(take === data.length ? data : data.subarray(0, take), this.filled);
      this.filled += take;
      pos = take;
      if (this.filled < this.need) return EMPTY;
      this.partial = undefined;
      const err = this.frame(partial, bound);
      if (err) return err;
    }
    while (data.length - pos >= this.need) {
      const end = pos + this.need;
      const err = this.frame(data.subarray(pos, end), bound);
      if (err) return err;
      pos = end;
    }
    if (pos < data.length) {
      this.partial = new Uint8Array(this.need);
      this.partial.set(data.subarray(pos));
      this.filled = data.length - pos;
    }
    const out = this.out as Uint8Array | undefined;
    return out ? out.subarray(0, this.outPos) : EMPTY;
  }

  /** One complete frame of `need` bytes; `bound` caps the plaintext of the whole feed. */
  private frame(frame: Uint8Array, bound: number): Error | undefined {
    const { aead, options } = this;
    switch (this.state) {
      case SALT:
        this.key = options.subkey(frame);
        if (options.header) {
          this.state = HEADER;
          this.need = options.header.size + TAG_SIZE;
        } else {
          this.state = LENGTH;
          this.need = LENGTH_CHUNK;
        }
        return undefined;
      case HEADER: {
        const header = options.header!;
        const plain = new Uint8Array(header.size);
        if (!aead.open(this.key!, this.nonce, frame, plain, 0)) return new Error("header failed authentication (wrong password or cipher?)");
        incrementNonce(this.nonce);
        const next = header.check(plain);
        if (typeof next === "string") return new Error(next);
        return this.expectPayload(next);
      }
      case LENGTH: {
        if (!aead.open(this.key!, this.nonce, frame, this.lengthPlain, 0)) {
          return new Error("chunk failed authentication (wrong password or cipher?)");
        }
        incrementNonce(this.nonce);
        return this.expectPayload((this.lengthPlain[0]! << 8) | this.lengthPlain[1]!);
      }
      default: {
        const n = frame.length - TAG_SIZE;
        this.out ??= new Uint8Array(bound);
        if (!aead.open(this.key!, this.nonce, frame, this.out, this.outPos)) return new Error("chunk failed authentication");
        incrementNonce(this.nonce);
        this.outPos += n;
        this.state = LENGTH;
        this.need = LENGTH_CHUNK;
        return undefined;
      }
    }
  }

  private expectPayload(n: number): Error | undefined {
    if (n > this.options.maxPayload) return new Error(`chunk length ${n} exceeds ${this.options.maxPayload}`);
    this.state = PAYLOAD;
    this.need = n + TAG_SIZE;
    return undefined;
  }
}

const EMPTY = new Uint8Array(0);
