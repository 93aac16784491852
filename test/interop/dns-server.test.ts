/**
 * ferry's DNS end to end: `dig` (BIND's client) asks ferry's own DNS listener, which asks dnsmasq
 * (udp/tcp) and unbound (DoT) from scripts/peers/dns.ts; then curl connects through ferry to the
 * addresses ferry handed out, proving the tunnel gets the names back (fake-ip, redir-host).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";
import { buildQuery, decodeMessage, encodeMessage } from "../../src/dns/message.ts";
import { startFerry } from "../controller/helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";

const ready = await peersReady("dnsmasq", "unbound");

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Run dig against ferry's listener; bounded in time and tries, never the system resolver. */
async function dig(port: number, name: string, type = "A", ...extra: string[]): Promise<{ answers: string[]; status: string; raw: string }> {
  const proc = Bun.spawn(["dig", "@127.0.0.1", "-p", String(port), name, type, "+time=3", "+tries=1", "+nocookie", ...extra], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const raw = await new Response(proc.stdout).text();
  await proc.exited;
  const status = /status: (\w+)/.exec(raw)?.[1] ?? "";
  const section = raw.split(";; ANSWER SECTION:\n")[1]?.split("\n\n")[0] ?? "";
  const answers = section
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const f = l.split(/\s+/);
      return `${f[3]} ${f.slice(4).join(" ")}`;
    });
  return { answers, status, raw };
}

async function ferryWithDns(dns: string, extra = "") {
  const origin = startOrigin();
  const mixed = freePort();
  const f = await startRuntime(`mixed-port: ${mixed}
log-level: silent
${extra}
dns:
  enable: true
  listen: 127.0.0.1:0
${dns}
rules:
  - DOMAIN,example.test,DIRECT
  - DOMAIN-SUFFIX,lab.test,DIRECT
  - MATCH,REJECT
`);
  cleanups.push(() => f.stop(), () => origin.stop());
  const dnsPort = f.engine.dns?.serverPort;
  if (!dnsPort) throw new Error("ferry's DNS listener did not bind");
  return { f, dnsPort, mixed, origin };
}

