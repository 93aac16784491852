/** Built-in inbound plugins: the listener types of `port`, `socks-port`, `mixed-port`, `listeners` and `tunnels`. */
import type { Plugin } from "../../src/sdk/index.ts";
import http from "./http/index.ts";
import mixed from "./mixed/index.ts";
import socks from "./socks/index.ts";
import tunnel from "./tunnel/index.ts";

export const inboundPlugins: Plugin[] = [http, socks, mixed, tunnel];
