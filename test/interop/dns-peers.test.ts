/**
 * The DNS peers themselves, asked by dig (BIND's client, not ours): dnsmasq over UDP and TCP,
 * unbound over TLS and HTTPS, both serving LAB_RECORDS and nothing else, and gone when stopped.
 * What ferry's upstreams get from them is in dns-upstreams.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { tree } from "../../scripts/lib/proc.ts";
import { BIG_A } from "../../scripts/peers/dns.ts";
import { peersReady, requirePeer } from "./harness.ts";

/** dig's output, bounded in time. */
async function dig(args: string[]): Promise<string> {
  const sub = Bun.spawn(["dig", "+time=2", "+tries=1", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([sub.stdout.text(), sub.exited]);
  if (code !== 0) throw new Error(`dig ${args.join(" ")}: exit ${code}: ${out}`);
  return out;
}
const short = async (args: string[]) => (await dig(["+short", ...args])).trim().split("\n").filter(Boolean);
const status = async (args: string[]) => /status: (\w+)/.exec(await dig(args))?.[1];

const ready = await peersReady("dnsmasq", "unbound", "dig");

describe.skipIf(!ready)("DNS peers, asked by dig", () => {
  test("dnsmasq: the zone over UDP and TCP, a chain, NXDOMAIN for the rest, TC without EDNS; stops cleanly", async () => {
    const p = await requirePeer("dnsmasq");
    const at = ["-p", String(p.port), "@127.0.0.1"];
    expect(await short([...at, "example.test", "A"])).toEqual(["127.0.0.1"]);
    expect(await short([...at, "+tcp", "example.test", "AAAA"])).toEqual(["::1"]);
    expect(await short([...at, "alias.lab.test", "A"])).toEqual(["alias2.lab.test.", "example.test.", "127.0.0.1"]);
    expect(await status([...at, "google.com", "A"])).toBe("NXDOMAIN");
    const truncated = await dig([...at, "+noedns", "+ignore", "big.lab.test", "A"]);
    expect(/flags: ([a-z ]+);/.exec(truncated)?.[1]?.split(" ")).toContain("tc");
    expect((await short([...at, "+tcp", "big.lab.test", "A"])).sort()).toEqual([...BIG_A].sort());
    await p.stop();
    expect(tree(p.pid)).toEqual([]);
  });

  test("unbound: the zone over TLS and HTTPS (/dns-query), NXDOMAIN for the rest (no recursion); stops cleanly", async () => {
    const p = await requirePeer("unbound");
    expect(await short(["+tls", "-p", String(p.info.tlsPort), "@127.0.0.1", "example.test", "A"])).toEqual(["127.0.0.1"]);
    expect(await short(["+https=/dns-query", "-p", String(p.info.httpsPort), "@127.0.0.1", "lab.test", "MX"])).toEqual(["10 mail.lab.test."]);
    expect(await status(["+tls", "-p", String(p.info.tlsPort), "@127.0.0.1", "google.com", "A"])).toBe("NXDOMAIN");
    await p.stop();
    expect(tree(p.pid)).toEqual([]);
  });
});