describe.skipIf(!ready)("ferry's DNS listener with dig, upstreams dnsmasq and unbound", async () => {
  const dnsmasq = ready ? await requirePeer("dnsmasq") : undefined;
  const unbound = ready ? await requirePeer("unbound") : undefined;
  const udp = `udp://${dnsmasq?.info.addr}`;

  test("fake-ip: names get pool addresses (TTL 1), filtered names real ones; curl to the fake IP reaches the name", async () => {
    const { dnsPort, mixed, origin } = await ferryWithDns(`  enhanced-mode: fake-ip
  fake-ip-filter: ["+.lab.test"]
  default-nameserver: [${udp}]
  nameserver: [${udp}]`);
    const fake = await dig(dnsPort, "example.test");
    expect(fake.status).toBe("NOERROR");
    expect(fake.answers).toEqual(["A 198.18.0.4"]);
    expect(fake.raw).toMatch(/example\.test\.\s+1\s+IN\s+A/);
    expect((await dig(dnsPort, "example.test", "AAAA")).answers).toEqual([]);
    expect((await dig(dnsPort, "a.lab.test")).answers).toEqual(["A 127.0.0.2"]);
    expect((await dig(dnsPort, "nope.lab.test")).status).toBe("NXDOMAIN");
    // Over TCP too, and through the CNAME chain of a filtered name.
    expect((await dig(dnsPort, "alias.lab.test", "A", "+tcp")).answers).toContain("A 127.0.0.1");
    // The tunnel restores example.test from 198.18.0.4: DOMAIN matches, DIRECT resolves it for real.
    const r = await curl(["--socks5", `127.0.0.1:${mixed}`, `http://198.18.0.4:${origin.port}/hello`]);
    expect(r.stdout).toBe("hello from origin\n");
    // An address of the pool nobody was given is refused.
    const unmapped = await curl(["--socks5", `127.0.0.1:${mixed}`, `http://198.18.3.3:${origin.port}/hello`]);
    expect(unmapped.code).not.toBe(0);
  });

  test("redir-host: real answers, and a connection to such an address is routed by its name", async () => {
    const { dnsPort, mixed, origin } = await ferryWithDns(`  enhanced-mode: redir-host
  default-nameserver: [${udp}]
  nameserver: [${udp}]`);
    expect((await dig(dnsPort, "mail.lab.test")).answers).toEqual(["A 127.0.0.5"]);
    // 127.0.0.1 alone matches no rule (MATCH → REJECT) until ferry has answered example.test with it.
    const before = await curl(["--socks5", `127.0.0.1:${mixed}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(before.code).not.toBe(0);
    expect((await dig(dnsPort, "example.test")).answers).toEqual(["A 127.0.0.1"]);
    const after = await curl(["--socks5", `127.0.0.1:${mixed}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(after.stdout).toBe("hello from origin\n");
  });

  test("nameserver-policy routes names; rcode:// answers synthetically; a dead main server does not stall them", async () => {
    const dead = Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const deadSocket = await dead;
    cleanups.push(() => deadSocket.close());
    const { dnsPort } = await ferryWithDns(`  enhanced-mode: normal
  default-nameserver: [${udp}]
  nameserver: [udp://127.0.0.1:${deadSocket.port}]
  nameserver-policy:
    "+.lab.test": tls://127.0.0.1:${unbound?.info.tlsPort}#skip-cert-verify=true
    "blocked.test,*.ads.test": rcode://name_error
    "example.test": [tcp://${dnsmasq?.info.addr}]`);
    const started = Date.now();
    const [lab, blocked, ads, example] = await Promise.all([
      dig(dnsPort, "a.lab.test"),
      dig(dnsPort, "blocked.test"),
      dig(dnsPort, "x.ads.test"),
      dig(dnsPort, "example.test"),
    ]);
    expect(lab.answers).toEqual(["A 127.0.0.2"]);
    expect(blocked.status).toBe("NXDOMAIN");
    expect(ads.status).toBe("NXDOMAIN");
    expect(example.answers).toEqual(["A 127.0.0.1"]);
    expect(Date.now() - started).toBeLessThan(2_500);
    // A name only the dead main server would answer fails (SERVFAIL) rather than hanging forever.
    expect((await dig(dnsPort, "other.test", "A", "+time=8")).status).toBe("SERVFAIL");
  }, 15_000);

  test("fallback is asked when the main answer fails fallback-filter.ipcidr", async () => {
    const { dnsPort } = await ferryWithDns(`  enhanced-mode: normal
  default-nameserver: [${udp}]
  nameserver: [${udp}]
  fallback: [tls://127.0.0.1:${unbound?.info.tlsPort}#skip-cert-verify=true]
  fallback-filter:
    geoip: false
    ipcidr: [127.0.0.3/32]
    domain: ["+.mail.lab.test"]`);
    // multi.lab.test's main answer holds 127.0.0.3: fails the filter, so fallback's answer is used.
    expect((await dig(dnsPort, "multi.lab.test")).answers.sort()).toEqual(["A 127.0.0.3", "A 127.0.0.4"]);
    expect((await dig(dnsPort, "a.lab.test")).answers).toEqual(["A 127.0.0.2"]);
    const stats = await Promise.all([dig(dnsPort, "mail.lab.test"), dig(dnsPort, "example.test")]);
    expect(stats.map((s) => s.answers)).toEqual([["A 127.0.0.5"], ["A 127.0.0.1"]]);
  });

  test("hosts answers with TTL 10; AAAA stays empty while dns.ipv6 is false; a truncated answer over UDP sends dig to TCP", async () => {
    const { dnsPort } = await ferryWithDns(
      `  enhanced-mode: normal
  default-nameserver: [${udp}]
  nameserver: [${udp}]`,
      `hosts:\n  "router.test": 127.0.0.9\n  "web.test": example.test\n`,
    );
    const h = await dig(dnsPort, "router.test");
    expect(h.answers).toEqual(["A 127.0.0.9"]);
    expect(h.raw).toMatch(/router\.test\.\s+10\s+IN\s+A/);
    // An alias: a CNAME to the target, then the target's answer from upstream.
    expect((await dig(dnsPort, "web.test")).answers).toEqual(["CNAME example.test.", "A 127.0.0.1"]);
    expect((await dig(dnsPort, "example.test", "AAAA")).answers).toEqual([]);
    // 40 A records do not fit 512 bytes: ferry sets TC without EDNS and dig retries over TCP.
    const big = await dig(dnsPort, "big.lab.test", "A", "+noedns");
    expect(big.answers.length).toBe(40);
    expect(big.raw).toContain("Truncated, retrying in TCP mode");
  });

  test("controller: /dns/query asks the main resolver (real answers in fake-ip mode); the flushes clear pool and cache", async () => {
    const ferry = await startFerry(`log-level: silent
external-doh-server: /dns-query
dns:
  enable: true
  listen: 127.0.0.1:0
  enhanced-mode: fake-ip
  default-nameserver: [${udp}]
  nameserver: [${udp}]
`);
    cleanups.push(() => ferry.stop());
    const dnsPort = ferry.runtime.engine!.dns!.serverPort!;
    expect((await dig(dnsPort, "example.test")).answers).toEqual(["A 198.18.0.4"]);
    const res = await ferry.api("/dns/query?name=example.test&type=A");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { Status: number; Answer: { data: string; name: string; type: number; TTL: number }[]; Question: unknown[] };
    expect(body.Status).toBe(0);
    expect(body.Question).toEqual([{ Name: "example.test.", Qtype: 1, Qclass: 1 }]);
    expect(body.Answer.map((a) => [a.name, a.type, a.data])).toEqual([["example.test.", 1, "127.0.0.1"]]);
    const mx = (await (await ferry.api("/dns/query?name=lab.test&type=MX")).json()) as { Answer: { data: string }[] };
    expect(mx.Answer[0]!.data).toBe("10 mail.lab.test.");
    const nx = (await (await ferry.api("/dns/query?name=nope.test")).json()) as { Status: number; Answer?: unknown };
    expect(nx.Status).toBe(3);
    expect(nx.Answer).toBeUndefined();
    // DoH on the controller answers like the listener: hosts, fake-ip, cache.
    const wire = encodeMessage(buildQuery("doh.test", "A", { id: 9, ednsSize: 0 }));
    const doh = await fetch(`${ferry.base}/dns-query?dns=${Buffer.from(wire).toString("base64url")}`);
    expect(doh.status).toBe(200);
    expect(doh.headers.get("content-type")).toBe("application/dns-message");
    const dohAnswer = decodeMessage(new Uint8Array(await doh.arrayBuffer()));
    expect(dohAnswer.id).toBe(9);
    expect(dohAnswer.answers?.map((a) => (a as { data: string }).data)).toEqual(["198.18.0.5"]);
    expect((await ferry.api("/cache/fakeip/flush", { method: "POST" })).status).toBe(204);
    expect((await ferry.api("/cache/dns/flush", { method: "POST" })).status).toBe(204);
    // After the flush the pool starts over: a new name takes the first address.
    expect((await dig(dnsPort, "a.test.invalid")).answers).toEqual(["A 198.18.0.4"]);
  });
});

