import { expect, test } from "bun:test";
import { bindTcpThenUdp } from "../../src/core/port-pair.ts";

const listen = (port: number) => Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
const bindUdp = (port: number) => Bun.udpSocket({ hostname: "127.0.0.1", port });

test("port 0: when the TCP listener's number is taken for UDP, both let go and a new pair is bound", async () => {
  const taken = await bindUdp(0);
  try {
    const tried: number[] = [];
    // The first TCP listener lands on the number a UDP socket already holds; later ones pick freely.
    const pair = await bindTcpThenUdp(0, (port) => listen(tried.length === 0 ? taken.port : port), (port) => {
      tried.push(port);
      return bindUdp(port);
    });
    expect(tried[0]).toBe(taken.port);
    expect(tried.length).toBe(2);
    expect(pair.udp.port).toBe(pair.tcp.port);
    expect(pair.tcp.port).not.toBe(taken.port);
    pair.tcp.stop(true);
    pair.udp.close();
    // The first listener was let go: its port can be listened on again.
    listen(taken.port).stop(true);
  } finally {
    taken.close();
  }
});

test("a fixed port: a UDP clash is the answer, and the TCP listener is let go", async () => {
  const taken = await bindUdp(0);
  try {
    await expect(bindTcpThenUdp(taken.port, listen, bindUdp)).rejects.toThrow();
    listen(taken.port).stop(true);
  } finally {
    taken.close();
  }
});
