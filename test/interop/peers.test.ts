/**
 * The peer harness itself: every peer starts, serves the expected bytes directly and as a proxy,
 * and leaves nothing behind when stopped. The ferry interop tests build on these guarantees.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { tree } from "../../scripts/lib/proc.ts";
import { MiB, PAYLOAD_SHA256, payloadBytes, startPeer } from "../../scripts/peers.ts";
import { peersReady, requirePeer } from "./harness.ts";

async function curl(args: string[]): Promise<{ code: number; body: Buffer; stderr: string }> {
  const sub = Bun.spawn(["curl", "-sS", "-f", "--max-time", "10", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [body, stderr, code] = await Promise.all([new Response(sub.stdout).arrayBuffer(), sub.stderr.text(), sub.exited]);
  return { code, body: Buffer.from(body), stderr };
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const ready = await peersReady("origin", "echo", "echo-udp", "microsocks", "dante", "tinyproxy", "curl");

describe.skipIf(!ready)("peer harness", () => {
  test("payload bytes match the published checksums", () => {
    expect(sha256(payloadBytes(MiB))).toBe(PAYLOAD_SHA256[MiB]!);
  });

  test("origin serves payload files, /echo and stops cleanly", async () => {
    const origin = await requirePeer("origin", { big: "64k" });
    const one = await curl([`${origin.info.url}1m.bin`]);
    expect(one.stderr).toBe("");
    expect(sha256(one.body)).toBe(PAYLOAD_SHA256[MiB]!);
    const big = await curl([origin.info.bigUrl!]);
    expect(big.body.equals(payloadBytes(64 * 1024))).toBe(true);
    const echo = await curl(["-H", "Host: example.test", `http://127.0.0.2:${origin.port}/echo`]);
    expect(echo.body.toString()).toContain("host=example.test\nserver_addr=127.0.0.2\n");
    expect(tree(origin.pid).length).toBeGreaterThanOrEqual(2); // master + worker
    await origin.stop();
    expect(tree(origin.pid)).toEqual([]);
    expect(existsSync(origin.dir)).toBe(false);
    expect((await curl([`${origin.info.url}hello.txt`])).code).not.toBe(0);
  });

  test("socks5 and http proxies relay to the origin", async () => {
    const origin = await requirePeer("origin", { big: 0 });
    const [micro, dante, tiny] = await Promise.all([requirePeer("microsocks"), requirePeer("dante"), requirePeer("tinyproxy")]);
    const url = `${origin.info.url}1m.bin`;
    for (const args of [
      ["--socks5-hostname", micro.info.socks],
      ["--socks5", dante.info.socks],
      ["--socks5-hostname", dante.info.socks],
      ["-x", tiny.info.httpProxy],
      ["-x", tiny.info.httpProxy, "--proxytunnel"],
    ]) {
      const r = await curl([...args, url]);
      expect({ args, stderr: r.stderr, sha: sha256(r.body) }).toEqual({ args, stderr: "", sha: PAYLOAD_SHA256[MiB]! });
    }
    await Promise.all([micro.stop(), dante.stop(), tiny.stop(), origin.stop()]);
  });

  test("microsocks with auth refuses a wrong password", async () => {
    const origin = await requirePeer("origin", { big: 0 });
    const micro = await requirePeer("microsocks", { user: "alice", pass: "s3cret" });
    const ok = await curl(["--socks5-hostname", `alice:s3cret@${micro.info.socks}`, `${origin.info.url}hello.txt`]);
    expect(ok.body.toString()).toBe("hello from the ferry peer origin\n");
    const bad = await curl(["--socks5-hostname", `alice:wrong@${micro.info.socks}`, `${origin.info.url}hello.txt`]);
    expect(bad.code).not.toBe(0);
  });

  test("tcp echo", async () => {
    const echo = await requirePeer("echo");
    const got = await new Promise<string>((resolve, reject) => {
      let acc = "";
      Bun.connect({
        hostname: echo.host,
        port: echo.port,
        socket: {
          open: (s) => void s.write("ping\n"),
          data: (s, d) => {
            acc += d.toString();
            if (acc.endsWith("\n")) {
              s.end();
              resolve(acc);
            }
          },
          error: (_s, e) => reject(e),
        },
      }).catch(reject);
    });
    expect(got).toBe("ping\n");
  });

  test("udp echo", async () => {
    const echo = await requirePeer("echo-udp");
    const { promise, resolve } = Promise.withResolvers<string>();
    const sock = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (_s, buf) => resolve(buf.toString()) } });
    sock.send("ping", echo.port, echo.host);
    expect(await promise).toBe("ping");
    sock.close();
  });

  test("unknown parameters are refused", async () => {
    expect(startPeer("echo", { prot: 1 } as never)).rejects.toThrow(/unknown parameter 'prot'/);
  });
});
