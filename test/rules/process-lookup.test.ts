import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { readlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { basename } from "node:path";
import { Router } from "../../src/core/router.ts";
import { findSocketOwner } from "../../src/process/linux.ts";
import { type FindProcessMode, lookupOwner } from "../../src/process/lookup.ts";
import type { Metadata } from "../../src/sdk/index.ts";
import { md, parse, quiet } from "./helpers.ts";

/** This test process: it owns the client sockets below. */
const ownPath = process.platform === "linux" ? readlinkSync("/proc/self/exe") : "";
const ownUid = process.getuid?.() ?? -1;

let server: Server;
let port: number;
const clients: Socket[] = [];

beforeAll(async () => {
  // Dual-stack, so IPv4, IPv6 and v4-mapped clients all reach it.
  server = createServer(() => {}).listen(0, "::");
  await new Promise((resolve) => server.once("listening", resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  for (const c of clients) c.destroy();
  server.close();
});

async function client(host: string): Promise<{ ip: string; port: number }> {
  const c = connect(port, host);
  clients.push(c);
  await new Promise((resolve, reject) => {
    c.once("connect", resolve);
    c.once("error", reject);
  });
  return { ip: c.localAddress!.replace(/^::ffff:/, ""), port: c.localPort! };
}

describe.skipIf(process.platform !== "linux")("finding the owner of a local socket in /proc", () => {
  test.each([
    ["IPv4", "127.0.0.1"],
    ["IPv6", "::1"],
    // A dual-stack client socket is listed in tcp6 under the v4-mapped address; ferry sees it unmapped.
    ["v4-mapped", "::ffff:127.0.0.1"],
  ])("TCP over %s", async (_name, host) => {
    const source = await client(host);
    const peer = host.replace(/^::ffff:/, "");
    expect(await findSocketOwner("tcp", source.ip, source.port, peer, port)).toEqual({ uid: ownUid, path: ownPath });
    // Connected sockets may share a local port when their remote ends differ: the remote end must match too.
    expect(await findSocketOwner("tcp", source.ip, source.port, peer, port === 65535 ? 1 : port + 1)).toBeUndefined();
    expect(await findSocketOwner("tcp", source.ip, source.port)).toEqual({ uid: ownUid, path: ownPath });
  });

  test("UDP, bound to the address or to the wildcard (v4 and dual-stack)", async () => {
    for (const [type, address] of [
      ["udp4", "127.0.0.1"],
      ["udp4", "0.0.0.0"],
      ["udp6", "::"],
    ] as const) {
      const socket = dgram.createSocket(type);
      try {
        await new Promise<void>((resolve) => socket.bind(0, address, resolve));
        const owner = await findSocketOwner("udp", "127.0.0.1", socket.address().port);
        expect(owner).toEqual({ uid: ownUid, path: ownPath });
        // TCP is another table.
        expect(await findSocketOwner("tcp", "127.0.0.1", socket.address().port)).toBeUndefined();
      } finally {
        socket.close();
      }
    }
  });

  test("no socket bound there: undefined", async () => {
    const source = await client("127.0.0.1");
    clients.pop()!.destroy();
    // The closed client may linger in TIME_WAIT, which has no inode and so no owner.
    expect(await findSocketOwner("tcp", "127.0.0.2", source.port)).toBeUndefined();
    expect(await findSocketOwner("tcp", "not an ip", source.port)).toBeUndefined();
  });

  test("a connection's metadata gets process, path and uid; remote and unknown sources are not looked up", async () => {
    const source = await client("127.0.0.1");
    const m = md({ sourceIP: source.ip, sourcePort: source.port, inboundIP: "127.0.0.1", inboundPort: port });
    expect(await lookupOwner(m)).toBe(true);
    expect(m.process).toBe(basename(ownPath));
    expect(m.processPath).toBe(ownPath);
    expect(m.uid).toBe(ownUid);
    // The same socket again within the cache time: same answer.
    const again = md({ sourceIP: source.ip, sourcePort: source.port, inboundIP: "127.0.0.1", inboundPort: port });
    expect(await lookupOwner(again)).toBe(true);
    expect(again.processPath).toBe(ownPath);
    expect(lookupOwner(md({ sourceIP: "203.0.113.7", sourcePort: source.port }))).toBeUndefined();
    expect(lookupOwner(md({ sourceIP: "", sourcePort: 0 }))).toBeUndefined();
  });
});

describe("when the router looks the process up (find-process-mode)", () => {
  function counting() {
    const calls: number[] = [];
    return {
      calls,
      lookupProcess: async (m: Metadata) => {
        calls.push(m.sourcePort);
        m.process = "curl";
        return true;
      },
    };
  }

  function router(lines: string[], mode: FindProcessMode, lookupProcess: (m: Metadata) => Promise<boolean> | undefined): Router {
    return new Router(
      lines.map((l) => parse(l)),
      { resolve: async () => "10.0.0.1", log: quiet, processMode: () => mode, lookupProcess },
    );
  }

  const lines = ["DOMAIN,early.com,E", "PROCESS-NAME,curl,C", "MATCH,M"];

  test("strict: once, just before the first rule that needs it; synchronous without it", async () => {
    const c = counting();
    const r = router(lines, "strict", c.lookupProcess);
    const early = r.match(md({ host: "early.com", sourcePort: 1 }), () => true);
    expect(early).not.toBeInstanceOf(Promise);
    expect(c.calls).toEqual([]);
    expect((await r.match(md({ host: "x.com", sourcePort: 2 }), () => true)).target).toBe("C");
    expect(c.calls).toEqual([2]);
    const none = router(["DOMAIN,early.com,E", "MATCH,M"], "strict", c.lookupProcess);
    expect((await none.match(md({ host: "x.com", sourcePort: 3 }), () => true)).target).toBe("M");
    expect(c.calls).toEqual([2]);
  });

  test("strict: a logic rule containing a process rule is a lookup point", async () => {
    const c = counting();
    const r = router(["AND,((NETWORK,tcp),(PROCESS-NAME,curl)),C", "MATCH,M"], "strict", c.lookupProcess);
    expect((await r.match(md({ host: "x.com", sourcePort: 4 }), () => true)).target).toBe("C");
    expect(c.calls).toEqual([4]);
  });

  test("strict: a lookup and a DNS resolution due at the same rule both happen", async () => {
    const c = counting();
    const r = router(["AND,((IP-CIDR,10.0.0.0/8),(PROCESS-NAME,curl)),C", "MATCH,M"], "strict", c.lookupProcess);
    const m = md({ host: "x.com", sourcePort: 5 });
    expect((await r.match(m, () => true)).target).toBe("C");
    expect(m.destinationIP).toBe("10.0.0.1");
    expect(c.calls).toEqual([5]);
  });

  test("always: before the first rule, even when no rule needs it", async () => {
    const c = counting();
    const r = router(["DOMAIN,early.com,E", "MATCH,M"], "always", c.lookupProcess);
    const m = md({ host: "early.com", sourcePort: 6 });
    expect((await r.match(m, () => true)).target).toBe("E");
    expect(m.process).toBe("curl");
    expect(c.calls).toEqual([6]);
  });

  test("off: never, so process rules do not match", async () => {
    const c = counting();
    const r = router(lines, "off", c.lookupProcess);
    expect((await r.match(md({ host: "x.com", sourcePort: 7 }), () => true)).target).toBe("M");
    expect(c.calls).toEqual([]);
  });

  test("never for the core's own connections", async () => {
    const c = counting();
    for (const mode of ["strict", "always"] as const) {
      const r = router(lines, mode, c.lookupProcess);
      expect((await r.match(md({ host: "x.com", type: "Inner", sourcePort: 8 }), () => true)).target).toBe("M");
    }
    expect(c.calls).toEqual([]);
  });

  test.skipIf(process.platform !== "linux")("the default lookup finds this process for a rule naming it", async () => {
    const source = await client("127.0.0.1");
    const r = new Router([parse(`PROCESS-NAME,${basename(ownPath)},SELF`), parse("MATCH,M")], {
      resolve: async () => "10.0.0.1",
      log: quiet,
    });
    const m = md({ sourceIP: source.ip, sourcePort: source.port });
    expect((await r.match(m, () => true)).target).toBe("SELF");
    expect(m.processPath).toBe(ownPath);
    // A connection from elsewhere is not looked up: no process, no uid.
    const remote = md({ sourceIP: "203.0.113.7", sourcePort: source.port });
    expect((await r.match(remote, () => true)).target).toBe("M");
    expect(remote.process).toBe("");
  });
});
