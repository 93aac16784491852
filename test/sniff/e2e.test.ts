/**
 * The sniffer end to end: curl (and hand-driven SOCKS5 clients) through ferry to an IP destination
 * whose TLS SNI, HTTP Host or QUIC ClientHello carries a name, with rules on that name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { ConnectionWriter } from "../../src/controller/wire.ts";
import { curl, freePort, startOrigin, startRuntime, tempDir } from "../helpers.ts";
import { rawClient, udpEcho } from "../inbound/helpers.ts";
import { clientInitial, cryptoFrame, curlClientHello, padded, RFC9001_CLIENT_INITIAL, RFC9001_CRYPTO_FRAME } from "./helpers.ts";

const home = tempDir();
let tls: ReturnType<typeof Bun.serve>;
let http: ReturnType<typeof startOrigin>;
let tp: number;

beforeAll(() => {
  const certs = makeCerts(join(home.path, "certs"), "sniff.test");
  tls = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(certs.cert), key: Bun.file(certs.key) },
    fetch: () => new Response("tls origin\n"),
  });
  tp = tls.port as number;
  http = startOrigin();
});
afterAll(() => {
  tls.stop(true);
  http.stop();
  home.remove();
});

/**
 * A config with a mixed port, the given sniffer lines (none: no sniffer) and rules. ferry's hosts
 * answers the names (an overridden destination is dialled by name, never via the system resolver).
 */
function config(port: number, sniffer: string[], rules: string[]): string {
  const section = sniffer.length > 0 ? ["sniffer:", "  enable: true", ...sniffer.map((l) => `  ${l}`)] : [];
  return [`mixed-port: ${port}`, "hosts:", "  '+.sniff.test': 127.0.0.1", ...section, "rules:", ...rules.map((r) => `  - ${r}`)].join("\n");
}

const BLOCK_BY_NAME = ["DOMAIN,blocked.sniff.test,REJECT", "MATCH,DIRECT"];

/** curl through ferry's SOCKS5 without remote DNS: curl resolves `name` itself (to `ip`) and asks for the address. */
function viaSocks(port: number, name: string, ip = "127.0.0.1") {
  return curl(["-k", "--socks5", `127.0.0.1:${port}`, "--resolve", `${name}:${tp}:${ip}`, `https://${name}:${tp}/`]);
}

/** curl through ferry's HTTP proxy with CONNECT to the address, the name only in the SNI. */
function viaConnect(port: number, name: string) {
  return curl(["-k", "-x", `http://127.0.0.1:${port}`, "--proxytunnel", "--connect-to", `${name}:${tp}:127.0.0.1:${tp}`, `https://${name}:${tp}/`]);
}

async function withFerry(text: string, run: (ferry: Awaited<ReturnType<typeof startRuntime>>) => Promise<void>): Promise<void> {
  const ferry = await startRuntime(text);
  try {
    await run(ferry);
  } finally {
    await ferry.stop();
  }
}

describe("TLS SNI routes connections to addresses", () => {
  test("SOCKS5 and HTTP CONNECT to 127.0.0.1: the SNI meets DOMAIN rules", async () => {
    const port = freePort();
    await withFerry(config(port, ["sniff:", `  TLS: {ports: [${tp}]}`], BLOCK_BY_NAME), async () => {
      const ok = await viaSocks(port, "ok.sniff.test");
      expect(ok.stdout).toBe("tls origin\n");
      const blocked = await viaSocks(port, "blocked.sniff.test");
      expect(blocked.code).not.toBe(0);
      expect(blocked.stdout).toBe("");
      expect((await viaConnect(port, "ok.sniff.test")).stdout).toBe("tls origin\n");
      const connectBlocked = await viaConnect(port, "blocked.sniff.test");
      expect(connectBlocked.code).not.toBe(0);
      expect(connectBlocked.stdout).toBe("");
    });
  });

  test("no sniffer, skip-domain, skip-dst-address, another port: the name is not seen", async () => {
    const variants: string[][] = [
      [],
      ["sniff:", `  TLS: {ports: [${tp}]}`, "skip-domain: ['+.sniff.test']"],
      ["sniff:", `  TLS: {ports: [${tp}]}`, "skip-dst-address: [127.0.0.0/8]"],
      ["sniff:", `  TLS: {ports: [${tp === 1 ? 2 : tp - 1}]}`],
      ["sniff:", `  TLS: {ports: [${tp}]}`, "parse-pure-ip: false"],
    ];
    for (const sniffer of variants) {
      const port = freePort();
      await withFerry(config(port, sniffer, BLOCK_BY_NAME), async () => {
        const r = await viaSocks(port, "blocked.sniff.test");
        expect({ sniffer, out: r.stdout }).toEqual({ sniffer, out: "tls origin\n" });
      });
    }
  });

  test("override-destination: the sniffed name is dialled, from ferry's hosts; without it the address is", async () => {
    // The client asks for 127.0.0.2, where nothing listens; hosts sends the name to the origin.
    const rules = ["MATCH,DIRECT"];
    const port = freePort();
    await withFerry(config(port, ["sniff:", `  TLS: {ports: [${tp}], override-destination: true}`], rules), async () => {
      expect((await viaSocks(port, "moved.sniff.test", "127.0.0.2")).stdout).toBe("tls origin\n");
    });
    const other = freePort();
    await withFerry(config(other, ["override-destination: false", "sniff:", `  TLS: {ports: [${tp}]}`], rules), async () => {
      const r = await viaSocks(other, "moved.sniff.test", "127.0.0.2");
      expect(r.code).not.toBe(0);
    });
  });
});

