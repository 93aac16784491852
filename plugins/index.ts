/** Every built-in plugin, listed so the compiler bundles them into the single binary. */
import type { Plugin } from "../src/sdk/types.ts";
import selectGroup from "./group/select/index.ts";
import { inboundPlugins } from "./inbound/index.ts";
import direct from "./outbound/direct/index.ts";
import reject from "./outbound/reject/index.ts";
import { rulePlugins } from "./rule/index.ts";

export const builtinPlugins: Plugin[] = [...inboundPlugins, direct, reject, selectGroup, ...rulePlugins];
