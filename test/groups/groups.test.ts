/**
 * url-test, fallback, load-balance and relay over real outbounds (`http` proxies to local stubs),
 * with health checks measured on real sockets; selections remembered in HOME/cache.db.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Runtime } from "../../src/core/runtime.ts";
import { onLog, setLogLevel } from "../../src/log.ts";
import { createMetadata, type Group, isGroup } from "../../src/sdk/index.ts";
import { curl, freePort, startRuntime, tempDir } from "../helpers.ts";
import { until } from "../providers/helpers.ts";
import { type ProxyStub, startProxyStub } from "./helpers.ts";

const URL = "http://127.0.0.1:9/generate_204";
let stubs: ProxyStub[];

beforeAll(() => {
  stubs = [startProxyStub(), startProxyStub(), startProxyStub()];
});
afterAll(() => {
  for (const s of stubs) s.stop();
});

function proxies(): string {
  return ["proxies:", ...stubs.map((s, i) => `  - {name: p${i}, type: http, server: 127.0.0.1, port: ${s.port}}`)].join("\n");
}

function reset(delays: number[]): void {
  stubs.forEach((s, i) => {
    s.delayMs = delays[i] ?? 0;
    s.dead = false;
  });
}

function groupOf(engine: { outbounds: Map<string, unknown> }, name: string): Group & { fixed(): string; unfix(): void } {
  const g = engine.outbounds.get(name) as Group;
  expect(isGroup(g)).toBe(true);
  return g as Group & { fixed(): string; unfix(): void };
}

describe("max-failed-times", () => {
  test("failed dials through a group start an early health check that moves url-test off a dead member", async () => {
    reset([0, 100, 0]);
    const port = freePort();
    const f = await startRuntime(
      `mixed-port: ${port}\n${proxies()}\nproxy-groups:\n  - {name: auto, type: url-test, proxies: [p0, p1], url: "${URL}", interval: 3600, lazy: false, max-failed-times: 2}\nrules:\n  - MATCH,auto\n`,
    );
    try {
      const g = groupOf(f.engine, "auto");
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      stubs[0]!.dead = true;
      const connect = async () =>
        (await curl(["-p", "-x", `http://127.0.0.1:${port}`, "-o", "/dev/null", "-w", "%{http_connect}", "http://127.0.0.1:9/x"])).stdout;
      expect(await connect()).toBe("502");
      expect(g.now()).toBe("p0");
      // The second failure within `timeout` reaches max-failed-times: a check runs and finds p0 dead.
      expect(await connect()).toBe("502");
      await until(() => g.now() === "p1");
      expect(await connect()).toBe("200");
    } finally {
      await f.stop();
    }
  });
});

describe("url-test", () => {
  test("the fastest member; a slower current is replaced, a dead one too", async () => {
    reset([150, 0, 150]);
    const f = await startRuntime(`${proxies()}\nproxy-groups:\n  - {name: auto, type: url-test, proxies: [p0, p1, p2], url: "${URL}", interval: 3600, lazy: false}\n`);
    try {
      const g = groupOf(f.engine, "auto");
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p1");
      reset([0, 150, 150]);
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      stubs[0]!.dead = true;
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p1");
    } finally {
      await f.stop();
    }
  });

  test("tolerance keeps the current member unless another is faster by more; a pin is used while alive", async () => {
    reset([0, 200, 200]);
    const f = await startRuntime(`${proxies()}\nproxy-groups:\n  - {name: auto, type: url-test, proxies: [p0, p1, p2], url: "${URL}", tolerance: 400}\n`);
    try {
      const g = groupOf(f.engine, "auto");
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      reset([200, 0, 200]);
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      expect(g.select?.("p2")).toBe(true);
      expect(g.fixed()).toBe("p2");
      expect(g.now()).toBe("p2");
      stubs[2]!.dead = true;
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      g.unfix();
      expect(g.fixed()).toBe("");
    } finally {
      await f.stop();
    }
  });
});

describe("health-check scope with use (mihomo)", () => {
  /** p0 as a config proxy; n1 and n2 (stubs 1 and 2) as the nodes of an inline provider without its own health-check. */
  const withProvider = (group: string) =>
    `${proxies()}\nproxy-providers:\n  sub:\n    type: inline\n    payload:\n${[1, 2]
      .map((i) => `      - {name: n${i}, type: http, server: 127.0.0.1, port: ${stubs[i]!.port}}`)
      .join("\n")}\nproxy-groups:\n  - ${group}\n`;

  test("the group's round tests only its own proxies; the provider's round tests its nodes at the group's URL", async () => {
    reset([0, 0, 0]);
    const f = await startRuntime(withProvider(`{name: auto, type: url-test, proxies: [p0], use: [sub], url: "${URL}", interval: 3600, lazy: false}`));
    try {
      const provider = f.engine.providers.get("sub")!;
      const connects = () => stubs.map((s) => s.connects);
      // The first rounds start with the engine: let them finish before counting.
      await f.engine.health.checkAll();
      const before = connects();
      await provider.checkAll();
      expect(connects()).toEqual([before[0]!, before[1]! + 1, before[2]! + 1]);
      for (const node of provider.nodes) expect(f.engine.health.states.peek(node)?.extra.has(URL)).toBe(true);
      // Every check of the engine once: the provider tests n1 and n2, the group p0 only.
      await f.engine.health.checkAll();
      expect(connects()).toEqual([before[0]! + 1, before[1]! + 2, before[2]! + 2]);
    } finally {
      await f.stop();
    }
  });

  test("url-test over use moves off a provider node its provider's round finds dead", async () => {
    reset([0, 0, 150]);
    const f = await startRuntime(withProvider(`{name: auto, type: url-test, use: [sub], url: "${URL}", interval: 3600, lazy: false}`));
    try {
      const g = groupOf(f.engine, "auto");
      const provider = f.engine.providers.get("sub")!;
      await provider.checkAll();
      expect(g.now()).toBe("n1");
      stubs[1]!.dead = true;
      await provider.checkAll();
      expect(g.now()).toBe("n2");
    } finally {
      await f.stop();
    }
  });
});

