import domain from "./domain/index.ts";
import inbound from "./inbound/index.ts";
import ip from "./ip/index.ts";
import logic from "./logic/index.ts";
import match from "./match/index.ts";
import network from "./network/index.ts";
import port from "./port/index.ts";

/** The built-in rule families (config.md §11.3); `plugins/index.ts` adds them to the host. */
export const rulePlugins = [domain, ip, port, inbound, network, logic, match];
