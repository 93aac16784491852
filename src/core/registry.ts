import type {
  GroupDefinition,
  InboundDefinition,
  Logger,
  OutboundDefinition,
  Plugin,
  PluginHost,
  PluginKind,
  ResolverDefinition,
  RuleDefinition,
  TransportDefinition,
} from "../sdk/types.ts";
import { API_VERSION } from "../sdk/types.ts";
import { scopedLogger } from "../log.ts";

interface DefinitionByKind {
  inbound: InboundDefinition;
  outbound: OutboundDefinition;
  group: GroupDefinition;
  rule: RuleDefinition;
  resolver: ResolverDefinition;
  transport: TransportDefinition;
}

export interface Entry<K extends PluginKind> {
  kind: K;
  type: string;
  plugin: string;
  definition: DefinitionByKind[K];
}

export interface LoadedPlugin {
  name: string;
  /** "builtin" or the file it came from. */
  source: string;
  registered: { kind: PluginKind; type: string }[];
}

const KINDS: PluginKind[] = ["inbound", "outbound", "group", "rule", "resolver", "transport"];

/** Type names are matched case-insensitively per kind (mihomo lower-cases proxy types, upper-cases rules). */
function keyOf(kind: PluginKind, type: string): string {
  return kind === "rule" ? type.toUpperCase() : type.toLowerCase();
}

/**
 * The typed registry: one table per kind, each entry remembers the plugin that registered it so
 * errors and logs can name it. Registering a type twice is an error naming both plugins.
 */
export class Registry {
  private readonly tables = new Map<PluginKind, Map<string, Entry<PluginKind>>>(
    KINDS.map((k) => [k, new Map()]),
  );
  readonly plugins: LoadedPlugin[] = [];
  /** Plugins that failed to load: name (or file) → reason. */
  readonly failures: { source: string; error: string }[] = [];

  get<K extends PluginKind>(kind: K, type: string): Entry<K> | undefined {
    return this.tables.get(kind)!.get(keyOf(kind, type)) as Entry<K> | undefined;
  }

  types(kind: PluginKind): string[] {
    return [...this.tables.get(kind)!.values()].map((e) => e.type);
  }

  entries<K extends PluginKind>(kind: K): Entry<K>[] {
    return [...this.tables.get(kind)!.values()] as Entry<K>[];
  }

  /**
   * Run a plugin's setup. A plugin that throws, or collides with another, is rolled back whole,
   * logged by name and recorded in `failures`; the host keeps going.
   */
  async load(plugin: Plugin, source: string, log: Logger): Promise<boolean> {
    const name = typeof plugin?.name === "string" && plugin.name ? plugin.name : source;
    const staged: Entry<PluginKind>[] = [];
    try {
      if (!plugin || typeof plugin.setup !== "function") {
        throw new Error("does not export a plugin (default export of definePlugin({ name, apiVersion, setup }))");
      }
      if (plugin.apiVersion !== API_VERSION) {
        throw new Error(`targets plugin API version ${plugin.apiVersion}, this ferry implements ${API_VERSION}`);
      }
      if (this.plugins.some((p) => p.name === name)) throw new Error(`a plugin named "${name}" is already loaded`);
      const stage = (kind: PluginKind, type: string, definition: unknown) => {
        if (typeof type !== "string" || !type) throw new Error(`registered a ${kind} without a type name`);
        const key = keyOf(kind, type);
        const existing = this.tables.get(kind)!.get(key) ?? staged.find((e) => e.kind === kind && keyOf(kind, e.type) === key);
        if (existing) {
          throw new Error(`${kind} type "${type}" is already registered by plugin "${existing.plugin}"`);
        }
        staged.push({ kind, type, plugin: name, definition } as Entry<PluginKind>);
      };
      const host: PluginHost = {
        apiVersion: API_VERSION,
        log: scopedLogger(name),
        registerInbound: (t, d) => stage("inbound", t, d),
        registerOutbound: (t, d) => stage("outbound", t, d),
        registerGroup: (t, d) => stage("group", t, d),
        registerRule: (t, d) => stage("rule", t, d),
        registerResolver: (t, d) => stage("resolver", t, d),
        registerTransport: (t, d) => stage("transport", t, d),
      };
      await plugin.setup(host);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error(`plugin "${name}" (${source}) failed to load: ${message}`);
      this.failures.push({ source: `${name} (${source})`, error: message });
      return false;
    }
    for (const e of staged) this.tables.get(e.kind)!.set(keyOf(e.kind, e.type), e);
    this.plugins.push({ name, source, registered: staged.map((e) => ({ kind: e.kind, type: e.type })) });
    return true;
  }
}
