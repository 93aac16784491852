import type { Duplex } from "../sdk/stream.ts";
import { SocketStream } from "./socket-stream.ts";
import type { TrackedConnection, Tracker } from "./tracker.ts";

/**
 * Pump bytes both ways until both sides have ended or either closes, then drop the connection from
 * the tracker. Backpressure: a write that is not taken whole pauses the source until the sink
 * drains. Counters are bumped on the tracked connection directly: no copy, no allocation per chunk.
 */
export function relay(client: Duplex, remote: Duplex, conn: TrackedConnection, tracker: Tracker): void {
  if (client instanceof SocketStream && remote instanceof SocketStream) {
    // Two Bun sockets (the common case) are joined inside SocketStream's shared handlers: measured,
    // the closures of the generic path were most of the JS heap kept per idle connection.
    client.pipe(remote, conn, tracker);
    return;
  }
  let clientEnded = false;
  let remoteEnded = false;
  let done = false;
  const finish = (err?: Error) => {
    if (done) return;
    done = true;
    client.close(err);
    remote.close(err);
    tracker.remove(conn);
  };
  client.onData = (chunk) => {
    conn.upload += chunk.length;
    if (!remote.write(chunk)) client.pause();
  };
  remote.onDrain = () => client.resume();
  remote.onData = (chunk) => {
    conn.download += chunk.length;
    if (!client.write(chunk)) remote.pause();
  };
  client.onDrain = () => remote.resume();
  client.onEnd = () => {
    clientEnded = true;
    remote.end();
    if (remoteEnded) finish();
  };
  remote.onEnd = () => {
    remoteEnded = true;
    client.end();
    if (clientEnded) finish();
  };
  client.onClose = finish;
  remote.onClose = finish;
  if (client.closed || remote.closed) {
    finish();
    return;
  }
  client.resume();
  remote.resume();
}
