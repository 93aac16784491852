/**
 * Proxy types ferry recognises but cannot carry yet. A config using them loads (subscriptions mix
 * every type), the entries are validated like real ones and appear in `/proxies`, and every dial
 * through them fails with `<name>: proxy type "<type>" is not supported yet`.
 *
 * One plugin per type: when a real implementation of a type arrives, removing its row here is the
 * whole change, and a collision by mistake disables only that row's plugin.
 */
import {
  API_VERSION,
  definePlugin,
  type Logger,
  type Outbound,
  type OptionProblem,
  type Plugin,
  UserError,
} from "../../../src/sdk/index.ts";
import { UNSUPPORTED_TYPES, type UnsupportedType } from "./types.ts";

/**
 * Names created per type since the last flush. The engine creates all outbounds of one config
 * synchronously, so flushing in a microtask gives one warning per type per config load.
 */
const pending = new Map<string, string[]>();

function announce(type: string, name: string, log: Logger): void {
  const names = pending.get(type);
  if (names) {
    names.push(name);
    return;
  }
  pending.set(type, [name]);
  queueMicrotask(() => {
    const all = pending.get(type) ?? [];
    pending.delete(type);
    log.warn(`proxy type "${type}" is not supported yet; connections through ${all.map((n) => JSON.stringify(n)).join(", ")} will fail`);
  });
}

function pluginFor(def: UnsupportedType): Plugin {
  return definePlugin({
    name: `outbound-unsupported-${def.type}`,
    apiVersion: API_VERSION,
    setup(host) {
      host.registerOutbound(def.type, {
        options: def.options,
        validate(o) {
          const problems: OptionProblem[] = [];
          def.validate?.(o, problems);
          return problems;
        },
        create(o, ctx): Outbound {
          announce(def.type, o.name, ctx.log);
          const fail = async (): Promise<never> => {
            throw new UserError(`${o.name}: proxy type "${def.type}" is not supported yet`);
          };
          return { name: o.name, type: def.display, supportsUdp: def.udp(o), addr: def.addr(o), dialTcp: fail, dialUdp: fail };
        },
      });
    },
  });
}

export const unsupportedPlugins: Plugin[] = UNSUPPORTED_TYPES.map(pluginFor);
