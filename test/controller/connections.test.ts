/** `/connections` with real traffic: every field of a live connection, and closing from the API. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Ferry, expectSchema, startFerry, startStreamingOrigin } from "./helpers.ts";
import * as S from "./schemas.ts";

let origin: ReturnType<typeof startStreamingOrigin>;
let ferry: Ferry;
beforeAll(async () => {
  origin = startStreamingOrigin();
  ferry = await startFerry("proxies:\n  - {name: out, type: direct}\nproxy-groups:\n  - {name: Pick, type: select, proxies: [out]}\nrules:\n  - DST-PORT,1,REJECT\n  - MATCH,Pick\n", { secret: "c" });
});
afterAll(async () => {
  await ferry.stop();
  origin.stop();
});

interface Conn {
  id: string;
  metadata: Record<string, unknown>;
  upload: number;
  download: number;
  chains: string[];
  providerChains: string[];
  rule: string;
  rulePayload: string;
  start: string;
}

/**
 * A curl download of the endless `/stream` through ferry; resolves once body bytes reach curl (an
 * answer cut before any body byte looks complete to curl), and keeps draining its output.
 */
async function download(proxy: string) {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "20", "-x", proxy, `http://127.0.0.1:${origin.port}/stream`], {
    stdout: "pipe",
    stderr: "ignore",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  const reader = proc.stdout.getReader();
  let received = 0;
  while (received < 2048) {
    const { value, done } = await reader.read();
    if (done) throw new Error("curl stopped before the body flowed");
    received += value.length;
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return proc;
}

async function snapshot(): Promise<{ connections: Conn[]; downloadTotal: number; uploadTotal: number }> {
  const r = await ferry.api("/connections");
  expect(r.status).toBe(200);
  const body = await r.json();
  expectSchema(S.Snapshot, body);
  return body as { connections: Conn[]; downloadTotal: number; uploadTotal: number };
}

describe("/connections with live traffic", () => {
  test("a live download is listed with every field of §7.24; DELETE /connections/{id} closes it at once", async () => {
    const curl = await download(`http://127.0.0.1:${ferry.mixedPort}`);
    const { connections } = await snapshot();
    expect(connections).toHaveLength(1);
    const c = connections[0]!;
    expect(c.chains).toEqual(["out", "Pick"]);
    expect(c.providerChains).toEqual(["", ""]);
    expect(c.rule).toBe("Match");
    expect(c.rulePayload).toBe("");
    expect(c.metadata).toMatchObject({
      network: "tcp",
      type: "HTTP",
      destinationIP: "127.0.0.1",
      destinationPort: String(origin.port),
      sourceIP: "127.0.0.1",
      inboundIP: "127.0.0.1",
      inboundPort: String(ferry.mixedPort),
      inboundName: "DEFAULT-MIXED",
      remoteDestination: "127.0.0.1",
      dnsMode: "normal",
      sourceGeoIP: null,
    });
    expect(Number.isNaN(new Date(c.start).getTime())).toBe(false);
    expect(c.upload).toBeGreaterThan(0);
    // The stream keeps flowing: counters only grow, the id stays.
    let later = (await snapshot()).connections[0]!;
    for (let i = 0; i < 50 && later.download <= c.download; i++) later = (await snapshot()).connections[0]!;
    expect(later.id).toBe(c.id);
    expect(later.download).toBeGreaterThan(c.download);

    const started = performance.now();
    const r = await ferry.api(`/connections/${c.id}`, { method: "DELETE" });
    expect(r.status).toBe(204);
    const code = await curl.exited;
    // curl saw the connection die (not its own 20 s limit, exit 28) well before then.
    expect(code).not.toBe(0);
    expect(code).not.toBe(28);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await snapshot()).connections).toEqual([]);
  });

  test("DELETE /connections closes every live connection; totals keep counting what they carried", async () => {
    const a = await download(`http://127.0.0.1:${ferry.mixedPort}`);
    const b = await download(`socks5h://127.0.0.1:${ferry.mixedPort}`);
    const before = await snapshot();
    expect(before.connections.map((c) => c.metadata.type).sort()).toEqual(["HTTP", "Socks5"]);
    expect((await ferry.api("/connections", { method: "DELETE" })).status).toBe(204);
    const [ca, cb] = await Promise.all([a.exited, b.exited]);
    expect([ca, cb].every((code) => code !== 0 && code !== 28)).toBe(true);
    const after = await snapshot();
    expect(after.connections).toEqual([]);
    expect(after.downloadTotal).toBeGreaterThanOrEqual(before.downloadTotal);
  });
});

describe("providerChains", () => {
  test("a connection through a provider node names its provider at index 0, \"\" for the group", async () => {
    const viaProvider = await startFerry(
      "proxy-providers:\n  sub: {type: inline, payload: [{name: node, type: direct}]}\nproxy-groups:\n  - {name: Pick, type: select, use: [sub]}\nrules:\n  - MATCH,Pick\n",
      { secret: "c" },
    );
    const curl = await download(`http://127.0.0.1:${viaProvider.mixedPort}`);
    try {
      const body = (await (await viaProvider.api("/connections")).json()) as { connections: Conn[] };
      expect(body.connections.map((c) => [c.chains, c.providerChains])).toEqual([[["node", "Pick"], ["sub", ""]]]);
    } finally {
      curl.kill();
      await viaProvider.stop();
    }
  });
});
