import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { onLog } from "../../src/log.ts";
import { curl, freePort, startOrigin, startRuntime, tempDir } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

describe("external plugins", () => {
  test("a user's rule type and outbound type route a connection", async () => {
    const port = freePort();
    const ferry = await startRuntime(
      [
        `mixed-port: ${port}`,
        "hosts: {'dev.app.test': 127.0.0.9}",
        "proxies:",
        `  - {name: to-origin, type: forward, to: "127.0.0.1:${origin.port}"}`,
        "rules:",
        "  - DOMAIN-PREFIX,dev.,to-origin",
        "  - MATCH,REJECT",
      ].join("\n"),
      { pluginDirs: [resolve(root, "examples/plugins")] },
    );
    try {
      // dev.app.test:1 does not exist; only the forward outbound can make this answer.
      const r = await curl(["--socks5-hostname", `127.0.0.1:${port}`, "http://dev.app.test:1/hello"]);
      expect(r.stdout).toBe("hello from origin\n");
      const rejected = await curl(["--socks5-hostname", `127.0.0.1:${port}`, `http://localhost:${origin.port}/hello`]);
      expect(rejected.stdout).toBe("");
    } finally {
      await ferry.stop();
    }
  });

  test("a plugin that throws at load is named in the log and the others still work", async () => {
    const dir = tempDir();
    mkdirSync(join(dir.path, "p"));
    copyFileSync(resolve(root, "test/fixtures/plugins/throws-at-load.ts"), join(dir.path, "p", "a-throws.ts"));
    copyFileSync(resolve(root, "examples/plugins/forward-prefix.ts"), join(dir.path, "p", "b-good.ts"));
    const lines: string[] = [];
    const off = onLog((e) => lines.push(e.payload));
    const port = freePort();
    try {
      const ferry = await startRuntime(`mixed-port: ${port}\nrules:\n  - DOMAIN-PREFIX,x.,DIRECT\n  - MATCH,DIRECT\n`, {
        pluginDirs: [join(dir.path, "p")],
      });
      expect(lines.some((l) => l.includes('"throws-at-load"') && l.includes("boom in setup"))).toBe(true);
      expect(ferry.runtime.registry.get("rule", "DOMAIN-PREFIX")).toBeDefined();
      await ferry.stop();
    } finally {
      off();
      dir.remove();
    }
  });

  test("a rule that throws counts as not matched; a dial that throws fails only that connection", async () => {
    const port = freePort();
    const lines: string[] = [];
    const off = onLog((e) => lines.push(e.payload));
    const ferry = await startRuntime(
      [
        `mixed-port: ${port}`,
        "proxies: [{name: bomb, type: explode}]",
        "rules:",
        "  - EXPLODE,anything,REJECT",
        `  - DST-PORT,1,bomb`,
        "  - MATCH,DIRECT",
      ].join("\n"),
      { pluginDirs: [resolve(root, "test/fixtures/plugins")] },
    );
    try {
      const ok = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(ok.stdout).toBe("hello from origin\n");
      expect(lines.some((l) => l.includes("boom in match") && l.includes("throws-at-runtime"))).toBe(true);
      const failed = await curl(["-x", `http://127.0.0.1:${port}`, "http://127.0.0.1:1/"]);
      expect(failed.stdout).not.toContain("hello");
      expect(lines.some((l) => l.includes("boom in dial"))).toBe(true);
      const again = await curl(["-x", `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
      expect(again.stdout).toBe("hello from origin\n");
    } finally {
      off();
      await ferry.stop();
    }
  });
});
