/** Built-in DNS upstreams, one plugin per nameserver URL scheme (config.md §5.2); `plugins/index.ts` adds them to the host. */
import type { Plugin } from "../../src/sdk/index.ts";
import https from "./https/index.ts";
import rcode from "./rcode/index.ts";
import system from "./system/index.ts";
import tcp from "./tcp/index.ts";
import tls from "./tls/index.ts";
import udp from "./udp/index.ts";
import unsupported from "./unsupported/index.ts";

export const resolverPlugins: Plugin[] = [udp, tcp, tls, https, system, rcode, unsupported];
