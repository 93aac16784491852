/**
 * `ferry upgrade` and `POST /upgrade` against a release directory served on 127.0.0.1, with
 * binaries built by scripts/build.ts around a key pair made here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { VERSION } from "../../src/cli/version.ts";
import { assertReplaceable, checkUpgrade, currentTarget, installUpgrade, type UpgradeOptions } from "../../src/lifecycle/upgrade.ts";
import { freePort, tempDir } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const NEW_VERSION = "v9.9.9";
const work = tempDir("ferry-upgrade-");
const keys = generateKeyPairSync("ed25519");
const publicKey = keys.publicKey.export({ format: "der", type: "spki" }).toString("base64");
const oldBinary = join(work.path, "build", "ferry-old");
const newBinary = join(work.path, "build", "ferry-new");

/** What the release server answers: path → bytes, or a function for streamed/broken bodies. */
const served = new Map<string, Uint8Array | (() => Response)>();
let server: ReturnType<typeof Bun.serve>;
let base: string;

function build(outfile: string, version?: string) {
  return Bun.spawn([process.execPath, resolve(root, "scripts/build.ts")], {
    cwd: root,
    env: { ...process.env, BUILD_OUTFILE: outfile, FERRY_RELEASE_PUBKEY: publicKey, ...(version ? { FERRY_BUILD_VERSION: version } : {}) },
    stdout: "ignore",
    stderr: "pipe",
  });
}

beforeAll(async () => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const body = served.get(new URL(req.url).pathname);
      if (body === undefined) return new Response("not found", { status: 404 });
      return typeof body === "function" ? body() : new Response(body);
    },
  });
  base = `http://127.0.0.1:${server.port}`;
  const builds = [build(oldBinary), build(newBinary, NEW_VERSION)];
  for (const b of builds) {
    if ((await b.exited) !== 0) throw new Error(`build failed: ${await new Response(b.stderr).text()}`);
  }
}, 180_000);

afterAll(() => {
  server.stop(true);
  work.remove();
});

/** Publish `file` as this machine's build in the stable channel, signed with `key`. */
function publish(file: Uint8Array, options: { version?: string; product?: string; key?: KeyObject; sha256?: string; size?: number } = {}) {
  const manifest = Buffer.from(
    JSON.stringify({
      product: options.product ?? "ferry",
      version: options.version ?? NEW_VERSION,
      channel: "stable",
      targets: {
        [currentTarget()]: {
          file: "ferry-bin",
          sha256: options.sha256 ?? createHash("sha256").update(file).digest("hex"),
          size: options.size ?? file.byteLength,
        },
      },
    }),
  );
  served.set("/stable/manifest.json", manifest);
  served.set("/stable/manifest.json.sig", Buffer.from(sign(null, manifest, options.key ?? keys.privateKey).toString("base64")));
  served.set("/stable/ferry-bin", file);
}

/** A stand-in for the installed executable, for the failure cases run in this process. */
function fakeInstall(dir: string): { options: UpgradeOptions; exe: string } {
  mkdirSync(dir, { recursive: true });
  const exe = join(dir, "ferry");
  writeFileSync(exe, "installed ferry");
  return { exe, options: { base, channel: "stable", publicKey, exePath: exe, currentVersion: "v0.1.0" } };
}

function expectUntouched(exe: string) {
  expect(readFileSync(exe, "utf8")).toBe("installed ferry");
  expect(existsSync(`${exe}.new`)).toBe(false);
  expect(existsSync(`${exe}.old`)).toBe(false);
}

async function run(args: string[]) {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, stdout, stderr };
}

