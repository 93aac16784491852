/**
 * Where ferry's DNS queries go and what survives a reload or restart, with dnsmasq as the upstream:
 * `#PROXY` and `#RULES` fragments, `respect-rules`, `direct-nameserver`, and the fake-IP pool kept
 * across a reload and (with `store-fake-ip`) across a restart.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Runtime } from "../../src/core/runtime.ts";
import { buildQuery, decodeMessage, encodeMessage } from "../../src/dns/message.ts";
import { setLogLevel } from "../../src/log.ts";
import { curl, freePort, startOrigin, startRuntime, tempDir } from "../helpers.ts";
import { peersReady, requirePeer } from "./harness.ts";

const ready = await peersReady("dnsmasq");
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** One A query to ferry's listener over UDP, answered or rejected within 6 s. */
async function askA(port: number, name: string): Promise<{ rcode: number; ips: string[] }> {
  let answered: (data: Uint8Array) => void = () => {};
  const reply = new Promise<Uint8Array>((resolve) => {
    answered = resolve;
  });
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    binaryType: "uint8array",
    socket: { data: (_s, data) => answered(data) },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    socket.send(encodeMessage(buildQuery(name, "A", { id: 4242, ednsSize: 0 })), port, "127.0.0.1");
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 6_000);
    });
    const m = decodeMessage(await Promise.race([reply, timeout]));
    return { rcode: (m.flags ?? 0) & 0xf, ips: (m.answers ?? []).filter((a) => a.type === "A").map((a) => (a as { data: string }).data) };
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

describe.skipIf(!ready)("DNS query routing and DNS state across reloads", async () => {
  const dnsmasq = ready ? await requirePeer("dnsmasq") : undefined;
  const upstream = dnsmasq?.info.addr ?? "";
  const upstreamPort = upstream.split(":")[1];

  async function ferry(dns: string, rest = "") {
    const f = await startRuntime(`log-level: silent
${rest}
dns:
  enable: true
  listen: 127.0.0.1:0
  default-nameserver: [${upstream}]
${dns}`);
    cleanups.push(() => f.stop());
    const port = f.engine.dns?.serverPort;
    if (!port) throw new Error("ferry's DNS listener did not bind");
    return { f, port };
  }

  test("#PROXY sends the query through that outbound: #DIRECT answers, #REJECT fails", async () => {
    const { port } = await ferry(`  enhanced-mode: normal
  nameserver: ["tcp://${upstream}#DIRECT"]
  nameserver-policy:
    "+.lab.test": "tcp://${upstream}#REJECT"`);
    expect(await askA(port, "example.test")).toEqual({ rcode: 0, ips: ["127.0.0.1"] });
    expect((await askA(port, "a.lab.test")).rcode).toBe(2);
  });

  test("respect-rules routes the nameserver connections by rules; proxy-server-nameserver is separate", async () => {
    const { port } = await ferry(
      `  enhanced-mode: normal
  respect-rules: true
  nameserver: ["tcp://${upstream}"]
  proxy-server-nameserver: ["tcp://${upstream}"]`,
      `rules:\n  - DST-PORT,${upstreamPort},REJECT\n  - MATCH,DIRECT\n`,
    );
    expect((await askA(port, "example.test")).rcode).toBe(2);
    const open = await ferry(
      `  enhanced-mode: normal
  respect-rules: true
  nameserver: ["tcp://${upstream}"]
  proxy-server-nameserver: ["tcp://${upstream}"]`,
      "rules:\n  - MATCH,DIRECT\n",
    );
    expect(await askA(open.port, "example.test")).toEqual({ rcode: 0, ips: ["127.0.0.1"] });
  });

  test("direct-nameserver resolves DIRECT dials; the main resolver is not asked for them", async () => {
    const origin = startOrigin();
    cleanups.push(() => origin.stop());
    const mixed = freePort();
    await ferry(
      `  enhanced-mode: normal
  nameserver: [rcode://refused]
  direct-nameserver: [${upstream}]`,
      `mixed-port: ${mixed}\nrules:\n  - MATCH,DIRECT\n`,
    );
    // socks5h: ferry resolves example.test for the DIRECT dial, through direct-nameserver only.
    const r = await curl(["--socks5-hostname", `127.0.0.1:${mixed}`, `http://example.test:${origin.port}/hello`]);
    expect(r.stdout).toBe("hello from origin\n");
  });

  test("a reload keeps the DNS socket and the fake-IP pool; store-fake-ip keeps it across a restart", async () => {
    const origin = startOrigin();
    cleanups.push(() => origin.stop());
    const home = tempDir();
    cleanups.push(() => home.remove());
    const mixed = freePort();
    const dnsPort = freePort();
    const config = (extra: string) => `mixed-port: ${mixed}
log-level: silent
profile:
  store-fake-ip: true
dns:
  enable: true
  listen: 127.0.0.1:${dnsPort}
  enhanced-mode: fake-ip
  default-nameserver: [${upstream}]
  nameserver: [${upstream}]
rules:
  - DOMAIN,example.test,DIRECT
${extra}  - MATCH,REJECT
`;
    setLogLevel("silent");
    const first = await Runtime.create({ homeDir: home.path, configText: config("") });
    await first.start();
    setLogLevel("silent");
    expect((await askA(dnsPort, "example.test")).ips).toEqual(["198.18.0.4"]);
    expect((await askA(dnsPort, "mail.lab.test")).ips).toEqual(["198.18.0.5"]);
    expect(await first.reload(config("  - DOMAIN,mail.lab.test,REJECT\n"))).toBe(true);
    // Same socket, same pool: the names keep their addresses and a new one takes the next.
    expect((await askA(dnsPort, "example.test")).ips).toEqual(["198.18.0.4"]);
    expect((await askA(dnsPort, "a.lab.test")).ips).toEqual(["198.18.0.6"]);
    await first.shutdown(0);

    const second = await Runtime.create({ homeDir: home.path, configText: config("") });
    await second.start();
    setLogLevel("silent");
    cleanups.push(() => second.shutdown(0));
    // No DNS query this time: the mapping came back from HOME/cache.db.
    const r = await curl(["--socks5", `127.0.0.1:${mixed}`, `http://198.18.0.4:${origin.port}/hello`]);
    expect(r.stdout).toBe("hello from origin\n");
    expect((await askA(dnsPort, "a.lab.test")).ips).toEqual(["198.18.0.6"]);
  });
});
