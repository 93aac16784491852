import { defineCommand } from "citty";
import { assertReplaceable, checkUpgrade, DEFAULT_UPDATE_URL, installUpgrade, parseChannel, UpgradeError } from "../lifecycle/upgrade.ts";

export default defineCommand({
  meta: { name: "upgrade", description: "Replace this ferry binary with the latest signed release" },
  args: {
    check: { type: "boolean", description: "only report whether a newer version exists" },
    channel: { type: "string", description: "stable or alpha (default: stable)", valueHint: "CHANNEL" },
    url: { type: "string", description: `release server (default: ${DEFAULT_UPDATE_URL})`, valueHint: "BASE" },
    force: { type: "boolean", description: "install even when not newer" },
  },
  async run({ args }) {
    try {
      const options = { base: args.url ?? DEFAULT_UPDATE_URL, channel: parseChannel(args.channel), force: args.force === true };
      const check = await checkUpgrade(options);
      if (args.check) {
        console.log(check.install ? `ferry ${check.latest} is available (running ${check.current}, ${check.target})` : `ferry ${check.current} is up to date (latest ${check.latest})`);
        return;
      }
      if (!check.install) {
        console.log(`ferry ${check.current} is up to date (latest ${check.latest}); --force reinstalls`);
        return;
      }
      assertReplaceable();
      const exe = await installUpgrade(options, check);
      console.log(`upgraded ${exe} from ${check.current} to ${check.latest} (previous binary kept as ${exe}.old); restart ferry to use it`);
    } catch (err) {
      if (!(err instanceof UpgradeError)) throw err;
      console.error(`upgrade failed: ${err.message}`);
      process.exit(1);
    }
  },
});
