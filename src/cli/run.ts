import { watch } from "node:fs";
import { basename, dirname, join } from "node:path";
import { defineCommand } from "citty";
import { log } from "../log.ts";
import { ConfigLoadError, Runtime } from "../core/runtime.ts";
import { controllerSettings, mergeOverrides, overridesFromEnv, wantsController } from "../controller/settings.ts";
import { configArgs, controllerArgs, resolvePaths, stdinConfig } from "./common.ts";
import { VERSION } from "./version.ts";

/** Editors write a file in several steps: one reload once the events have settled. */
const WATCH_DEBOUNCE_MS = 300;

/** How long SIGINT/SIGTERM waits for open connections before closing them. */
const DRAIN_MS = 3_000;

export default defineCommand({
  meta: { name: "run", description: "Start ferry with a config" },
  args: { ...configArgs, ...controllerArgs, watch: { type: "boolean", description: "reload when the config file changes (as SIGHUP does)" } },
  async run({ args }) {
    const paths = resolvePaths(args);
    const runtime = await Runtime.create({ ...paths, configText: await stdinConfig(args) });
    log.info(`ferry ${VERSION} starting, home ${paths.homeDir}`);
    // A bug in a plugin's callback must not take the process down: log it and keep serving.
    process.on("uncaughtException", (err) => log.error(`uncaught error (kept running): ${err.stack ?? err.message}`));
    process.on("unhandledRejection", (err) => log.error(`unhandled rejection (kept running): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
    let controller: { stop(): Promise<void> } | undefined;
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: closing listeners, draining connections for up to ${DRAIN_MS / 1000}s`);
      await controller?.stop();
      await runtime.shutdown(DRAIN_MS);
      process.exit(0);
    };
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGHUP", () => {
      log.info("SIGHUP: reloading the config");
      void runtime.reload();
    });
    if (args.watch && args.config !== "-") watchConfig(paths.configPath ?? join(paths.homeDir, "config.yaml"), () => void runtime.reload());
    let engine: Awaited<ReturnType<Runtime["start"]>>;
    try {
      engine = await runtime.start();
    } catch (err) {
      log.error(err instanceof ConfigLoadError ? err.message : String(err));
      process.exit(1);
    }
    const flags = {
      externalController: args["ext-ctl"],
      externalControllerTls: args["ext-ctl-tls"],
      externalControllerUnix: args["ext-ctl-unix"],
      secret: args.secret,
      externalUi: args["ext-ui"],
    };
    const settings = controllerSettings(engine.config.raw, paths.homeDir, mergeOverrides(flags, overridesFromEnv(process.env)));
    if (wantsController(settings) && !stopping) {
      // Loading Elysia costs 150–400 ms, so it is imported only once the proxy listeners are open.
      const { startController, RuntimeHost } = await import("../controller/index.ts");
      controller = await startController(new RuntimeHost(runtime), settings, VERSION);
    }
  },
});

/**
 * Watch the config's folder rather than the file: editors and `mv` replace the file, which ends a
 * watch on the file itself.
 */
function watchConfig(path: string, reload: () => void): void {
  const name = basename(path);
  let timer: ReturnType<typeof setTimeout> | undefined;
  watch(dirname(path), (_event, file) => {
    if (file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      log.info(`${path} changed: reloading the config`);
      reload();
    }, WATCH_DEBOUNCE_MS);
  }).unref();
  log.info(`watching ${path} for changes`);
}