describe("fallback", () => {
  test("first alive in order; a pin is used while alive and dropped when it dies; none alive → first", async () => {
    reset([0, 0, 0]);
    const f = await startRuntime(`${proxies()}\nproxy-groups:\n  - {name: fb, type: fallback, proxies: [p0, p1, p2], url: "${URL}", timeout: 1000}\n`);
    try {
      const g = groupOf(f.engine, "fb");
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
      stubs[0]!.dead = true;
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p1");
      expect(g.select?.("p2")).toBe(true);
      expect(g.now()).toBe("p2");
      stubs[2]!.dead = true;
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p1");
      expect(g.fixed()).toBe("");
      stubs[1]!.dead = true;
      await f.engine.health.checkAll();
      expect(g.now()).toBe("p0");
    } finally {
      await f.stop();
    }
  });
});

describe("load-balance", () => {
  const meta = (host: string, src = "10.0.0.1") => createMetadata({ network: "tcp", type: "HTTP", host, destinationPort: 443, sourceIP: src });

  test("consistent-hashing keeps a site (eTLD+1) on one member over 1,000 connections and spreads sites", async () => {
    reset([0, 0, 0]);
    const f = await startRuntime(`${proxies()}\nproxy-groups:\n  - {name: lb, type: load-balance, proxies: [p0, p1, p2], url: "${URL}"}\n`);
    try {
      const g = groupOf(f.engine, "lb");
      const chosen = new Set<string>();
      for (let i = 0; i < 1000; i++) chosen.add(g.pick(meta(`host${i % 7}.example.co.uk`, `10.0.${i % 200}.1`)).name);
      expect(chosen.size).toBe(1);
      const spread = new Set<string>();
      for (let i = 0; i < 100; i++) spread.add(g.pick(meta(`site${i}.com`)).name);
      expect(spread.size).toBe(3);
      expect(g.supportsUdp).toBe(true);
    } finally {
      await f.stop();
    }
  });

  test("round-robin spreads evenly; dead members are skipped", async () => {
    reset([0, 0, 0]);
    const f = await startRuntime(
      `${proxies()}\nproxy-groups:\n  - {name: rr, type: load-balance, strategy: round-robin, proxies: [p0, p1, p2], url: "${URL}", timeout: 1000}\n`,
    );
    try {
      const g = groupOf(f.engine, "rr");
      const counts = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        const name = g.pick(meta("a.example.com")).name;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      expect([...counts.values()]).toEqual([100, 100, 100]);
      stubs[1]!.dead = true;
      await f.engine.health.checkAll();
      const names = new Set(Array.from({ length: 30 }, () => g.pick(meta("a.example.com")).name));
      expect([...names].sort()).toEqual(["p0", "p2"]);
    } finally {
      await f.stop();
    }
  });

  test("an unknown strategy is a config error", async () => {
    const home = tempDir();
    try {
      const runtime = await Runtime.create({
        homeDir: home.path,
        configText: `${proxies()}\nproxy-groups:\n  - {name: lb, type: load-balance, strategy: random, proxies: [p0]}\n`,
      });
      await expect(runtime.start()).rejects.toThrow(/strategy/);
    } finally {
      home.remove();
    }
  });
});

