/**
 * `bun scripts/release.ts [stable|alpha]`: build every target Bun can cross-compile from here into
 * dist/release/<channel>/, with the manifest `ferry upgrade` reads (src/lifecycle/upgrade.ts).
 * FERRY_RELEASE_KEY names a PEM file with the Ed25519 private key (kept out of the repository);
 * without it the manifest is written unsigned and `ferry upgrade` will refuse it.
 * FERRY_BUILD_VERSION stamps another version than package.json's (e.g. v0.2.0-alpha.1).
 */
import { createHash, createPrivateKey, sign } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { parseChannel, type ReleaseFile, TARGETS, type Target } from "../src/lifecycle/upgrade.ts";

const root = resolve(import.meta.dir, "..");
const channel = parseChannel(process.argv[2]);
const version = process.env.FERRY_BUILD_VERSION ?? `v${pkg.version}`;
const out = resolve(root, "dist/release", channel);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const targets: Partial<Record<Target, ReleaseFile>> = {};
for (const target of TARGETS) {
  const file = `ferry-${version}-${target}${target.startsWith("windows") ? ".exe" : ""}`;
  const outfile = resolve(out, file);
  const build = Bun.spawnSync([process.execPath, resolve(root, "scripts/build.ts")], {
    cwd: root,
    env: { ...process.env, BUILD_TARGET: `bun-${target}`, BUILD_OUTFILE: outfile },
    stdout: "inherit",
    stderr: "inherit",
  });
  // A target whose Bun runtime cannot be fetched here is left out of this release, not fatal.
  if (build.exitCode !== 0) {
    console.warn(`skipped ${target}: bun build --target=bun-${target} failed`);
    continue;
  }
  const bytes = readFileSync(outfile);
  targets[target] = { file, sha256: createHash("sha256").update(bytes).digest("hex"), size: statSync(outfile).size };
}

const manifest = Buffer.from(`${JSON.stringify({ product: "ferry", version, channel, targets }, null, 2)}\n`);
writeFileSync(resolve(out, "manifest.json"), manifest);
const keyFile = process.env.FERRY_RELEASE_KEY;
if (keyFile) {
  const signature = sign(null, manifest, createPrivateKey(readFileSync(keyFile)));
  writeFileSync(resolve(out, "manifest.json.sig"), `${signature.toString("base64")}\n`);
  console.log(`signed ${out}/manifest.json with ${keyFile}`);
} else {
  console.warn("FERRY_RELEASE_KEY is not set: manifest.json is UNSIGNED and ferry upgrade will refuse it");
}
console.log(`release ${version} (${channel}): ${Object.keys(targets).join(", ") || "no targets"} in ${out}`);
