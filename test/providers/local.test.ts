import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildConfig } from "../../src/config/build.ts";
import { createRegistry } from "../../src/core/runtime.ts";
import { cacheOf } from "../../src/store/cache.ts";
import { isGroup } from "../../src/sdk/types.ts";
import { curl, freePort, startOrigin, tempDir } from "../helpers.ts";
import { captureLogs, startConnectProxy, startIn } from "./helpers.ts";

const ss = (name: string, port = 8388) => `{name: "${name}", type: ss, server: 127.0.0.1, port: ${port}, cipher: aes-128-gcm, password: pw}`;

let origin: ReturnType<typeof startOrigin>;
let home: ReturnType<typeof tempDir>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());
afterEach(() => home?.remove());

function members(engine: { outbounds: Map<string, unknown> }, group: string): string[] {
  const g = engine.outbounds.get(group);
  if (!g || typeof g !== "object" || !isGroup(g as never)) throw new Error(`${group} is not a group`);
  return (g as { members(): string[] }).members();
}

describe("file and inline providers, group membership", () => {
  test("file and inline providers feed groups through use, filter, exclude-filter, exclude-type and include-all", async () => {
    home = tempDir();
    mkdirSync(join(home.path, "subs"));
    writeFileSync(
      join(home.path, "subs/a.yaml"),
      `proxies:\n  - ${ss("HK-01")}\n  - ${ss("US-01")}\n  - ${ss("HK-02")}\n  - {name: "JP-http", type: http, server: 127.0.0.1, port: 1}\n`,
    );
    const config = [
      "log-level: silent",
      "proxies:",
      `  - {name: "top-b", type: http, server: 127.0.0.1, port: 2}`,
      `  - {name: "top-a", type: http, server: 127.0.0.1, port: 3}`,
      "proxy-providers:",
      "  file-sub: {type: file, path: subs/a.yaml}",
      `  inline-sub: {type: inline, payload: [${ss("SG-01")}, ${ss("HK-03")}]}`,
      "proxy-groups:",
      "  - {name: ordered, type: select, use: [file-sub, inline-sub], filter: 'US`(?i)hk'}",
      "  - {name: dropped, type: select, proxies: [top-a, DIRECT], use: [file-sub], exclude-filter: '^top|02$', exclude-type: 'http'}",
      "  - {name: everything, type: select, include-all: true}",
      "  - {name: tops, type: select, include-all-proxies: true, proxies: [DIRECT]}",
      "  - {name: nothing, type: select, use: [inline-sub], filter: '^none$'}",
    ].join("\n");
    const ferry = await startIn(home.path, config);
    try {
      expect(members(ferry.engine, "ordered")).toEqual(["US-01", "HK-01", "HK-02", "HK-03"]);
      expect(members(ferry.engine, "dropped")).toEqual(["DIRECT", "HK-01", "US-01"]);
      expect(members(ferry.engine, "everything")).toEqual(["top-a", "top-b", "HK-01", "US-01", "HK-02", "JP-http", "SG-01", "HK-03"]);
      expect(members(ferry.engine, "tops")).toEqual(["DIRECT", "top-a", "top-b"]);
      expect(members(ferry.engine, "nothing")).toEqual([]);
      expect(ferry.engine.providers.get("inline-sub")?.vehicleType).toBe("Inline");
    } finally {
      await ferry.stop();
    }
  });

  test("connections route through a provider node; override prefix, suffix, rename and fields apply", async () => {
    home = tempDir();
    const proxy = startConnectProxy();
    const port = freePort();
    const config = [
      "log-level: silent",
      `mixed-port: ${port}`,
      "proxy-providers:",
      "  sub:",
      "    type: inline",
      `    payload: [{name: "node-1", type: http, server: 127.0.0.1, port: ${proxy.port}}]`,
      "    override: {additional-prefix: '[P] ', additional-suffix: ' x', proxy-name: [{pattern: 'node-(\\d+)', target: 'N$1'}], udp: false}",
      "proxy-groups:",
      "  - {name: PROXY, type: select, use: [sub]}",
      "rules: ['MATCH,PROXY']",
    ].join("\n");
    const ferry = await startIn(home.path, config);
    try {
      expect(members(ferry.engine, "PROXY")).toEqual(["[P] N1 x"]);
      const r = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe("hello from origin\n");
      expect(proxy.targets).toEqual([`127.0.0.1:${origin.port}`]);
      const node = ferry.engine.providers.get("sub")!.nodes[0]!;
      expect(ferry.engine.providers.get("sub")!.specs.get(node)?.options.udp).toBe(false);
    } finally {
      await ferry.stop();
      proxy.stop();
    }
  });

  test("a bad node is skipped with a warning naming it; duplicates are dropped with a warning", async () => {
    home = tempDir();
    writeFileSync(
      join(home.path, "sub.yaml"),
      `proxies:\n  - ${ss("good")}\n  - {name: "bad-cipher", type: ss, server: 127.0.0.1, port: 1, cipher: rot13, password: x}\n  - ${ss("good")}\n`,
    );
    const logs = captureLogs();
    const ferry = await startIn(home.path, "log-level: silent\nproxy-providers:\n  s: {type: file, path: sub.yaml}\nproxy-groups:\n  - {name: G, type: select, use: [s]}\n");
    try {
      expect(members(ferry.engine, "G")).toEqual(["good"]);
      const text = logs.lines.map((l) => l.payload).join("\n");
      expect(text).toContain("proxy-providers.s.proxies[1].cipher");
      expect(text).toContain('"bad-cipher"');
      expect(text).toContain('duplicate proxy name "good"');
      expect(ferry.engine.providers.get("s")!.skipped.length).toBe(2);
    } finally {
      logs.stop();
      await ferry.stop();
    }
  });

  test("file providers reload when the file changes", async () => {
    home = tempDir();
    const file = join(home.path, "sub.yaml");
    writeFileSync(file, `proxies:\n  - ${ss("one")}\n`);
    const ferry = await startIn(home.path, "log-level: silent\nproxy-providers:\n  s: {type: file, path: sub.yaml}\nproxy-groups:\n  - {name: G, type: select, use: [s]}\n");
    try {
      expect(members(ferry.engine, "G")).toEqual(["one"]);
      writeFileSync(file, `proxies:\n  - ${ss("one")}\n  - ${ss("two")}\n`);
      await ferry.engine.providers.get("s")!.refresh();
      expect(members(ferry.engine, "G")).toEqual(["one", "two"]);
    } finally {
      await ferry.stop();
    }
  });
});

