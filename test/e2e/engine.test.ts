import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connectTcp } from "../../src/core/socket-stream.ts";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

describe("engine end to end with curl", () => {
  test("mixed port: HTTP proxy, CONNECT and SOCKS5 with remote DNS reach the origin DIRECT", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nrules:\n  - MATCH,DIRECT\n`);
    try {
      const url = `http://localhost:${origin.port}/hello`;
      const viaHttp = await curl(["-x", `http://127.0.0.1:${port}`, url]);
      expect(viaHttp.stdout).toBe("hello from origin\n");
      const viaConnect = await curl(["-x", `http://127.0.0.1:${port}`, "--proxytunnel", url]);
      expect(viaConnect.stdout).toBe("hello from origin\n");
      const viaSocks = await curl(["--socks5-hostname", `127.0.0.1:${port}`, url]);
      expect(viaSocks.stdout).toBe("hello from origin\n");
    } finally {
      await ferry.stop();
    }
  });

  test("rules route by domain: REJECT closes at once, other names go DIRECT", async () => {
    const port = freePort();
    const ferry = await startRuntime(
      [
        `socks-port: ${port}`,
        "hosts:",
        "  'blocked.test': 127.0.0.1",
        "  'allowed.test': 127.0.0.1",
        "rules:",
        "  - DOMAIN-SUFFIX,blocked.test,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    try {
      const ok = await curl(["--socks5-hostname", `127.0.0.1:${port}`, `http://allowed.test:${origin.port}/hello`]);
      expect(ok.stdout).toBe("hello from origin\n");
      const started = Date.now();
      const rejected = await curl(["--socks5-hostname", `127.0.0.1:${port}`, `http://blocked.test:${origin.port}/hello`]);
      expect(rejected.code).not.toBe(0);
      expect(rejected.stdout).toBe("");
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await ferry.stop();
    }
  });

  test("a name nobody answers fails that connection only (no system resolver for *.test)", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nrules:\n  - IP-CIDR,10.0.0.0/8,REJECT\n  - MATCH,DIRECT\n`);
    try {
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("hello from origin\n");
    } finally {
      await ferry.stop();
    }
  });

  test("REJECT-DROP holds the connection open without answering", async () => {
    const port = freePort();
    const ferry = await startRuntime(`socks-port: ${port}\nrules:\n  - DST-PORT,9,REJECT-DROP\n  - MATCH,DIRECT\n`);
    try {
      const s = await connectTcp("127.0.0.1", port);
      const replies: Uint8Array[] = [];
      let closed = false;
      s.onData = (c) => replies.push(c);
      s.onClose = () => {
        closed = true;
      };
      s.write(Uint8Array.of(5, 1, 0));
      s.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, 0, 9));
      // Holding is the behaviour under test: the connection must still be open and tracked later.
      await Bun.sleep(700);
      expect(closed).toBe(false);
      const tracked = [...ferry.runtime.tracker.connections()];
      expect(tracked.some((c) => c.chains[0] === "REJECT-DROP")).toBe(true);
      s.close();
    } finally {
      await ferry.stop();
    }
  });

  test("mode: global sends everything to GLOBAL, mode: direct to DIRECT", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nmode: Global\nrules:\n  - MATCH,REJECT\n`);
    try {
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("hello from origin\n");
      const global = ferry.engine.outbounds.get("GLOBAL");
      expect(global && "members" in global ? (global as { members(): string[] }).members().slice(0, 2) : []).toEqual(["DIRECT", "REJECT"]);
    } finally {
      await ferry.stop();
    }
    const port2 = freePort();
    const direct = await startRuntime(`mixed-port: ${port2}\nmode: direct\nrules:\n  - MATCH,REJECT\n`);
    try {
      const r = await curl(["-x", `http://127.0.0.1:${port2}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("hello from origin\n");
    } finally {
      await direct.stop();
    }
  });

  test("the tracker records id, metadata, rule, payload, chain and bytes", async () => {
    const port = freePort();
    const ferry = await startRuntime(
      `mixed-port: ${port}\nproxy-groups:\n  - {name: Out, type: select, proxies: [DIRECT]}\nrules:\n  - DST-PORT,${origin.port},Out\n  - MATCH,REJECT\n`,
    );
    try {
      const s = await connectTcp("127.0.0.1", port);
      let got = "";
      const headers = new Promise<void>((resolve) => {
        s.onData = (c) => {
          got += Buffer.from(c).toString("latin1");
          if (got.includes("\r\n\r\n")) resolve();
        };
      });
      s.write(Buffer.from(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`));
      await headers;
      got = "";
      const body = new Promise<void>((resolve) => {
        s.onData = (c) => {
          got += Buffer.from(c).toString("latin1");
          if (got.includes("hello from origin")) resolve();
        };
      });
      s.write(Buffer.from(`GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
      await body;
      const [conn] = [...ferry.runtime.tracker.connections()];
      expect(conn).toBeDefined();
      expect(conn!.chains).toEqual(["DIRECT", "Out"]);
      expect(conn!.rule).toBe("DstPort");
      expect(conn!.rulePayload).toBe(String(origin.port));
      expect(conn!.metadata.type).toBe("HTTPS");
      expect(conn!.metadata.inboundName).toBe("DEFAULT-MIXED");
      expect(conn!.metadata.destinationIP).toBe("127.0.0.1");
      expect(conn!.upload).toBeGreaterThan(0);
      expect(conn!.download).toBeGreaterThan(0);
      s.close();
    } finally {
      await ferry.stop();
    }
  });

  test("allow-lan: false binds loopback 127.0.0.1 only", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nallow-lan: false\nbind-address: "*"\n`);
    try {
      expect(ferry.engine.addresses("DEFAULT-MIXED")).toEqual([`127.0.0.1:${port}`]);
      await expect(connectTcp("127.0.0.2", port)).rejects.toThrow();
    } finally {
      await ferry.stop();
    }
  });

  test("a bad reload is refused and the running config stays in force", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nrules:\n  - MATCH,DIRECT\n`);
    try {
      expect(await ferry.runtime.reload(`mixed-port: ${port}\nrules:\n  - MATCH,NoSuchProxy\n`)).toBe(false);
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("hello from origin\n");
      expect(await ferry.runtime.reload(`mixed-port: ${port}\nrules:\n  - MATCH,REJECT\n`)).toBe(true);
      const after = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(after.stdout).not.toBe("hello from origin\n");
    } finally {
      await ferry.stop();
    }
  });
});