describe("ferry upgrade (compiled binary)", () => {
  test("--check reports, then the binary is replaced, the old one kept as .old, and a second run is up to date", async () => {
    publish(readFileSync(newBinary));
    const exe = join(work.path, "cli", "ferry");
    mkdirSync(join(work.path, "cli"));
    copyFileSync(oldBinary, exe);
    let r = await run([exe, "upgrade", "--check", "--url", base]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ferry ${NEW_VERSION} is available`);
    expect((await run([exe, "-v"])).stdout).toStartWith(`ferry ${VERSION} `);
    r = await run([exe, "upgrade", "--url", base]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`to ${NEW_VERSION}`);
    expect((await run([exe, "-v"])).stdout).toStartWith(`ferry ${NEW_VERSION} `);
    expect((await run([`${exe}.old`, "-v"])).stdout).toStartWith(`ferry ${VERSION} `);
    expect(existsSync(`${exe}.new`)).toBe(false);
    r = await run([exe, "upgrade", "--url", base]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("is up to date");
  }, 60_000);

  test("a manifest signed with another key is refused by the binary, which stays as it was", async () => {
    publish(readFileSync(newBinary), { key: generateKeyPairSync("ed25519").privateKey });
    const exe = join(work.path, "cli-badsig", "ferry");
    mkdirSync(join(work.path, "cli-badsig"));
    copyFileSync(oldBinary, exe);
    const r = await run([exe, "upgrade", "--url", base]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("bad signature");
    expect((await run([exe, "-v"])).stdout).toStartWith(`ferry ${VERSION} `);
    expect(existsSync(`${exe}.old`)).toBe(false);
  }, 30_000);
});

describe("upgrade failures leave the installed binary untouched", () => {
  const payload = new Uint8Array(256 * 1024).fill(42);

  test("checksum mismatch", async () => {
    const { exe, options } = fakeInstall(join(work.path, "sum"));
    publish(payload, { sha256: "0".repeat(64) });
    await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow("does not match the manifest");
    expectUntouched(exe);
  });

  test("bad signature", async () => {
    const { exe, options } = fakeInstall(join(work.path, "sig"));
    publish(payload, { key: generateKeyPairSync("ed25519").privateKey });
    await expect(checkUpgrade(options)).rejects.toThrow("bad signature");
    expectUntouched(exe);
  });

  test("truncated download: a body cut off mid-stream, and a body shorter than the manifest says", async () => {
    const { exe, options } = fakeInstall(join(work.path, "trunc"));
    publish(payload);
    served.set("/stable/ferry-bin", () => {
      let sent = false;
      return new Response(
        new ReadableStream({
          pull(c) {
            // The server stops mid-body although the announced length is larger.
            if (sent) return c.close();
            sent = true;
            c.enqueue(payload.subarray(0, 1000));
          },
        }),
        { headers: { "content-length": String(payload.byteLength) } },
      );
    });
    await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow();
    expectUntouched(exe);
    publish(payload.subarray(0, 1000), { size: payload.byteLength, sha256: createHash("sha256").update(payload).digest("hex") });
    await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow("got 1000 bytes");
    expectUntouched(exe);
  });

  test("a larger body than the manifest's size is cut off", async () => {
    const { exe, options } = fakeInstall(join(work.path, "big"));
    publish(payload, { size: 1000 });
    await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow("larger than the manifest");
    expectUntouched(exe);
  });

  test("a manifest for another product (properly signed) is refused before any download", async () => {
    const { exe, options } = fakeInstall(join(work.path, "product"));
    publish(payload, { product: "mihomo" });
    await expect(checkUpgrade(options)).rejects.toThrow('product is "mihomo", not "ferry"');
    expectUntouched(exe);
  });

  test("same or older version is not installed unless forced", async () => {
    const { options } = fakeInstall(join(work.path, "same"));
    publish(payload, { version: "v0.1.0" });
    expect((await checkUpgrade(options)).install).toBe(false);
    publish(payload, { version: "v0.1.0-alpha.1" });
    expect((await checkUpgrade(options)).install).toBe(false);
    expect((await checkUpgrade({ ...options, force: true })).install).toBe(true);
  });

  test("disk full (a 1 MiB tmpfs when root can mount one, else a size-bounded write)", async () => {
    const dir = join(work.path, "full");
    mkdirSync(dir);
    const mounted = process.getuid?.() === 0 && Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stderr: "ignore" }).exitCode === 0;
    try {
      const { exe, options } = fakeInstall(dir);
      const big = new Uint8Array(4 * 1024 * 1024).fill(1);
      if (mounted) {
        publish(big);
        await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow(/ENOSPC|space/i);
      } else {
        publish(big, { size: 1024 * 1024 });
        await expect(installUpgrade(options, await checkUpgrade(options))).rejects.toThrow("larger than the manifest");
      }
      expectUntouched(exe);
    } finally {
      if (mounted) Bun.spawnSync(["umount", dir]);
    }
  });

  test("running from source is refused with a clear message", () => {
    expect(() => assertReplaceable()).toThrow("running from source");
  });
});

/** A CONNECT tunnel through ferry's mixed port to an echo server; `echo` round-trips a line. */
async function tunnel(proxyPort: number, echoPort: number) {
  let buffered = "";
  let wake: (() => void) | undefined;
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxyPort,
    socket: {
      data(_s, d) {
        buffered += d.toString();
        wake?.();
      },
      close() {
        closed = true;
        wake?.();
      },
    },
  });
  const until = async (text: string) => {
    const deadline = Date.now() + 5_000;
    while (!buffered.includes(text)) {
      if (closed || Date.now() > deadline) throw new Error(`tunnel: no "${text}" (got ${JSON.stringify(buffered)})`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    buffered = "";
  };
  socket.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\n`);
  await until("\r\n\r\n");
  return {
    async echo(line: string) {
      socket.write(line);
      await until(line);
    },
    isClosed: () => closed,
    close: () => socket.end(),
  };
}

describe("POST /upgrade on a running ferry", () => {
  test("replaces the binary while a proxied connection stays up, then re-execs into the new version", async () => {
    const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
    const dir = join(work.path, "running");
    mkdirSync(dir);
    const exe = join(dir, "ferry");
    copyFileSync(oldBinary, exe);
    const proxyPort = freePort();
    const ctlPort = freePort();
    writeFileSync(
      join(dir, "config.yaml"),
      [`mixed-port: ${proxyPort}`, `external-controller: 127.0.0.1:${ctlPort}`, `ferry-update-url: "${base}"`, "rules: ['MATCH,DIRECT']"].join("\n"),
    );
    // The binary is served in two halves; between them the test checks the old connection.
    const bytes = readFileSync(newBinary);
    publish(bytes);
    let downloading!: () => void;
    const started = new Promise<void>((r) => {
      downloading = r;
    });
    let finish!: () => void;
    const gate = new Promise<void>((r) => {
      finish = r;
    });
    served.set("/stable/ferry-bin", () => {
      let half = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (half === 0) {
              c.enqueue(bytes.subarray(0, bytes.byteLength >> 1));
              downloading();
            } else if (half === 1) {
              await gate;
              c.enqueue(bytes.subarray(bytes.byteLength >> 1));
            } else c.close();
            half++;
          },
        }),
      );
    });
    const proc = Bun.spawn([exe, "run", "-d", dir], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    let log = "";
    void (async () => {
      for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
    })();
    let newPid: number | undefined;
    const ctl = `http://127.0.0.1:${ctlPort}`;
    const version = async () => {
      try {
        return ((await (await fetch(`${ctl}/version`, { signal: AbortSignal.timeout(1_000) })).json()) as { version: string }).version;
      } catch {
        return undefined;
      }
    };
    const waitFor = async (what: string, cond: () => Promise<boolean> | boolean) => {
      const deadline = Date.now() + 20_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${log}`);
        await Bun.sleep(100);
      }
    };
    try {
      await waitFor("the controller", async () => (await version()) === VERSION);
      const conn = await tunnel(proxyPort, echo.port);
      await conn.echo("before\n");
      const answer = fetch(`${ctl}/upgrade`, { method: "POST" });
      await started;
      await conn.echo("during the download\n");
      finish();
      const res = await answer;
      expect(await res.json()).toEqual({ status: "ok" });
      expect(res.status).toBe(200);
      expect((await run([exe, "-v"])).stdout).toStartWith(`ferry ${NEW_VERSION} `);
      expect(existsSync(`${exe}.old`)).toBe(true);
      await waitFor("the re-exec", () => /new process (\d+) started/.test(log));
      newPid = Number(/new process (\d+) started/.exec(log)![1]);
      expect(await proc.exited).toBe(0);
      await waitFor("the new version on the controller", async () => (await version()) === NEW_VERSION);
      await waitFor("the old connection to close with the old process", () => conn.isClosed());
    } finally {
      proc.kill();
      if (newPid) process.kill(newPid, "SIGTERM");
      echo.stop(true);
    }
  }, 60_000);
});
