/** Built-in transports: what vmess, vless, trojan, ss plugins, http and socks5 wrap their streams in. */
import type { Plugin } from "../../src/sdk/index.ts";
import grpc from "./grpc/index.ts";
import h2 from "./h2/index.ts";
import http from "./http/index.ts";
import tls from "./tls/index.ts";
import ws from "./ws/index.ts";

export const transportPlugins: Plugin[] = [tls, ws, h2, http, grpc];
