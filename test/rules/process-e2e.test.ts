import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";

/*
 * curl runs on this machine, so ferry finds it from the source port of its connection: a rule
 * naming curl (or its uid) decides, with MATCH pointing the other way.
 */

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

const curlPath = realpathSync(Bun.which("curl") ?? "/usr/bin/curl");
/** As root, curl runs as nobody so the UID rule has a uid to see (mihomo never matches uid 0). */
const asRoot = process.getuid?.() === 0;
const curlUid = asRoot ? 65534 : (process.getuid?.() ?? 0);

/** curl as `uid` (root may switch), bounded in time like the shared helper. */
function curlAs(uid: number, args: string[]): Promise<{ code: number; stdout: string }> {
  const proc = spawn("curl", ["-sS", "--max-time", "10", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    ...(asRoot ? { uid, gid: uid } : {}),
  });
  let stdout = "";
  proc.stdout.on("data", (d) => {
    stdout += d;
  });
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.once("close", (code) => resolve({ code: code ?? -1, stdout }));
  });
}

async function through(rules: string[], run: (port: number) => Promise<{ code: number; stdout: string }>) {
  const port = freePort();
  const ferry = await startRuntime([`mixed-port: ${port}`, "rules:", ...rules.map((r) => `  - ${r}`)].join("\n"));
  try {
    return await run(port);
  } finally {
    await ferry.stop();
  }
}

const url = () => `http://127.0.0.1:${origin.port}/hello`;

describe.skipIf(process.platform !== "linux")("process rules end to end with curl", () => {
  test("PROCESS-NAME finds curl: DIRECT when named (MATCH rejects), rejected when named REJECT", async () => {
    const allowed = await through(["PROCESS-NAME,curl,DIRECT", "MATCH,REJECT"], (port) => curl(["--socks5", `127.0.0.1:${port}`, url()]));
    expect(allowed.stdout).toBe("hello from origin\n");
    const rejected = await through(["PROCESS-NAME,curl,REJECT", "MATCH,DIRECT"], (port) => curl(["--socks5", `127.0.0.1:${port}`, url()]));
    expect(rejected.code).not.toBe(0);
    expect(rejected.stdout).toBe("");
    const other = await through(["PROCESS-NAME,wget,REJECT", "MATCH,DIRECT"], (port) => curl(["--socks5", `127.0.0.1:${port}`, url()]));
    expect(other.stdout).toBe("hello from origin\n");
  });

  test("PROCESS-PATH and a SUB-RULE holding the process rule", async () => {
    const byPath = await through([`PROCESS-PATH,${curlPath},DIRECT`, "MATCH,REJECT"], (port) => curl(["-x", `http://127.0.0.1:${port}`, url()]));
    expect(byPath.stdout).toBe("hello from origin\n");
    const port = freePort();
    const ferry = await startRuntime(
      [
        `mixed-port: ${port}`,
        "sub-rules:",
        "  apps:",
        "    - PROCESS-NAME-WILDCARD,cur?,DIRECT",
        "rules:",
        "  - SUB-RULE,(NETWORK,tcp),apps",
        "  - MATCH,REJECT",
      ].join("\n"),
    );
    try {
      expect((await curl(["-x", `http://127.0.0.1:${port}`, url()])).stdout).toBe("hello from origin\n");
    } finally {
      await ferry.stop();
    }
  });

  test(`UID matches the uid curl runs as (${curlUid})`, async () => {
    const allowed = await through([`UID,${curlUid},DIRECT`, "MATCH,REJECT"], (port) => curlAs(curlUid, ["--socks5", `127.0.0.1:${port}`, url()]));
    expect(allowed.stdout).toBe("hello from origin\n");
    const other = await through([`UID,${curlUid + 1},DIRECT`, "MATCH,REJECT"], (port) => curlAs(curlUid, ["--socks5", `127.0.0.1:${port}`, url()]));
    expect(other.code).not.toBe(0);
  });
});