describe("HTTP Host routes plain requests", () => {
  test("HTTP proxy and SOCKS5 to the address: the Host header meets DOMAIN rules", async () => {
    const port = freePort();
    const hp = http.port;
    await withFerry(config(port, ["sniff:", `  HTTP: {ports: [${hp}]}`], BLOCK_BY_NAME), async () => {
      const url = `http://127.0.0.1:${hp}/echo`;
      const ok = await curl(["-x", `http://127.0.0.1:${port}`, "-H", "Host: ok.sniff.test", url]);
      expect(ok.stdout).toBe("GET /echo host=ok.sniff.test body=\n");
      const blocked = await curl(["-x", `http://127.0.0.1:${port}`, "-H", "Host: blocked.sniff.test", url]);
      expect(blocked.stdout).not.toContain("GET /echo");
      const socks = await curl(["--socks5", `127.0.0.1:${port}`, "--resolve", `blocked.sniff.test:${hp}:127.0.0.1`, `http://blocked.sniff.test:${hp}/echo`]);
      expect(socks.code).not.toBe(0);
      expect(socks.stdout).toBe("");
    });
  });
});

/** A TCP origin that keeps every connection open and reports the bytes and the ends that arrive. */
function holdingOrigin() {
  let bytes = 0;
  let accepted = 0;
  let ended = 0;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open() {
        accepted++;
      },
      data(_s, chunk) {
        bytes += chunk.length;
        wake();
      },
      end() {
        ended++;
        wake();
      },
    },
  });
  /** Resolves once `check()` holds. */
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      const test = () => {
        if (!check()) return;
        waiters.delete(test);
        resolve();
      };
      waiters.add(test);
      test();
    });
  return {
    port: server.port,
    accepted: () => accepted,
    bytes: () => bytes,
    received: (n: number) => until(() => bytes >= n),
    ends: (n: number) => until(() => ended >= n),
    stop: () => server.stop(true),
  };
}

/**
 * SOCKS5 CONNECT to 127.0.0.1:`port` by hand; resolves once the success reply is in. `halfClose`
 * sends a FIN and keeps reading (Bun's shutdown; its end() closes the socket).
 */
