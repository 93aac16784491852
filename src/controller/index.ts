import { chmodSync, existsSync, readFileSync, unlinkSync } from "node:fs";
import { resolve } from "node:path";
import type { WebSocketHandler } from "bun";
import { log } from "../log.ts";
import { createApp } from "./app.ts";
import type { RouteContext } from "./context.ts";
import type { ControllerHost } from "./host.ts";
import type { ControllerSettings } from "./settings.ts";
import { type ControllerServer, RequestRegistry, type SocketSession } from "./streams.ts";
import { ConnectionWriter } from "./wire.ts";

export { RuntimeHost } from "./host.ts";

export interface ControllerHandle {
  /** Where it listens: `host:port` for TCP/TLS, the path for the unix socket. */
  addresses: string[];
  stop(): Promise<void>;
}

/** Split `host:port` (`[::1]:9090`, `:9090` = every address). */
function splitAddress(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`"${address}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`"${address}": port out of range`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** PEM text, or a file path relative to the home directory (`tls.certificate`, `tls.private-key`). */
function pem(value: string, homeDir: string): string {
  return value.includes("-----BEGIN") ? value : readFileSync(resolve(homeDir, value), "utf8");
}

/**
 * Start the controller's listeners (plain, TLS, unix socket) on one app. Binds exactly the
 * configured addresses (allow-lan does not apply). A listener that cannot bind is logged, as in
 * mihomo, and the others still start.
 */
export async function startController(host: ControllerHost, settings: ControllerSettings, version: string): Promise<ControllerHandle> {
  const servers: ControllerServer[] = [];
  const addresses: string[] = [];
  const stop = async () => {
    for (const s of servers.splice(0)) await s.stop(true);
  };
  const ctx: RouteContext = {
    host,
    settings,
    requests: new RequestRegistry(),
    states: host.states,
    connections: new ConnectionWriter(host.tracker),
    version,
    stopListeners: stop,
  };
  const app = createApp(ctx);
  const websocket: WebSocketHandler<SocketSession> = {
    open: (ws) => ws.data.open(ws),
    close: (ws) => ws.data.close(),
    // The server never reads from the socket (mihomo); pings are answered by Bun.
    message: () => {},
    perMessageDeflate: false,
  };
  const fetch = (trusted: boolean) => async (request: Request, server: ControllerServer) => {
    const info = { server, trusted, upgraded: false };
    ctx.requests.set(request, info);
    const response = await app.handle(request);
    return info.upgraded ? undefined : response;
  };
  const serve = (what: string, options: { hostname: string; port: number } | { unix: string }, trusted: boolean, tls?: { cert: string; key: string }) => {
    try {
      const common = { fetch: fetch(trusted), websocket };
      // Delay tests and reloads may take longer than Bun's default 10 s idle timeout.
      const server =
        "unix" in options
          ? Bun.serve<SocketSession>({ ...common, unix: options.unix })
          : Bun.serve<SocketSession>({ ...common, ...options, tls, idleTimeout: 255 });
      servers.push(server);
      const where = "unix" in options ? options.unix : `${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}`;
      addresses.push(where);
      log.info(`RESTful API ${what}listening at: ${where}`);
      return server;
    } catch (err) {
      log.error(`External controller ${what}listen error: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  if (settings.externalController) {
    try {
      serve("", splitAddress(settings.externalController), false);
    } catch (err) {
      log.error(`External controller listen error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (settings.externalControllerTls) {
    try {
      const tls = { cert: pem(settings.tlsCertificate, settings.homeDir), key: pem(settings.tlsPrivateKey, settings.homeDir) };
      serve("tls ", splitAddress(settings.externalControllerTls), false, tls);
    } catch (err) {
      log.error(`External controller tls listen error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (settings.externalControllerUnix) {
    const path = settings.externalControllerUnix;
    try {
      if (existsSync(path)) unlinkSync(path);
    } catch (err) {
      log.error(`External controller unix: cannot remove stale ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (serve("unix ", { unix: path }, true)) chmodSync(path, 0o666);
  }
  return { addresses, stop };
}
