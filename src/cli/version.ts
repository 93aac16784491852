import { defineCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };

/** Release builds may stamp another version (an alpha, a test's "newer" build) with --define. */
declare const FERRY_BUILD_VERSION: string | undefined;

export const VERSION = typeof FERRY_BUILD_VERSION === "string" ? FERRY_BUILD_VERSION : `v${pkg.version}`;

export default defineCommand({
  meta: { name: "version", description: "Print ferry's version" },
  run() {
    console.log(`ferry ${VERSION} (bun ${Bun.version}, ${process.platform}/${process.arch})`);
  },
});
