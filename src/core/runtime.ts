import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { builtinPlugins } from "../../plugins/index.ts";
import { type BuiltConfig, buildConfig, parseUsers } from "../config/build.ts";
import { formatIssue } from "../config/issues.ts";
import { DEFAULT_CONFIG } from "../config/default.ts";
import { geoStore } from "../geo/geodata.ts";
import { downloadWanted, GeoAutoUpdate } from "../geo/update.ts";
import { log, setLogLevel } from "../log.ts";
import { isGroup } from "../sdk/types.ts";
import { closeCache } from "../store/cache.ts";
import { Engine } from "./engine.ts";
import { ProxyStates } from "./health.ts";
import { loadExternalPlugins } from "./plugin-loader.ts";
import { Registry } from "./registry.ts";
import { Tracker } from "./tracker.ts";
import { NOT_RUNNING, TunnelImpl } from "./tunnel.ts";

export interface RuntimeOptions {
  homeDir: string;
  /** Config file; when missing, the embedded default is used (and said so). */
  configPath?: string;
  /** Config text given directly (tests, `-f -`): wins over configPath. */
  configText?: string;
  /** Extra plugin folders besides HOME/plugins. */
  pluginDirs?: string[];
}

/** A registry with the built-ins and the external plugins of HOME/plugins and the given folders. */
export async function createRegistry(homeDir: string, pluginDirs: string[] = []): Promise<Registry> {
  const registry = new Registry();
  for (const p of builtinPlugins) await registry.load(p, "builtin", log);
  await loadExternalPlugins(registry, [join(homeDir, "plugins"), ...pluginDirs], log);
  return registry;
}

/** Read the config text: the file, or the embedded default when the file does not exist. */
export function readConfigText(options: RuntimeOptions): { text: string; source: string } {
  if (options.configText !== undefined) return { text: options.configText, source: "<inline>" };
  const path = options.configPath ?? join(options.homeDir, "config.yaml");
  if (!existsSync(path)) return { text: DEFAULT_CONFIG, source: "<embedded default>" };
  return { text: readFileSync(path, "utf8"), source: path };
}

/**
 * The process: one registry, tracker and tunnel, and the Engine of the config in force. A config
 * that fails to build never replaces the running one.
 */
export class Runtime {
  engine: Engine | undefined;
  readonly tracker = new Tracker();
  /** One latency record per outbound for the whole process: group checks and API tests share it. */
  readonly states = new ProxyStates();
  private applying: Promise<unknown> = Promise.resolve();
  readonly tunnel: TunnelImpl;
  /** `geo-auto-update` of the config in force. */
  private readonly geoUpdates = new GeoAutoUpdate();

  private constructor(
    readonly registry: Registry,
    readonly options: RuntimeOptions,
  ) {
    this.tunnel = new TunnelImpl(NOT_RUNNING, this.tracker);
  }

  static async create(options: RuntimeOptions): Promise<Runtime> {
    const registry = await createRegistry(options.homeDir, options.pluginDirs);
    return new Runtime(registry, options);
  }

  /** Build a config; errors are logged and returned, warnings logged. */
  build(text: string, source: string): BuiltConfig {
    const { config, issues } = buildConfig(text, this.registry, { homeDir: this.options.homeDir });
    for (const i of issues) {
      if (i.severity === "warning" && i.code !== "config.unknown-key") log.warn(formatIssue(i));
    }
    if (!config) {
      const errors = issues.filter((i) => i.severity === "error").map(formatIssue);
      throw new ConfigLoadError(`${source}: invalid config:\n  ${errors.join("\n  ")}`, errors);
    }
    return config;
  }

  /** Load the config and open listeners. Throws ConfigLoadError on an invalid config. */
  async start(): Promise<Engine> {
    const { text, source } = readConfigText(this.options);
    if (source === "<embedded default>") {
      log.info(`no config file at ${this.options.configPath ?? join(this.options.homeDir, "config.yaml")}: using the embedded default`);
    }
    const config = await this.buildFetchingGeo(text, source);
    setLogLevel(config.logLevel);
    const engine = new Engine(config, this.shared());
    this.tunnel.swap(engine.state);
    this.engine = engine;
    await engine.start();
    this.geoUpdates.follow(config.env.geo, config.raw);
    return engine;
  }

  /**
   * `build`, but when it fails while geo files that rules need are missing or broken, those are
   * downloaded from geox-url first (directly, as mihomo does at load) and the config is built again.
   */
  private async buildFetchingGeo(text: string, source: string): Promise<BuiltConfig> {
    const store = geoStore(this.options.homeDir);
    store.wanted.clear();
    try {
      return this.build(text, source);
    } catch (err) {
      if (!(err instanceof ConfigLoadError) || !(await downloadWanted(store))) throw err;
      return this.build(text, source);
    }
  }

