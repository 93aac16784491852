import domain from "./domain/index.ts";
import dscp from "./dscp/index.ts";
import geo from "./geo/index.ts";
import inbound from "./inbound/index.ts";
import ip from "./ip/index.ts";
import logic from "./logic/index.ts";
import match from "./match/index.ts";
import network from "./network/index.ts";
import port from "./port/index.ts";
import processRules from "./process/index.ts";
import ruleSet from "./rule-set/index.ts";
import subRule from "./sub-rule/index.ts";

/** The built-in rule families (config.md §11.3); `plugins/index.ts` adds them to the host. */
export const rulePlugins = [domain, ip, geo, port, inbound, network, processRules, dscp, logic, subRule, ruleSet, match];
