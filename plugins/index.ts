/** Every built-in plugin, listed so the compiler bundles them into the single binary. */
import type { Plugin } from "../src/sdk/types.ts";
import { resolverPlugins } from "./dns/index.ts";
import fallbackGroup from "./group/fallback/index.ts";
import loadBalanceGroup from "./group/load-balance/index.ts";
import relayGroup from "./group/relay/index.ts";
import selectGroup from "./group/select/index.ts";
import urlTestGroup from "./group/url-test/index.ts";
import { inboundPlugins } from "./inbound/index.ts";
import direct from "./outbound/direct/index.ts";
import http from "./outbound/http/index.ts";
import reject from "./outbound/reject/index.ts";
import socks5 from "./outbound/socks5/index.ts";
import ss from "./outbound/ss/index.ts";
import trojan from "./outbound/trojan/index.ts";
import { unsupportedPlugins } from "./outbound/unsupported/index.ts";
import vless from "./outbound/vless/index.ts";
import vmess from "./outbound/vmess/index.ts";
import { rulePlugins } from "./rule/index.ts";
import { transportPlugins } from "./transport/index.ts";

export const builtinPlugins: Plugin[] = [
  ...inboundPlugins,
  direct,
  reject,
  http,
  socks5,
  ss,
  trojan,
  vmess,
  vless,
  ...unsupportedPlugins,
  selectGroup,
  urlTestGroup,
  fallbackGroup,
  loadBalanceGroup,
  relayGroup,
  ...rulePlugins,
  ...transportPlugins,
  ...resolverPlugins,
];