async function socksConnect(ferryPort: number, port: number) {
  let received = new Uint8Array(0);
  let isClosed = false;
  const closed = Promise.withResolvers<void>();
  const replied = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: ferryPort,
    allowHalfOpen: true,
    socket: {
      data(s, chunk) {
        const next = new Uint8Array(received.length + chunk.length);
        next.set(received, 0);
        next.set(chunk, received.length);
        received = next;
        if (received.length === 2) s.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255));
        if (received.length >= 12) replied.resolve();
      },
      close() {
        isClosed = true;
        closed.resolve();
        replied.resolve();
      },
    },
  });
  socket.write(Uint8Array.of(5, 1, 0));
  await replied.promise;
  // Method reply, then the CONNECT reply's version and success code.
  expect([...received.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
  return {
    write: (b: Uint8Array) => void socket.write(b),
    halfClose: () => void socket.shutdown(),
    close: () => socket.terminate(),
    closed: closed.promise,
    get isClosed() {
      return isClosed;
    },
  };
}

describe("what the tunnel records", () => {
  test("/connections shows sniffHost; host only with override; the hello goes out first, whole", async () => {
    const hello = await curlClientHello("tracked.sniff.test");
    const origin = holdingOrigin();
    const port = freePort();
    try {
      for (const override of [false, true]) {
        const sniffer = [`override-destination: ${override}`, "sniff:", `  TLS: {ports: [${origin.port}]}`];
        await withFerry(config(port, sniffer, ["DOMAIN,tracked.sniff.test,DIRECT", "MATCH,REJECT"]), async (ferry) => {
          const before = origin.bytes();
          const client = await socksConnect(port, origin.port);
          client.write(hello);
          await origin.received(before + hello.length);
          const snapshot = JSON.parse(new ConnectionWriter(ferry.runtime.tracker).snapshot(0));
          const conn = snapshot.connections.find((c: { metadata: { sniffHost: string } }) => c.metadata.sniffHost === "tracked.sniff.test");
          expect(conn?.rule).toBe("Domain");
          expect(conn?.rulePayload).toBe("tracked.sniff.test");
          expect(conn?.metadata.host).toBe(override ? "tracked.sniff.test" : "");
          expect(conn?.metadata.destinationIP).toBe("127.0.0.1");
          expect(conn?.upload).toBe(hello.length);
          client.close();
        });
      }
    } finally {
      origin.stop();
    }
  });

  test("a client that sends nothing within a second is closed (mihomo), the origin never dialled", async () => {
    const origin = holdingOrigin();
    const port = freePort();
    try {
      await withFerry(config(port, ["sniff:", `  TLS: {ports: [${origin.port}]}`], ["MATCH,DIRECT"]), async (ferry) => {
        const client = await socksConnect(port, origin.port);
        const started = Date.now();
        await Promise.race([client.closed, Bun.sleep(5_000)]);
        expect(client.isClosed).toBe(true);
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(ferry.runtime.tracker.size).toBe(0);
        expect(origin.accepted()).toBe(0);
      });
    } finally {
      origin.stop();
    }
  });
});

/** SOCKS5 UDP ASSOCIATE by hand: the relay's port and the control connection. */
async function associate(port: number) {
  const control = await rawClient(port);
  control.write(Uint8Array.of(5, 1, 0));
  await control.until((b) => b.length >= 2);
  control.write(Uint8Array.of(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
  await control.until((b) => b.length >= 12);
  const reply = control.received();
  return { control, relayPort: (reply[10]! << 8) | reply[11]! };
}

describe("a client that half-closes while sniffed", () => {
  test("before sending anything: no name, still dialled, and its end reaches the origin", async () => {
    const origin = holdingOrigin();
    const port = freePort();
    try {
      await withFerry(config(port, ["sniff:", `  TLS: {ports: [${origin.port}]}`], ["MATCH,DIRECT"]), async () => {
        const client = await socksConnect(port, origin.port);
        client.halfClose();
        await origin.ends(1);
        expect(origin.accepted()).toBe(1);
        expect(origin.bytes()).toBe(0);
        client.close();
      });
    } finally {
      origin.stop();
    }
  });
});

describe("QUIC Initial routes UDP flows", () => {
  test("SOCKS5 UDP: one Initial (RFC 9001 A.2), and a ClientHello over two datagrams, meet DOMAIN rules", async () => {
    const echo = await udpEcho();
    const port = freePort();
    const replies: Buffer[] = [];
    let wake: (() => void) | undefined;
    const client = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data(_s, data) {
          replies.push(data);
          wake?.();
        },
      },
    });
    const header = Uint8Array.of(0, 0, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255);
    const send = (relayPort: number, datagram: Uint8Array) => client.send(Buffer.concat([header, datagram]), relayPort, "127.0.0.1");
    const echoed = (n: number) =>
      new Promise<void>((resolve) => {
        wake = () => replies.length >= n && resolve();
        wake();
      });
    const sniffer = ["sniff:", `  QUIC: {ports: [${echo.port}]}`];
    try {
      await withFerry(config(port, sniffer, ["DOMAIN,example.com,DIRECT", "DOMAIN,exbmple.com,DIRECT", "MATCH,REJECT"]), async (ferry) => {
        const one = await associate(port);
        send(one.relayPort, RFC9001_CLIENT_INITIAL);
        await echoed(1);
        expect(replies[0]!.subarray(10).equals(RFC9001_CLIENT_INITIAL)).toBe(true);
        const flows = () => [...ferry.runtime.tracker.connections()].filter((c) => c.metadata.network === "udp");
        expect(flows().map((c) => [c.metadata.sniffHost, c.metadata.host, c.rule, c.chains])).toEqual([["example.com", "example.com", "Domain", ["DIRECT"]]]);
        one.control.close();

        // A hello (renamed exbmple.com) in two datagrams: the flow waits for the second before it
        // is routed, then both go out DIRECT; routed on the first alone, REJECT would drop them.
        const hello = Buffer.from(RFC9001_CRYPTO_FRAME.subarray(4));
        hello.write("exbmple.com", hello.indexOf("example.com"), "latin1");
        const dcid = Buffer.from("0123456789abcdef", "hex");
        const two = await associate(port);
        send(two.relayPort, clientInitial(dcid, 0, padded([cryptoFrame(0, hello.subarray(0, 120))], 1162)));
        send(two.relayPort, clientInitial(dcid, 1, padded([cryptoFrame(120, hello.subarray(120))], 1162)));
        await echoed(3);
        expect(flows().find((c) => c.metadata.sniffHost === "exbmple.com")?.rule).toBe("Domain");
        two.control.close();
      });
    } finally {
      client.close();
      echo.close();
    }
  });
});
