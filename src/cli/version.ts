import { defineCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };

export const VERSION = `v${pkg.version}`;

export default defineCommand({
  meta: { name: "version", description: "Print ferry's version" },
  run() {
    console.log(`ferry ${VERSION} (bun ${Bun.version}, ${process.platform}/${process.arch})`);
  },
});
