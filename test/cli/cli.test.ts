import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const fixtures = resolve(root, "test/fixtures/configs");
/** A HOME without config or plugins; ferry may write its cache.db there. */
const emptyHome = mkdtempSync(join(tmpdir(), "ferry-cli-home-"));
afterAll(() => rmSync(emptyHome, { recursive: true, force: true }));

/** Run the CLI from source, as `npm start` does. */
async function ferry(args: string[], stdin?: string) {
  const proc = Bun.spawn([process.execPath, "--no-install", resolve(root, "src/cli/main.ts"), ...args], {
    cwd: root,
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, FERRY_HOME: emptyHome },
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, stdout, stderr };
}

describe("ferry test-config", () => {
  test("a valid config exits 0", async () => {
    const r = await ferry(["test-config", "-f", resolve(fixtures, "valid.yaml")]);
    expect(r.stdout).toContain("test is successful");
    expect(r.code).toBe(0);
  });

  test("an invalid config exits 1 and names every key path with line:column", async () => {
    const r = await ferry(["test-config", "-f", resolve(fixtures, "invalid.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("mode (line 2:7): expected one of rule, global, direct");
    expect(r.stdout).toContain('proxy-groups[2].interval (line 9:15): expected an integer, got "5m"');
    expect(r.stdout).toContain('rules[0]');
    expect(r.stdout).toContain('"Nowhere" not found');
    expect(r.stdout).toContain("rules[1]");
  });

  test("mihomo's `-t -f FILE` is test-config", async () => {
    expect((await ferry(["-t", "-f", resolve(fixtures, "invalid.yaml")])).code).toBe(1);
    expect((await ferry(["-t", "-f", resolve(fixtures, "valid.yaml")])).code).toBe(0);
  });

  test("--json prints machine-readable findings; unknown keys are warnings with a suggestion", async () => {
    const r = await ferry(["test-config", "--json", "-f", "-"], "mixed-port: 7890\nproxy-group: []\nrules:\n  - MATCH,DIRECT\n");
    expect(r.code).toBe(0);
    const findings = JSON.parse(r.stdout) as { severity: string; path: string; hint?: string; line?: number }[];
    const unknown = findings.find((f) => f.path === "proxy-group");
    expect(unknown?.severity).toBe("warning");
    expect(unknown?.hint).toContain("proxy-groups");
    expect(unknown?.line).toBe(2);
  });

  test("duplicate keys are errors with their line", async () => {
    const r = await ferry(["test-config", "--json", "-f", "-"], "port: 7890\nport: 7891\n");
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout) as { severity: string; line?: number }[];
    expect(findings.some((f) => f.severity === "error" && f.line === 2)).toBe(true);
  });
});

describe("ferry version, plugins, schema", () => {
  test("version and -v", async () => {
    const pkg = (await Bun.file(resolve(root, "package.json")).json()) as { version: string };
    expect((await ferry(["version"])).stdout).toContain(`ferry v${pkg.version}`);
    expect((await ferry(["-v"])).stdout).toContain(`ferry v${pkg.version}`);
  });

  test("plugins lists built-ins with their kinds and an external plugin from --plugins-dir", async () => {
    const r = await ferry(["plugins", "--plugins-dir", resolve(root, "examples/plugins")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/inbound-mixed\s+\[built-in\]\s+inbound: mixed/);
    const line = r.stdout.split("\n").find((l) => l.startsWith("example-forward-prefix"));
    expect(line).toContain("forward-prefix.ts]");
    expect(line).toContain("outbound: forward");
    expect(line).toContain("rule: DOMAIN-PREFIX");
  });

  test("schema is JSON Schema with a variant per proxy type, including external plugins", async () => {
    const r = await ferry(["schema", "--plugins-dir", resolve(root, "examples/plugins")]);
    const schema = JSON.parse(r.stdout) as {
      properties: { proxies: { items: { anyOf: { properties: { type: { const: string }; to?: unknown } }[] } } };
    };
    const variants = schema.properties.proxies.items.anyOf;
    expect(variants.map((v) => v.properties.type.const)).toContain("direct");
    expect(variants.find((v) => v.properties.type.const === "forward")?.properties.to).toBeDefined();
  });
});

describe("ferry run", () => {
  /** Start `ferry run`, read its log until `until` appears (bounded by the test timeout). */
  async function startRun(args: string[], until: string) {
    const proc = Bun.spawn([process.execPath, "--no-install", resolve(root, "src/cli/main.ts"), "run", ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stderr.getReader();
    let log = "";
    const waitFor = async (text: string) => {
      while (!log.includes(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`ferry exited before logging "${text}":\n${log}`);
        log += new TextDecoder().decode(value);
      }
    };
    await waitFor(until);
    return { proc, waitFor, log: () => log };
  }

  test("without a config file it says so, runs the embedded default, and exits 0 on SIGTERM", async () => {
    const home = emptyHome;
    const run = await startRun(["-d", home], "embedded default");
    // Listening, or an error naming the listener when 7890 is taken on this machine.
    await run.waitFor("DEFAULT-MIXED");
    run.proc.kill("SIGTERM");
    expect(await run.proc.exited).toBe(0);
  });

  test("SIGHUP reloads the config file; a broken file keeps the running config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-run-"));
    const file = join(dir, "config.yaml");
    writeFileSync(file, "mixed-port: 0\nlisteners:\n  - {name: one, type: mixed, port: 0, listen: 127.0.0.1}\n");
    const run = await startRun(["-d", dir], "one (mixed) listening");
    writeFileSync(file, "listeners:\n  - {name: two, type: mixed, port: 0, listen: 127.0.0.1}\n");
    run.proc.kill("SIGHUP");
    await run.waitFor("two (mixed) listening");
    writeFileSync(file, "mode: nonsense\n");
    run.proc.kill("SIGHUP");
    await run.waitFor("the running config stays in force");
    run.proc.kill("SIGINT");
    expect(await run.proc.exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  test("--watch reloads when the config file is rewritten or replaced, once per burst of writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-watch-"));
    const file = join(dir, "config.yaml");
    writeFileSync(file, "mixed-port: 0\nlisteners:\n  - {name: one, type: mixed, port: 0, listen: 127.0.0.1}\n");
    const run = await startRun(["-d", dir, "--watch"], "one (mixed) listening");
    // Several writes in a row, as editors do: a single reload.
    for (const name of ["x", "y", "two"]) writeFileSync(file, `listeners:\n  - {name: ${name}, type: mixed, port: 0, listen: 127.0.0.1}\n`);
    await run.waitFor("two (mixed) listening");
    expect(run.log().match(/changed: reloading the config/g)?.length).toBe(1);
    // Replaced by a rename (how many editors save): still watched.
    writeFileSync(join(dir, "next.yaml"), "listeners:\n  - {name: three, type: mixed, port: 0, listen: 127.0.0.1}\n");
    renameSync(join(dir, "next.yaml"), file);
    await run.waitFor("three (mixed) listening");
    run.proc.kill("SIGINT");
    expect(await run.proc.exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
