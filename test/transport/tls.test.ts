/**
 * The tls transport against nginx over HTTPS (the origin peer with tls=1: an independent TLS
 * server with a throwaway CA), on both paths: native (TLS upgraded on the Bun socket) and node
 * (node:tls over a stream the transport cannot see through).
 */
import { describe, expect, test } from "bun:test";
import type { TlsDuplex } from "../../plugins/transport/tls/index.ts";
import { opaque } from "../../scripts/lib/opaque.ts";
import { MiB, payloadBytes } from "../../scripts/peers.ts";
import { connectTcp } from "../../src/core/socket-stream.ts";
import type { Duplex, TlsTransportOptions } from "../../src/sdk/index.ts";
import { peersReady, requirePeer } from "../interop/harness.ts";
import { httpRequest, sha256, transport } from "./helpers.ts";

const ready = await peersReady("origin");

describe.skipIf(!ready)("tls transport against nginx (HTTPS origin)", async () => {
  const origin = ready ? await requirePeer("origin", { tls: 1, big: "64M" }) : undefined;
  const info = origin?.info;
  const ca = info?.ca ? await Bun.file(info.ca).text() : "";
  const big = sha256(payloadBytes(64 * MiB));

  async function dialTls(o: Omit<TlsTransportOptions, "serverName"> & { serverName?: string }, path: "native" | "node"): Promise<TlsDuplex> {
    const raw = await connectTcp(origin!.host, info!.tlsPort!);
    const t = await transport("tls", { serverName: info!.sni, ...o });
    return (await t.wrap(path === "native" ? raw : opaque(raw))) as TlsDuplex;
  }
  const hello = (s: Duplex) => httpRequest(s, { path: "/hello.txt", host: info!.sni! });

  for (const path of ["native", "node"] as const) {
    describe(path, () => {
      test("SNI example.test, verified against the CA; ALPN negotiated", async () => {
        const s = await dialTls({ ca: [ca], alpn: ["http/1.1"] }, path);
        expect(s.alpn).toBe("http/1.1");
        const r = await hello(s);
        expect(r.status).toBe(200);
        expect(r.text).toBe("hello from the ferry peer origin\n");
      });

      test("a wrong SNI fails verification, naming the name", async () => {
        await expect(dialTls({ serverName: "wrong.invalid", ca: [ca] }, path)).rejects.toThrow(/TLS wrong\.invalid: .*does not match/);
      });

      test("without the CA the chain is refused", async () => {
        await expect(dialTls({}, path)).rejects.toThrow(/TLS example\.test: .*cert/i);
      });

      test("skip-cert-verify accepts the untrusted certificate", async () => {
        const r = await hello(await dialTls({ skipCertVerify: true }, path));
        expect(r.status).toBe(200);
      });

      test("a fingerprint pin replaces chain verification; a wrong pin names both fingerprints", async () => {
        const pin = info!.certSha256!.replace(/(..)(?!$)/g, "$1:").toUpperCase();
        const r = await hello(await dialTls({ serverName: "wrong.invalid", fingerprint: pin }, path));
        expect(r.status).toBe(200);
        const wrong = "ab".repeat(32);
        await expect(dialTls({ fingerprint: wrong }, path)).rejects.toThrow(`expected ${wrong}, got ${info!.certSha256}`);
      });

      test("64 MiB download and upload, byte-exact", async () => {
        const down = await httpRequest(await dialTls({ ca: [ca] }, path), { path: "/big.bin", host: info!.sni! });
        expect(down.status).toBe(200);
        expect(down.bodyLength).toBe(64 * MiB);
        expect(down.sha256).toBe(big);
        const up = await httpRequest(await dialTls({ ca: [ca] }, path), {
          method: "POST",
          path: "/sink",
          host: info!.sni!,
          upload: payloadBytes(64 * MiB),
        });
        expect(up.status).toBe(200);
        expect(up.text).toBe("ok\n");
      }, 60_000);
    });
  }

  test("an abort signal ends a handshake that hangs", async () => {
    // A listener that accepts and never answers: the ClientHello goes unanswered.
    const mute = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const raw = await connectTcp("127.0.0.1", mute.port);
      const t = await transport("tls", { serverName: "example.test" });
      const ac = new AbortController();
      const p = t.wrap(raw, { signal: ac.signal });
      ac.abort(new Error("dial timeout"));
      await expect(p).rejects.toThrow("dial timeout");
    } finally {
      mute.stop(true);
    }
  });
});
