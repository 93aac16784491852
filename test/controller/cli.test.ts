/**
 * The controller as the CLI runs it: started after the proxy listeners, GUI overrides (`-ext-ctl`,
 * `-secret`, `CLASH_OVERRIDE_*`), and `POST /restart` re-executing the same command line.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, tempDir } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const home = tempDir("ferry-ctl-cli-");
afterAll(() => home.remove());

/** Reads a process's stderr as it comes; `waitFor` resolves with the text once `pattern` appears. */
function logReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    get text() {
      return text;
    },
    async waitFor(pattern: RegExp, from = 0): Promise<RegExpExecArray> {
      for (;;) {
        const m = pattern.exec(text.slice(from));
        if (m) return m;
        const { value, done } = await reader.read();
        if (done) throw new Error(`output ended without ${pattern}:\n${text}`);
        text += decoder.decode(value, { stream: true });
      }
    },
    /** Resolves when every writer has closed the pipe (the processes holding it have exited). */
    async drain(): Promise<void> {
      while (!(await reader.read()).done);
    },
  };
}

function spawnFerry(args: string[], env: Record<string, string> = {}) {
  return Bun.spawn([process.execPath, "--no-install", join(root, "src/cli/main.ts"), ...args], {
    cwd: root,
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home.path, ...env },
  });
}

describe("controller from the command line", () => {
  test(
    "-ext-ctl and -secret override the file; the controller opens after the proxy listener; /restart re-executes",
    async () => {
      const mixed = freePort();
      const ctl = freePort();
      writeFileSync(join(home.path, "config.yaml"), `mixed-port: ${mixed}\nexternal-controller: 127.0.0.1:1\nsecret: from-file\n`);
      const proc = spawnFerry(["-d", home.path, "-ext-ctl", `127.0.0.1:${ctl}`, "-secret=from-flag"]);
      const log = logReader(proc.stderr);
      let newPid: number | undefined;
      try {
        await log.waitFor(new RegExp(`RESTful API listening at: 127\\.0\\.0\\.1:${ctl}`));
        expect(log.text.indexOf("DEFAULT-MIXED")).toBeLessThan(log.text.indexOf("RESTful API"));
        const base = `http://127.0.0.1:${ctl}`;
        expect((await fetch(`${base}/version`, { headers: { authorization: "Bearer from-flag" } })).status).toBe(200);
        expect((await fetch(`${base}/version`, { headers: { authorization: "Bearer from-file" } })).status).toBe(401);

        const mark = log.text.length;
        const r = await fetch(`${base}/restart`, { method: "POST", headers: { authorization: "Bearer from-flag" }, body: '{"path":"","payload":""}' });
        expect(r.status).toBe(200);
        expect(await r.text()).toBe('{"status":"ok"}\n');
        expect(await proc.exited).toBe(0);
        newPid = Number((await log.waitFor(/new process (\d+) started/, mark))[1]);
        expect(newPid).not.toBe(proc.pid);
        // The new process took the same arguments: same port, same secret.
        const again = log.text.indexOf("restarting: new process");
        await log.waitFor(new RegExp(`RESTful API listening at: 127\\.0\\.0\\.1:${ctl}`), again);
        expect((await fetch(`${base}/version`, { headers: { authorization: "Bearer from-flag" } })).status).toBe(200);
        process.kill(newPid, "SIGTERM");
        newPid = undefined;
        await log.drain();
      } finally {
        proc.kill();
        if (newPid) process.kill(newPid, "SIGKILL");
      }
    },
    30_000,
  );

  test(
    "CLASH_OVERRIDE_EXTERNAL_CONTROLLER and CLASH_OVERRIDE_SECRET start the controller without a config key",
    async () => {
      const mixed = freePort();
      const ctl = freePort();
      writeFileSync(join(home.path, "config.yaml"), `mixed-port: ${mixed}\n`);
      const proc = spawnFerry(["-d", home.path], { CLASH_OVERRIDE_EXTERNAL_CONTROLLER: `127.0.0.1:${ctl}`, CLASH_OVERRIDE_SECRET: "from-env" });
      const log = logReader(proc.stderr);
      try {
        await log.waitFor(/RESTful API listening at/);
        const base = `http://127.0.0.1:${ctl}`;
        expect((await fetch(`${base}/version`, { headers: { authorization: "Bearer from-env" } })).status).toBe(200);
        expect((await fetch(`${base}/version`)).status).toBe(401);
      } finally {
        proc.kill("SIGTERM");
        await proc.exited;
      }
    },
    20_000,
  );

  test("without any controller key no controller starts", async () => {
    const mixed = freePort();
    writeFileSync(join(home.path, "config.yaml"), `mixed-port: ${mixed}\n`);
    const proc = spawnFerry(["-d", home.path]);
    const log = logReader(proc.stderr);
    try {
      await log.waitFor(/DEFAULT-MIXED/);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    await log.drain();
    expect(log.text).not.toContain("RESTful API");
  });
});
