/**
 * `npm run build`: one self-contained executable, dist/ferry, with the built-in plugins inside.
 * --minify --bytecode --format=esm: measured start-up CPU ÷2.3 (research/bun-probe.md §7).
 * BUILD_TARGET (e.g. bun-linux-arm64) cross-compiles; the default is this machine.
 * FERRY_RELEASE_PUBKEY (base64 DER Ed25519 public key) replaces the release key compiled in, and
 * FERRY_BUILD_VERSION the version: both are fixed at build time, never read when ferry runs.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const outfile = resolve(root, process.env.BUILD_OUTFILE ?? "dist/ferry");
mkdirSync(resolve(outfile, ".."), { recursive: true });
const args = [
  "build",
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  ...(process.env.BUILD_TARGET ? [`--target=${process.env.BUILD_TARGET}`] : []),
  ...(process.env.FERRY_RELEASE_PUBKEY ? ["--define", `FERRY_RELEASE_PUBKEY=${JSON.stringify(process.env.FERRY_RELEASE_PUBKEY)}`] : []),
  ...(process.env.FERRY_BUILD_VERSION ? ["--define", `FERRY_BUILD_VERSION=${JSON.stringify(process.env.FERRY_BUILD_VERSION)}`] : []),
  resolve(root, "src/cli/main.ts"),
  "--outfile",
  outfile,
];
const proc = Bun.spawnSync([process.execPath, ...args], { cwd: root, stdout: "inherit", stderr: "inherit" });
if (proc.exitCode !== 0) process.exit(proc.exitCode ?? 1);
console.log(`built ${outfile}`);
