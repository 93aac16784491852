import type { Duplex } from "../sdk/stream.ts";
import type { TrackedConnection } from "./tracker.ts";

/**
 * Pump bytes both ways until both sides have ended or either closes. Backpressure: a write that
 * is not taken whole pauses the source until the sink drains. Counters are bumped on the tracked
 * connection directly, so there is no copy and no allocation per chunk.
 */
export function relay(client: Duplex, remote: Duplex, conn: TrackedConnection, onDone: () => void): void {
  let clientEnded = false;
  let remoteEnded = false;
  let done = false;
  const finish = (err?: Error) => {
    if (done) return;
    done = true;
    client.close(err);
    remote.close(err);
    onDone();
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
