/**
 * Group test harness: HTTP-proxy stubs on 127.0.0.1 that accept `CONNECT`, then answer every
 * request themselves after a chosen delay (real sockets, real time) or drop the connection (dead).
 */
import type { Socket, TCPSocketListener } from "bun";

export interface ProxyStub {
  port: number;
  /** Milliseconds before each answer. */
  delayMs: number;
  /** Refuse service: close every connection at once. */
  dead: boolean;
  /** CONNECT requests seen, first hops and relayed ones. */
  connects: number;
  stop(): void;
}

export function startProxyStub(delayMs = 0): ProxyStub {
  const state = { buffered: new WeakMap<Socket<unknown>, string>(), tunneled: new WeakSet<Socket<unknown>>() };
  const stub: ProxyStub = {
    port: 0,
    delayMs,
    dead: false,
    connects: 0,
    stop: () => listener.stop(true),
  };
  const listener: TCPSocketListener<unknown> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        if (stub.dead) s.end();
      },
      data(s, chunk) {
        let text = (state.buffered.get(s) ?? "") + chunk.toString("latin1");
        for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
          const head = text.slice(0, end);
          text = text.slice(end + 4);
          // Inside a tunnel a CONNECT is a relay's next hop: answered here as if it had been forwarded.
          if (!state.tunneled.has(s) || head.startsWith("CONNECT ")) {
            stub.connects++;
            state.tunneled.add(s);
            s.write("HTTP/1.1 200 Connection established\r\n\r\n");
            continue;
          }
          const close = /connection: close/i.test(head);
          setTimeout(() => {
            s.write(`HTTP/1.1 204 No Content\r\nConnection: ${close ? "close" : "keep-alive"}\r\n\r\n`);
            if (close) s.end();
          }, stub.delayMs);
        }
        state.buffered.set(s, text);
      },
    },
  });
  stub.port = listener.port;
  return stub;
}
