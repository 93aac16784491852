import type { ControllerHost } from "./host.ts";
import type { ProxyStates } from "../core/health.ts";
import type { ControllerSettings } from "./settings.ts";
import type { RequestRegistry } from "./streams.ts";
import type { ConnectionWriter } from "./wire.ts";

/** What every route plugin is built with: the host and the controller's own state. */
export interface RouteContext {
  host: ControllerHost;
  settings: ControllerSettings;
  requests: RequestRegistry;
  /** Per-proxy ids and latency history. */
  states: ProxyStates;
  connections: ConnectionWriter;
  /** `v<ferry version>` (never a mihomo version). */
  version: string;
  /** Close the controller's own listeners; set once they are up. */
  stopListeners: () => Promise<void>;
}
