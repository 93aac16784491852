/**
 * DoH over HTTP/1.1 against Bun's HTTP server (an HTTP implementation that is not ours): the
 * request as mihomo makes it, keep-alive, the connection limit, chunked bodies, errors; over TLS
 * (Bun.serve offers no HTTP/2, so the ALPN probe settles on HTTP/1.1) and plain `http://`.
 * HTTP/2 DoH runs against unbound in test/interop/dns-upstreams.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { makeCerts } from "../../scripts/lib/certs.ts";
import { decodeMessage, encodeMessage } from "../../src/dns/message.ts";
import { tempDir } from "../helpers.ts";
import { answerWith, ask, query, resolverFor } from "./upstream-helpers.ts";

interface Seen {
  method: string;
  path: string;
  wireId: number;
  accept: string | null;
  userAgent: string | null;
  authorization: string | null;
  clientPort: number;
}

const dir = tempDir("ferry-doh-");
const certs = makeCerts(dir.path, "example.test");
const seen: Seen[] = [];

function handler(req: Request, server: { requestIP(r: Request): { port: number } | null }): Response {
  const url = new URL(req.url);
  const bytes = Buffer.from(url.searchParams.get("dns") ?? "", "base64url");
  const q = decodeMessage(bytes);
  seen.push({
    method: req.method,
    path: url.pathname,
    wireId: q.id ?? -1,
    accept: req.headers.get("accept"),
    userAgent: req.headers.get("user-agent"),
    authorization: req.headers.get("authorization"),
    clientPort: server.requestIP(req)?.port ?? 0,
  });
  if (url.pathname !== "/dns-query" && url.pathname !== "/chunked") return new Response("no", { status: 404 });
  const answer = answerWith(new Uint8Array(bytes), [{ type: "A", name: q.questions![0]!.name, ttl: 5, data: "192.0.2.80" }]);
  if (url.pathname === "/chunked") {
    // A direct stream flushed between two writes goes out with Transfer-Encoding: chunked, as two chunks.
    const body = new ReadableStream({
      type: "direct",
      async pull(c) {
        c.write(answer.subarray(0, 10));
        await c.flush();
        c.write(answer.subarray(10));
        c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "application/dns-message" } });
  }
  return new Response(answer, { headers: { "content-type": "application/dns-message" } });
}

const https = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Bun.file(certs.fullchain), key: Bun.file(certs.key) }, fetch: handler });
const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
afterAll(() => {
  https.stop(true);
  http.stop(true);
  dir.remove();
});

describe("DoH over HTTP/1.1 (Bun.serve)", () => {
  test("GET <path>?dns=<base64url> with id 0 and Accept: application/dns-message, no User-Agent; the caller's id comes back", async () => {
    seen.length = 0;
    const r = resolverFor(`https://127.0.0.1:${https.port}/dns-query#skip-cert-verify=true`);
    const a = await ask(r, "doh.test", "A", { id: 4242 });
    r.close?.();
    expect(a.reply.id).toBe(4242);
    expect(a.data).toEqual(["A 192.0.2.80"]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "GET", path: "/dns-query", wireId: 0, accept: "application/dns-message", userAgent: null, authorization: null });
  });

  test("keep-alive: sequential queries share one connection; concurrent ones use at most two", async () => {
    seen.length = 0;
    const r = resolverFor(`https://127.0.0.1:${https.port}/dns-query#skip-cert-verify=true`);
    for (let i = 0; i < 5; i++) expect((await ask(r, `k${i}.test`, "A")).data).toEqual(["A 192.0.2.80"]);
    expect(new Set(seen.map((s) => s.clientPort)).size).toBe(1);
    seen.length = 0;
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(r, `c${i}.test`, "A")));
    r.close?.();
    expect(all.every((a) => a.data[0] === "A 192.0.2.80")).toBe(true);
    expect(new Set(seen.map((s) => s.clientPort)).size).toBeLessThanOrEqual(2);
  });

  test("userinfo in the URL becomes Basic authorization; a chunked body is read whole", async () => {
    seen.length = 0;
    const r = resolverFor(`https://us%3Aer:p%40ss@127.0.0.1:${https.port}/chunked#skip-cert-verify=true`);
    expect((await ask(r, "auth.test", "A")).data).toEqual(["A 192.0.2.80"]);
    r.close?.();
    expect(seen[0]?.authorization).toBe(`Basic ${Buffer.from("us:er:p@ss").toString("base64")}`);
  });

  test("a status other than 200 fails the query, naming the server and the status", async () => {
    const r = resolverFor(`https://127.0.0.1:${https.port}/other#skip-cert-verify=true`);
    await expect(r.exchange(query("x.test", "A"))).rejects.toThrow(`https://127.0.0.1:${https.port}/other: the server answered HTTP 404`);
    r.close?.();
  });

  test("without skip-cert-verify an untrusted certificate fails the query with the TLS reason", async () => {
    const r = resolverFor(`https://127.0.0.1:${https.port}/dns-query`);
    await expect(r.exchange(query("x.test", "A"))).rejects.toThrow(new RegExp(`https://127.0.0.1:${https.port}/dns-query: TLS 127.0.0.1: .*cert`, "i"));
    r.close?.();
  });

  test("http:// is the same without TLS", async () => {
    seen.length = 0;
    const r = resolverFor(`http://127.0.0.1:${http.port}/dns-query`);
    const answers = await Promise.all([ask(r, "p1.test", "A"), ask(r, "p2.test", "AAAA")]);
    r.close?.();
    expect(answers[0]!.data).toEqual(["A 192.0.2.80"]);
    expect(decodeMessage(encodeMessage(answers[1]!.reply)).questions?.[0]?.type).toBe("AAAA");
    expect(seen.map((s) => s.path)).toEqual(["/dns-query", "/dns-query"]);
  });
});