describe("relay", () => {
  test("dials through every member in order: the first stub carries the CONNECT to the second", async () => {
    reset([0, 0, 0]);
    const before = stubs.map((s) => s.connects);
    const f = await startRuntime(`${proxies()}\nproxy-groups:\n  - {name: chain, type: relay, proxies: [p0, DIRECT, p1]}\n`);
    try {
      const g = groupOf(f.engine, "chain");
      const leaf = g.pick(createMetadata({ network: "tcp", type: "HTTP", host: "example.com", destinationPort: 80 }));
      const stream = await leaf.dialTcp(createMetadata({ network: "tcp", type: "HTTP", host: "example.com", destinationPort: 80 }));
      stream.close();
      // p0 got both CONNECTs (to p1, then p1's to example.com inside it): p1 was reached through p0.
      expect(stubs[0]!.connects - before[0]!).toBe(2);
      expect(stubs[1]!.connects - before[1]!).toBe(0);
    } finally {
      await f.stop();
    }
  });
});

describe("remembered selections (HOME/cache.db)", () => {
  const config = (extra = "") =>
    `${proxies()}\n${extra}proxy-groups:\n  - {name: pick, type: select, proxies: [p0, p1, p2]}\n  - {name: fb, type: fallback, proxies: [p0, p1], url: "${URL}"}\n`;

  async function run(home: string, text: string, fn: (engine: NonNullable<Runtime["engine"]>) => void | Promise<void>) {
    setLogLevel("silent");
    const runtime = await Runtime.create({ homeDir: home, configText: text });
    const engine = await runtime.start();
    setLogLevel("silent");
    try {
      await fn(engine);
    } finally {
      await runtime.shutdown(0);
    }
  }

  test("a select choice and a fallback pin survive a restart; store-selected: false ignores them", async () => {
    reset([0, 0, 0]);
    const home = tempDir();
    try {
      await run(home.path, config(), (e) => {
        expect(groupOf(e, "pick").select?.("p2")).toBe(true);
        expect(groupOf(e, "fb").select?.("p1")).toBe(true);
      });
      await run(home.path, config(), (e) => {
        expect(groupOf(e, "pick").now()).toBe("p2");
        expect(groupOf(e, "fb").fixed()).toBe("p1");
      });
      await run(home.path, config("profile: {store-selected: false}\n"), (e) => {
        expect(groupOf(e, "pick").now()).toBe("p0");
      });
      // A remembered member that is gone: the first member.
      await run(home.path, `${proxies()}\nproxy-groups:\n  - {name: pick, type: select, proxies: [p1, p0]}\n`, (e) => {
        expect(groupOf(e, "pick").now()).toBe("p1");
      });
    } finally {
      home.remove();
    }
  });

  test("a corrupt cache.db is reported, moved aside and replaced", async () => {
    const home = tempDir();
    const lines: string[] = [];
    const off = onLog((e) => lines.push(e.payload));
    try {
      writeFileSync(join(home.path, "cache.db"), "this is not a database".repeat(200));
      await run(home.path, config(), (e) => {
        expect(groupOf(e, "pick").select?.("p1")).toBe(true);
      });
      expect(lines.some((l) => l.includes(join(home.path, "cache.db")) && l.includes("moved to"))).toBe(true);
      await run(home.path, config(), (e) => {
        expect(groupOf(e, "pick").now()).toBe("p1");
      });
    } finally {
      off();
      home.remove();
    }
  });
});
