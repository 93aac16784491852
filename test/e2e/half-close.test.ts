import { afterAll, expect, test } from "bun:test";
import { freePort, startRuntime } from "../helpers.ts";

/**
 * TCP half-close through the relay: a client that sends its request and then shuts down its write
 * side (as `nc -N`, many RPC clients and HTTP/1.0 tools do) must still get the answer the origin
 * sends after seeing that FIN.
 */
const origin = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data() {},
    end(s) {
      s.write("reply after FIN");
      s.end();
    },
  },
});
const port = freePort();
const ferry = await startRuntime(`mixed-port: ${port}\nrules: ["MATCH,DIRECT"]\n`);
afterAll(async () => {
  origin.stop(true);
  await ferry.stop();
});

test("a client's FIN reaches the origin, and the origin's later reply reaches the client", async () => {
  const received = await new Promise<string>((resolve, reject) => {
    let text = "";
    let connected = false;
    const timer = setTimeout(() => reject(new Error(`no reply within 5 s (got ${JSON.stringify(text)})`)), 5_000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
        },
        data(s, chunk) {
          text += chunk.toString();
          if (!connected && text.includes("\r\n\r\n")) {
            connected = true;
            expect(text).toStartWith("HTTP/1.1 200");
            text = "";
            s.write("request");
            s.shutdown();
          }
        },
        close() {
          clearTimeout(timer);
          resolve(text);
        },
      },
    }).catch(reject);
  });
  expect(received).toBe("reply after FIN");
});