describe("the parsed copy in cache.db", () => {
  test("a restart reads the body's parsed form from cache.db and gets the same nodes, go-yaml typing included", async () => {
    home = tempDir();
    writeFileSync(
      join(home.path, "sub.yaml"),
      "proxies:\n  - {name: octal, type: ss, server: 127.0.0.1, port: 8388, cipher: aes-128-gcm, password: 0123}\n",
    );
    const config = "log-level: silent\nproxy-providers:\n  s: {type: file, path: sub.yaml}\nproxy-groups:\n  - {name: G, type: select, use: [s]}\n";
    const optionsOf = (engine: { providers: Map<string, { nodes: unknown[]; specs: WeakMap<object, { options: Record<string, unknown> }> }> }) => {
      const p = engine.providers.get("s")!;
      return p.nodes.map((n) => p.specs.get(n as object)!.options);
    };
    const first = await startIn(home.path, config);
    const cold = optionsOf(first.engine as never);
    await first.stop();
    const stored = JSON.parse(cacheOf(home.path).get("parsed", "s") ?? "{}") as { entries?: unknown[] };
    expect(stored.entries).toHaveLength(1);
    const second = await startIn(home.path, config);
    try {
      const warm = optionsOf(second.engine as never);
      expect(warm).toEqual(cold);
      expect(warm[0]?.password).toBe("83");
    } finally {
      await second.stop();
    }
  });
});

describe("provider and group validation (config.md §23 #20, #22, #25, #26)", () => {
  const check = async (text: string, homeDir?: string) => {
    const registry = await createRegistry(tempDir().path);
    return buildConfig(text, registry, { homeDir }).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
  };

  test("errors", async () => {
    const issues = await check(
      [
        "proxy-providers:",
        "  default: {type: file, path: a}",
        "  nourl: {type: http}",
        "  outside: {type: http, url: 'http://127.0.0.1/x', path: /etc/passwd}",
        "  noload: {type: inline}",
        "  badre: {type: file, path: b, filter: '(['}",
        "  badname: {type: file, path: c, override: {proxy-name: [{pattern: '(', target: x}]}}",
        "  badtype: {type: ftp}",
        "proxy-groups:",
        "  - {name: g1, type: select, use: [missing]}",
        "  - {name: g2, type: select, include-all: true, filter: 'a(b'}",
      ].join("\n"),
      "/tmp/ferry-home",
    );
    const text = issues.join("\n");
    expect(text).toContain('error proxy-providers.default: provider name "default" is reserved');
    expect(text).toContain("error proxy-providers.nourl.url: an http provider needs a url");
    expect(text).toContain("error proxy-providers.outside.path: path \"/etc/passwd\" is outside the home dir");
    expect(text).toContain("error proxy-providers.noload.payload");
    expect(text).toContain("error proxy-providers.badre.filter: invalid regex");
    expect(text).toContain("error proxy-providers.badname.override.proxy-name[0].pattern: invalid regex");
    expect(text).toMatch(/error proxy-providers\.badtype\.type/);
    expect(text).toContain('error proxy-groups[0].use[0]: proxy-provider "missing" not found');
    expect(text).toContain("error proxy-groups[1].filter: invalid regex");
  });

  test("warnings: interval 0, missing file", async () => {
    const issues = await check("proxy-providers:\n  h: {type: http, url: 'http://127.0.0.1/x'}\n  f: {type: file, path: nope.yaml}\n", "/tmp/ferry-home");
    expect(issues.join("\n")).toContain("warning proxy-providers.h.interval");
    expect(issues.join("\n")).toContain("warning proxy-providers.f.path: file /tmp/ferry-home/nope.yaml does not exist");
  });
});
