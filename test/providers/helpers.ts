import type { Socket } from "bun";
import { Runtime } from "../../src/core/runtime.ts";
import { type LogEntry, onLog, setLogLevel } from "../../src/log.ts";

/**
 * A plain HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens per target, so a test
 * can prove which connections went through it.
 */
export function startConnectProxy() {
  const targets: string[] = [];
  type State = { head: Buffer; remote?: Socket<undefined> };
  const server = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { head: Buffer.alloc(0) };
      },
      async data(s, chunk) {
        if (s.data.remote) {
          s.data.remote.write(chunk);
          return;
        }
        s.data.head = Buffer.concat([s.data.head, chunk]);
        const end = s.data.head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const target = /^CONNECT (\S+)/.exec(s.data.head.toString("latin1"))?.[1] ?? "";
        targets.push(target);
        const colon = target.lastIndexOf(":");
        const rest = s.data.head.subarray(end + 4);
        const remote = await Bun.connect({
          hostname: target.slice(0, colon),
          port: Number(target.slice(colon + 1)),
          socket: {
            data: (_r, d) => void s.write(d),
            close: () => void s.end(),
          },
        });
        s.data.remote = remote;
        s.write("HTTP/1.1 200 Connection established\r\n\r\n");
        if (rest.length > 0) remote.write(rest);
      },
      close(s) {
        s.data.remote?.end();
      },
    },
  });
  return { port: server.port, targets, stop: () => server.stop(true) };
}

/** Start a Runtime on a given home dir (files written there beforehand). */
export async function startIn(home: string, configText: string) {
  setLogLevel("silent");
  const runtime = await Runtime.create({ homeDir: home, configText });
  const engine = await runtime.start();
  return { runtime, engine, stop: () => runtime.shutdown(0) };
}

/** Collect log lines (at debug level) while a test runs. */
export function captureLogs(): { lines: LogEntry[]; stop(): void } {
  const lines: LogEntry[] = [];
  const off = onLog((e) => lines.push(e));
  return { lines, stop: off };
}

/** Wait until `check()` holds (polling), or fail after `ms`. */
export async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}
