import { describe, expect, test } from "bun:test";
import { connectTcp } from "../../src/core/socket-stream.ts";
import { freePort, startRuntime } from "../helpers.ts";

/** A UDP echo on 127.0.0.1. */
async function udpEcho() {
  return Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: { data: (s, data, port, address) => void s.send(data, port, address) },
  });
}

/** SOCKS5 UDP ASSOCIATE by hand: returns the relay address and the open control connection. */
async function associate(port: number) {
  const control = await connectTcp("127.0.0.1", port);
  let buf = Buffer.alloc(0);
  let want = 0;
  let waiter: (() => void) | undefined;
  control.onData = (c) => {
    buf = Buffer.concat([buf, c]);
    if (buf.length >= want) waiter?.();
  };
  const read = (n: number) =>
    new Promise<Buffer>((resolve) => {
      want = n;
      waiter = () => {
        const out = buf.subarray(0, n);
        buf = buf.subarray(n);
        resolve(out);
      };
      if (buf.length >= n) waiter();
    });
  control.write(Uint8Array.of(5, 1, 0));
  expect([...(await read(2))]).toEqual([5, 0]);
  control.write(Uint8Array.of(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
  const reply = await read(10);
  expect(reply[1]).toBe(0);
  return { control, relayPort: reply.readUInt16BE(8) };
}

describe("UDP through the engine", () => {
  test("SOCKS5 UDP ASSOCIATE round trip to a UDP echo via DIRECT, tracked as udp", async () => {
    const port = freePort();
    const echo = await udpEcho();
    const ferry = await startRuntime(`socks-port: ${port}\nrules:\n  - NETWORK,TCP,REJECT\n  - MATCH,DIRECT\n`);
    const replies: Buffer[] = [];
    let got: (() => void) | undefined;
    const client = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data: (_s, data) => {
          replies.push(data);
          got?.();
        },
      },
    });
    try {
      const { control, relayPort } = await associate(port);
      const header = [0, 0, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255];
      const arrived = new Promise<void>((resolve) => {
        got = resolve;
      });
      client.send(Uint8Array.from([...header, ...Buffer.from("ping")]), relayPort, "127.0.0.1");
      await arrived;
      expect(replies[0]!.subarray(10).toString()).toBe("ping");
      expect([...replies[0]!.subarray(0, 10)]).toEqual(header);
      const udp = [...ferry.runtime.tracker.connections()].find((c) => c.metadata.network === "udp");
      expect(udp?.chains).toEqual(["DIRECT"]);
      expect(udp?.rule).toBe("Match");
      expect(udp?.metadata.type).toBe("Socks5");
      control.close();
    } finally {
      client.close();
      echo.close();
      await ferry.stop();
    }
  });
});
