import { createHash, createPublicKey, verify } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, open, rename, rm } from "node:fs/promises";
import { VERSION } from "../cli/version.ts";
import { compiled } from "./exec.ts";
import { RELEASE_PUBLIC_KEY } from "./release-key.ts";

/** Where releases live when neither `--url` nor `ferry-update-url` says otherwise. */
export const DEFAULT_UPDATE_URL = "https://releases.ferry.invalid";

export const CHANNELS = ["stable", "alpha"] as const;
export type Channel = (typeof CHANNELS)[number];

export const TARGETS = [
  "linux-x64",
  "linux-x64-baseline",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  "windows-x64",
] as const;
export type Target = (typeof TARGETS)[number];

export interface ReleaseFile {
  file: string;
  sha256: string;
  size: number;
}

/** `BASE/<channel>/manifest.json`, signed by `manifest.json.sig` (base64 Ed25519 over the exact bytes). */
export interface Manifest {
  product: "ferry";
  version: string;
  channel: Channel;
  targets: Partial<Record<Target, ReleaseFile>>;
}

const MAX_MANIFEST_BYTES = 64 * 1024;
/** A compiled ferry is ~100 MB; anything far beyond is not ours. */
const MAX_BINARY_BYTES = 512 * 1024 * 1024;
const MANIFEST_TIMEOUT_MS = 30_000;
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

export class UpgradeError extends Error {}

/** This machine's release target; musl and pre-AVX2 x64 CPUs need their own Bun runtime. */
export function currentTarget(): Target {
  const arch = process.arch === "x64" || process.arch === "arm64" ? process.arch : undefined;
  if (!arch) throw new UpgradeError(`no ferry release for ${process.platform}/${process.arch}`);
  if (process.platform === "darwin") return `darwin-${arch}`;
  if (process.platform === "win32" && arch === "x64") return "windows-x64";
  if (process.platform !== "linux") throw new UpgradeError(`no ferry release for ${process.platform}/${process.arch}`);
  if (existsSync(`/lib/ld-musl-${arch === "x64" ? "x86_64" : "aarch64"}.so.1`)) return `linux-${arch}-musl`;
  if (arch === "x64" && !cpuHasAvx2()) return "linux-x64-baseline";
  return `linux-${arch}`;
}

function cpuHasAvx2(): boolean {
  try {
    return /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "latin1"));
  } catch {
    // Unknown CPU: the baseline build runs everywhere.
    return false;
  }
}

/** Compare `v1.2.3[-pre]` versions; a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-(.+))?$/.exec(v);
    if (!m) throw new UpgradeError(`not a version: "${v}"`);
    return { nums: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** Read at most `limit` bytes of a response body; more is an error, not a truncation. */