  /** Re-read and apply the config; on any error the running config stays in force. */
  async reload(text?: string): Promise<boolean> {
    try {
      await this.apply(text === undefined ? readConfigText(this.options) : { text, source: "<payload>" });
      return true;
    } catch (err) {
      log.error(`reload failed, the running config stays in force: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /**
   * Build a config and put it in force; throws (ConfigLoadError) with nothing changed when it does
   * not build. Listeners whose settings did not change keep their sockets; open connections keep
   * their outbounds. `force: false` (`PUT /configs` without `?force=true`) keeps the running
   * built-in listeners, allow-lan, bind-address and lan lists, as mihomo does. Select groups keep
   * the member chosen in the running config when it is still a member. Reloads run one at a time.
   */
  apply(input: { text: string; source: string }, options: { force?: boolean } = {}): Promise<Engine> {
    const run = this.applying.then(() => this.applyNow(input, options.force ?? true));
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(input: { text: string; source: string }, force: boolean): Promise<Engine> {
    const config = await this.buildFetchingGeo(input.text, input.source);
    const old = this.engine;
    if (old && !force) keepBuiltinListeners(config, old.config);
    const engine = new Engine(config, this.shared());
    setLogLevel(config.logLevel);
    if (old) {
      engine.adoptListeners(old);
      carrySelections(old, engine);
    }
    // Listeners that changed must close before the new ones bind the same ports.
    await old?.close();
    this.tunnel.swap(engine.state);
    this.engine = engine;
    await engine.start();
    this.geoUpdates.follow(config.env.geo, config.raw);
    log.info("config reloaded");
    return engine;
  }

  /** Close listeners, then give open connections up to `drainMs` to finish before closing them. */
  async shutdown(drainMs = 5_000): Promise<void> {
    this.geoUpdates.stop();
    await this.engine?.close();
    closeCache(this.options.homeDir);
    const deadline = Date.now() + drainMs;
    while (this.tracker.size > 0 && Date.now() < deadline) await Bun.sleep(50);
    this.tracker.closeAll();
  }

  private shared() {
    return { registry: this.registry, tracker: this.tracker, tunnel: this.tunnel, homeDir: this.options.homeDir, states: this.states };
  }
}

/**
 * Config keys of the built-in listeners and their access lists: only a forced reload changes them
 * (controller-api.md §7.7), and `PATCH /configs` re-evaluates the listeners when one changes.
 */
export const LISTENER_KEYS = [
  "port",
  "socks-port",
  "mixed-port",
  "redir-port",
  "tproxy-port",
  "allow-lan",
  "bind-address",
  "skip-auth-prefixes",
  "lan-allowed-ips",
  "lan-disallowed-ips",
] as const;

/** Listener specs the config builder makes from the port keys rather than from `listeners:`. */
export const BUILTIN_LISTENER_PATHS: ReadonlySet<string> = new Set(["port", "socks-port", "mixed-port"]);

/**
 * A non-forced reload: the running built-in listeners and their access settings stay; only their
 * users follow the new `authentication` list.
 */
function keepBuiltinListeners(next: BuiltConfig, running: BuiltConfig): void {
  const raw = next.raw as Record<string, unknown>;
  const old = running.raw as Record<string, unknown>;
  for (const key of LISTENER_KEYS) {
    if (old[key] === undefined) delete raw[key];
    else raw[key] = old[key];
  }
  next.lanAllowed = running.lanAllowed;
  next.lanDisallowed = running.lanDisallowed;
  next.skipAuthPrefixes = running.skipAuthPrefixes;
  const users = parseUsers(next.raw.authentication ?? []);
  const builtin = running.listeners.filter((l) => BUILTIN_LISTENER_PATHS.has(l.path)).map((l) => ({ ...l, users }));
  next.listeners = [...builtin, ...next.listeners.filter((l) => !BUILTIN_LISTENER_PATHS.has(l.path))];
}

/**
 * A reload keeps what users picked in select groups and the pins of url-test/fallback groups (with
 * `store-selected` off too: mihomo re-applies its in-memory selections).
 */
function carrySelections(from: Engine, to: Engine): void {
  for (const [name, next] of to.outbounds) {
    const prev = from.outbounds.get(name);
    if (!prev || !isGroup(prev) || !isGroup(next) || prev.type !== next.type) continue;
    const pin = (prev as { fixed?: () => string }).fixed?.();
    const picked = prev.type === "Selector" ? prev.now() : pin;
    if (picked && next.now() !== picked && next.members().includes(picked)) next.select?.(picked);
  }
}

export class ConfigLoadError extends Error {
  constructor(
    message: string,
    readonly errors: string[],
  ) {
    super(message);
  }
}
