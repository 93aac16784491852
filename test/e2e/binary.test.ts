import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { curl, freePort, startOrigin, tempDir } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const work = tempDir("ferry-binary-");
let origin: ReturnType<typeof startOrigin>;

beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => {
  origin.stop();
  work.remove();
});

describe("the compiled binary", () => {
  test(
    "built by npm run build, copied alone, loads the example plugin and routes with it",
    async () => {
      const built = join(work.path, "build", "ferry");
      const build = Bun.spawnSync([process.execPath, resolve(root, "scripts/build.ts")], {
        cwd: root,
        env: { ...process.env, BUILD_OUTFILE: built },
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(build.exitCode).toBe(0);
      // Alone in another folder: nothing of the source tree next to it.
      const alone = join(work.path, "alone");
      const plugins = join(work.path, "home", "plugins");
      mkdirSync(alone, { recursive: true });
      mkdirSync(plugins, { recursive: true });
      copyFileSync(built, join(alone, "ferry"));
      copyFileSync(resolve(root, "examples/plugins/forward-prefix.ts"), join(plugins, "forward-prefix.ts"));
      const port = freePort();
      const config = join(work.path, "home", "config.yaml");
      writeFileSync(
        config,
        [
          `mixed-port: ${port}`,
          "hosts: {'dev.app.test': 127.0.0.9}",
          `proxies: [{name: fwd, type: forward, to: "127.0.0.1:${origin.port}"}]`,
          "rules:",
          "  - DOMAIN-PREFIX,dev.,fwd",
          "  - MATCH,REJECT",
        ].join("\n"),
      );
      const version = Bun.spawnSync([join(alone, "ferry"), "-v"], { cwd: alone, stdout: "pipe" });
      expect(version.stdout.toString()).toMatch(/^ferry v\d+\.\d+\.\d+/);
      const proc = Bun.spawn([join(alone, "ferry"), "run", "-d", join(work.path, "home")], {
        cwd: alone,
        stdout: "pipe",
        stderr: "pipe",
      });
      try {
        const reader = proc.stderr.getReader();
        let log = "";
        while (!log.includes("listening")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`ferry exited early:\n${log}`);
          log += new TextDecoder().decode(value);
        }
        expect(log).toContain('loaded plugin "example-forward-prefix"');
        const r = await curl(["--socks5-hostname", `127.0.0.1:${port}`, "http://dev.app.test:1/hello"]);
        expect(r.stdout).toBe("hello from origin\n");
      } finally {
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
    },
    120_000,
  );
});