async function boundedBytes(res: Response, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.byteLength;
    if (total > limit) throw new UpgradeError(`${what} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function get(url: string, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (err) {
    throw new UpgradeError(`can't fetch ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) throw new UpgradeError(`can't fetch ${url}: HTTP ${res.status}`);
  return res;
}

function channelUrl(base: string, channel: Channel, file: string): string {
  return `${base.replace(/\/+$/, "")}/${channel}/${file}`;
}

/** Fetch, verify and validate a channel's manifest. Nothing in it is trusted before the signature checks out. */
export async function fetchManifest(base: string, channel: Channel, publicKey = RELEASE_PUBLIC_KEY): Promise<Manifest> {
  const url = channelUrl(base, channel, "manifest.json");
  const bytes = await boundedBytes(await get(url, MANIFEST_TIMEOUT_MS), MAX_MANIFEST_BYTES, "manifest.json");
  const sigText = new TextDecoder().decode(await boundedBytes(await get(`${url}.sig`, MANIFEST_TIMEOUT_MS), 1024, "manifest.json.sig"));
  const signature = Buffer.from(sigText.trim(), "base64");
  const key = createPublicKey({ key: Buffer.from(publicKey, "base64"), format: "der", type: "spki" });
  if (signature.length !== 64 || !verify(null, bytes, key, signature)) throw new UpgradeError("manifest.json: bad signature");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new UpgradeError("manifest.json: not JSON");
  }
  return validateManifest(value, channel);
}

function validateManifest(value: unknown, channel: Channel): Manifest {
  const m = value as Record<string, unknown> | null;
  if (typeof m !== "object" || m === null) throw new UpgradeError("manifest.json: not an object");
  // Dashboards call POST /upgrade on their own: a manifest for anything else is never installed.
  if (m.product !== "ferry") throw new UpgradeError(`manifest.json: product is ${JSON.stringify(m.product)}, not "ferry"`);
  if (typeof m.version !== "string") throw new UpgradeError("manifest.json: no version");
  compareVersions(m.version, "0.0.0");
  if (m.channel !== channel) throw new UpgradeError(`manifest.json: channel is ${JSON.stringify(m.channel)}, expected "${channel}"`);
  const targets = m.targets as Record<string, unknown> | null;
  if (typeof targets !== "object" || targets === null) throw new UpgradeError("manifest.json: no targets");
  for (const [name, entry] of Object.entries(targets)) {
    const e = entry as Record<string, unknown> | null;
    const ok =
      typeof e === "object" &&
      e !== null &&
      typeof e.file === "string" &&
      /^[A-Za-z0-9._-]+$/.test(e.file) &&
      typeof e.sha256 === "string" &&
      /^[0-9a-f]{64}$/.test(e.sha256) &&
      Number.isSafeInteger(e.size) &&
      (e.size as number) > 0 &&
      (e.size as number) <= MAX_BINARY_BYTES;
    if (!ok) throw new UpgradeError(`manifest.json: bad entry for ${name}`);
  }
  return m as unknown as Manifest;
}

export interface UpgradeOptions {
  base: string;
  channel: Channel;
  force?: boolean;
  /** Tests only; the CLI and the controller always use the key compiled in. */
  publicKey?: string;
  /** Tests only: the file to replace; otherwise the running executable. */
  exePath?: string;
  currentVersion?: string;
}

export interface UpgradeCheck {
  current: string;
  latest: string;
  target: Target;
  release: ReleaseFile;
  /** The manifest is newer, or `force` is set. */
  install: boolean;
}

export async function checkUpgrade(options: UpgradeOptions): Promise<UpgradeCheck> {
  const manifest = await fetchManifest(options.base, options.channel, options.publicKey);
  const target = currentTarget();
  const release = manifest.targets[target];
  if (!release) throw new UpgradeError(`ferry ${manifest.version} has no build for ${target}`);
  const current = options.currentVersion ?? VERSION;
  const install = options.force === true || compareVersions(manifest.version, current) > 0;
  return { current, latest: manifest.version, target, release, install };
}

/** Refused before any download: replacing `bun` itself when running from source would be wrong. */
export function assertReplaceable(): void {
  if (!compiled()) {
    throw new UpgradeError("ferry is running from source (bun src/cli/main.ts), not as a compiled binary: update the checkout instead");
  }
}

/**
 * Download `check.release` beside the executable as `<exe>.new`, check its size and SHA-256, then
 * swap it in: `<exe>` → `<exe>.old`, `<exe>.new` → `<exe>`. Any failure before the swap removes
 * `<exe>.new` and leaves the installed binary as it was.
 */
export async function installUpgrade(options: UpgradeOptions, check: UpgradeCheck): Promise<string> {
  const exe = options.exePath ?? process.execPath;
  const fresh = `${exe}.new`;
  const url = channelUrl(options.base, options.channel, check.release.file);
  try {
    const res = await get(url, DOWNLOAD_TIMEOUT_MS);
    const hash = createHash("sha256");
    let size = 0;
    const file = await open(fresh, "w", 0o755);
    try {
      for await (const chunk of res.body ?? []) {
        size += chunk.byteLength;
        if (size > check.release.size) throw new UpgradeError(`${check.release.file}: larger than the manifest's ${check.release.size} bytes`);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    if (size !== check.release.size) throw new UpgradeError(`${check.release.file}: got ${size} bytes, the manifest says ${check.release.size}`);
    const digest = hash.digest("hex");
    if (digest !== check.release.sha256) throw new UpgradeError(`${check.release.file}: SHA-256 ${digest} does not match the manifest`);
    await chmod(fresh, 0o755);
  } catch (err) {
    await rm(fresh, { force: true });
    if (err instanceof UpgradeError) throw err;
    throw new UpgradeError(`can't download ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  await rename(exe, `${exe}.old`);
  try {
    await rename(fresh, exe);
  } catch (err) {
    await rename(`${exe}.old`, exe);
    await rm(fresh, { force: true });
    throw new UpgradeError(`can't replace ${exe}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return exe;
}

export function parseChannel(value: string | undefined, fallback: Channel = "stable"): Channel {
  if (value === undefined || value === "") return fallback;
  const v = value.toLowerCase();
  if (v === "release") return "stable";
  if ((CHANNELS as readonly string[]).includes(v)) return v as Channel;
  throw new UpgradeError(`unknown channel "${value}" (stable or alpha)`);
}
