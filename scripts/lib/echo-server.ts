/**
 * TCP echo server for the bench, in its own process: one Bun process holds thousands of
 * connections cheaply (the socat echo peer forks a process per connection).
 *
 *   bun scripts/lib/echo-server.ts PORT      listens on 127.0.0.1:PORT until SIGTERM
 */
import type { Socket } from "bun";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: echo-server.ts PORT");
  process.exit(2);
}

interface State {
  pending: Uint8Array[];
}

function flush(s: Socket<State>): void {
  const q = s.data.pending;
  while (q.length > 0) {
    const chunk = q[0]!;
    const n = s.write(chunk);
    if (n < chunk.length) {
      q[0] = chunk.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
  s.resume();
}

Bun.listen<State>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(s) {
      s.data = { pending: [] };
    },
    data(s, d) {
      // Queued tails are copies: they must outlive this callback's buffer.
      if (s.data.pending.length > 0) {
        s.data.pending.push(Uint8Array.from(d));
        return;
      }
      const n = s.write(d);
      if (n < d.length) {
        s.data.pending.push(Uint8Array.from(d.subarray(Math.max(n, 0))));
        s.pause();
      }
    },
    drain: flush,
    end(s) {
      s.end();
    },
    error() {},
  },
});
