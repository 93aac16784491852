import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildConfig } from "../../src/config/build.ts";
import { RuntimeHost, startController } from "../../src/controller/index.ts";
import { controllerSettings } from "../../src/controller/settings.ts";
import type { RouteResult } from "../../src/core/router.ts";
import { createRegistry } from "../../src/core/runtime.ts";
import { createMetadata } from "../../src/sdk/index.ts";
import { curl, freePort, startOrigin, tempDir } from "../helpers.ts";
import { captureLogs, startIn } from "./helpers.ts";
import { encodeMrsDomains } from "./mrs-encoder.ts";

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A home dir with `files` written into it (paths relative to it). */
function homeWith(files: Record<string, string | Uint8Array>): string {
  const home = tempDir();
  cleanup.push(home.remove);
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(home.path, name, ".."), { recursive: true });
    writeFileSync(join(home.path, name), data);
  }
  return home.path;
}

/** ferry on `home` with a mixed port and its controller. */
async function start(home: string, config: string) {
  const mixed = freePort();
  const f = await startIn(home, `mixed-port: ${mixed}\nlog-level: silent\n${config}`);
  const settings = controllerSettings(f.engine.config.raw, home, { externalController: "127.0.0.1:0" });
  const controller = await startController(new RuntimeHost(f.runtime), settings, "v0.0.0-test");
  const stop = async () => {
    await controller.stop();
    await f.stop();
  };
  cleanup.push(stop);
  const base = `http://${controller.addresses[0]}`;
  return { engine: f.engine, mixed, api: (path: string, init?: RequestInit) => fetch(base + path, init) };
}

/** A rule-set server: each path answers the body the test sets. */
function ruleServer(bodies: Record<string, string | Uint8Array>) {
  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const body = bodies[path];
      return body === undefined ? new Response("no", { status: 404 }) : new Response(body);
    },
  });
  cleanup.push(() => server.stop(true));
  return { bodies, requests, url: (path: string) => `http://127.0.0.1:${server.port}${path}` };
}

describe("rule-providers end to end", () => {
  test("file and inline sets in each format and behaviour pick REJECT or DIRECT for curl; /providers/rules lists them", async () => {
    const origin = startOrigin();
    cleanup.push(origin.stop);
    // A second origin on another loopback address, for the ipcidr set.
    const other = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => new Response("other origin\n") });
    cleanup.push(() => other.stop(true));
    const home = homeWith({
      "rules/ads.yaml": "payload:\n  # trackers\n  - '+.ads.test'\n  - tracker.test\n  - bad..entry\n",
      "rules/ips.txt": "# blocked addresses\n127.0.0.2/32\n127.0.0.3\n",
      "rules/more.mrs": encodeMrsDomains(["+.mrs.test"]),
    });
    const names = ["a.ads.test", "tracker.test", "ok.test", "x.mrs.test", "logic.test", "exact.test"];
    const ferry = await start(
      home,
      [
        "hosts:",
        ...names.map((n) => `  '${n}': 127.0.0.1`),
        "rule-providers:",
        "  ads: {type: file, behavior: domain, path: rules/ads.yaml}",
        "  ips: {type: file, behavior: ipcidr, format: text, path: rules/ips.txt}",
        "  more: {type: file, behavior: domain, format: mrs, path: rules/more.mrs}",
        "  lan: {type: inline, behavior: classical, payload: ['AND,((DOMAIN-SUFFIX,logic.test),(NETWORK,tcp))', 'DOMAIN,exact.test']}",
        "rules:",
        "  - RULE-SET,ads,REJECT",
        "  - RULE-SET,ips,REJECT",
        "  - RULE-SET,more,REJECT",
        "  - RULE-SET,lan,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    const get = (url: string) => curl(["--socks5-hostname", `127.0.0.1:${ferry.mixed}`, url]);
    expect((await get(`http://ok.test:${origin.port}/hello`)).stdout).toBe("hello from origin\n");
    for (const host of ["a.ads.test", "tracker.test", "x.mrs.test", "logic.test", "exact.test"]) {
      const r = await get(`http://${host}:${origin.port}/hello`);
      expect([host, r.stdout]).toEqual([host, ""]);
      expect(r.code).not.toBe(0);
    }
    expect((await get(`http://127.0.0.2:${other.port}/`)).stdout).toBe("");
    // Without the set, that address is reachable: the REJECT above came from the ipcidr set.
    expect((await curl([`http://127.0.0.2:${other.port}/`])).stdout).toBe("other origin\n");

    const body = (await (await ferry.api("/providers/rules")).json()) as { providers: Record<string, Record<string, unknown>> };
    expect(Object.keys(body.providers).sort()).toEqual(["ads", "ips", "lan", "more"]);
    const { updatedAt, ...ads } = body.providers.ads!;
    expect(ads).toEqual({ behavior: "Domain", format: "YamlRule", name: "ads", ruleCount: 2, type: "Rule", vehicleType: "File" });
    expect(updatedAt).not.toBe("0001-01-01T00:00:00Z");
    expect(body.providers.ips).toMatchObject({ behavior: "IPCIDR", format: "TextRule", ruleCount: 1 });
    expect(body.providers.more).toMatchObject({ behavior: "Domain", format: "MrsRule", ruleCount: 1 });
    expect(body.providers.lan).toMatchObject({
      behavior: "Classical",
      format: "",
      ruleCount: 2,
      vehicleType: "Inline",
      payload: ["AND,((DOMAIN-SUFFIX,logic.test),(NETWORK,tcp))", "DOMAIN,exact.test"],
    });
    expect(body.providers.ads!.payload).toBeUndefined();
  });

  test("http: the on-disk copy is used first; PUT refreshes; size-limit and a bad body fail with 503 and keep the set", async () => {
    const server = ruleServer({ "/remote": "payload:\n  - '+.fresh.test'\n", "/text": "+.first.test\n" });
    const home = homeWith({ "rules/remote.yaml": "payload:\n  - '+.cached.test'\n" });
    const logs = captureLogs();
    cleanup.push(logs.stop);
    const ferry = await start(
      home,
      [
        "rule-providers:",
        `  remote: {type: http, behavior: domain, url: '${server.url("/remote")}', path: rules/remote.yaml, interval: 0}`,
        `  text: {type: http, behavior: domain, format: text, url: '${server.url("/text")}', interval: 3600, size-limit: 64}`,
        "rules:",
        "  - RULE-SET,remote,REJECT",
        "  - RULE-SET,text,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    const remote = ferry.engine.ruleProviders.get("remote")!;
    const text = ferry.engine.ruleProviders.get("text")!;
    // No copy: the download started with the engine; refresh() joins it (or fetches the same body again).
    await text.refresh();
    expect(text.set.matchDomain("a.first.test")).toBe(true);
    const copy = join(home, "rules", createHash("md5").update(server.url("/text")).digest("hex"));
    expect(readFileSync(copy, "utf8")).toBe("+.first.test\n");
    // interval 0 with a copy on disk: no download at all.
    expect(server.requests.filter((p) => p === "/remote")).toEqual([]);
    expect(remote.set.matchDomain("a.cached.test")).toBe(true);

    expect((await ferry.api("/providers/rules/remote", { method: "PUT" })).status).toBe(204);
    expect(remote.set.matchDomain("a.cached.test")).toBe(false);
    expect(remote.set.matchDomain("a.fresh.test")).toBe(true);
    expect(readFileSync(join(home, "rules/remote.yaml"), "utf8")).toBe("payload:\n  - '+.fresh.test'\n");

    server.bodies["/text"] = `${"x".repeat(70)}.test\n`;
    const tooBig = await ferry.api("/providers/rules/text", { method: "PUT" });
    expect(tooBig.status).toBe(503);
    expect(((await tooBig.json()) as { message: string }).message).toContain("size-limit (64 bytes)");
    expect(text.set.matchDomain("a.first.test")).toBe(true);

    server.bodies["/remote"] = "payload: [a.test]";
    const bad = await ferry.api("/providers/rules/remote", { method: "PUT" });
    expect(bad.status).toBe(503);
    expect(((await bad.json()) as { message: string }).message).toContain("payload");
    expect(remote.set.matchDomain("a.fresh.test")).toBe(true);
    expect(logs.lines.map((l) => l.payload)).toContain("[Provider] remote pull error: file must have a `payload` field");

    expect((await ferry.api("/providers/rules/nope", { method: "PUT" })).status).toBe(404);
  });

  test("the router resolves before a RULE-SET only while its set needs an IP, also after an update changes that", async () => {
    const home = homeWith({ "rules/c.txt": "DOMAIN-SUFFIX,elsewhere.test\n", "rules/d.txt": "+.blocked.test\n" });
    const ferry = await start(
      home,
      [
        "rule-providers:",
        "  d: {type: file, behavior: domain, format: text, path: rules/d.txt}",
        "  c: {type: file, behavior: classical, format: text, path: rules/c.txt}",
        "rules:",
        "  - RULE-SET,d,REJECT",
        "  - RULE-SET,c,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    const route = () => {
      const m = createMetadata({ network: "tcp", type: "HTTPS", host: "localhost", destinationPort: 80 });
      return { m, r: ferry.engine.state.router.match(m, () => true) };
    };
    const before = route();
    expect(before.r).not.toBeInstanceOf(Promise);
    expect((before.r as RouteResult).target).toBe("DIRECT");
    expect(before.m.destinationIP).toBe("");

    writeFileSync(join(home, "rules/c.txt"), "IP-CIDR,127.0.0.0/8\n");
    await ferry.engine.ruleProviders.get("c")!.refresh();
    const after = route();
    expect(after.r).toBeInstanceOf(Promise);
    expect((await after.r).target).toBe("REJECT");
    expect(after.m.destinationIP).toBe("127.0.0.1");
  });
});

describe("test-config (config.md §23 #25, #26, #28)", () => {
  const check = async (text: string, home?: string) => {
    const registry = await createRegistry(tempDir().path);
    return buildConfig(text, registry, { homeDir: home }).issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);
  };

  test("errors", async () => {
    const issues = await check(
      [
        "rule-providers:",
        "  nobehavior: {type: file, path: a}",
        "  badbehavior: {type: file, behavior: Domain, path: a}",
        "  badformat: {type: file, behavior: domain, format: json, path: a}",
        "  mrsclassical: {type: file, behavior: classical, format: mrs, path: a}",
        "  nourl: {type: http, behavior: domain}",
        "  noload: {type: inline, behavior: domain}",
        "  badtype: {type: ftp, behavior: domain}",
        "rules:",
        "  - RULE-SET,missing,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
    );
    const errors = issues.filter((i) => i.startsWith("error")).join("\n");
    for (const key of ["nobehavior", "badbehavior.behavior", "badformat.format", "mrsclassical.format", "nourl.url", "noload.payload", "badtype.type"]) {
      expect(errors).toContain(`rule-providers.${key}`);
    }
    expect(errors).toContain('rules[0]: "RULE-SET,missing,REJECT": rule-set "missing" not found');
  });

  test("warnings name skipped entries of local content; an http set with no copy yet is fine", async () => {
    const home = homeWith({ "rules/ips.txt": "1.2.3.4\n10.0.0.0/8\n" });
    const issues = await check(
      [
        "rule-providers:",
        "  ips: {type: file, behavior: ipcidr, format: text, path: rules/ips.txt}",
        "  gone: {type: file, behavior: domain, path: rules/gone.yaml}",
        "  inl: {type: inline, behavior: classical, payload: ['DOMAIN, spaced.test', 'MATCH,DIRECT']}",
        "  remote: {type: http, behavior: domain, url: 'http://127.0.0.1:1/x', interval: 86400}",
        "rules:",
        "  - RULE-SET,ips,REJECT",
        "  - RULE-SET,remote,REJECT",
        "  - MATCH,DIRECT",
      ].join("\n"),
      home,
    );
    expect(issues.filter((i) => i.startsWith("error"))).toEqual([]);
    const warnings = issues.join("\n");
    expect(warnings).toContain(`warning rule-providers.ips: ${join(home, "rules/ips.txt")}: entry "1.2.3.4": "1.2.3.4" has no prefix length`);
    expect(warnings).toContain("warning rule-providers.gone.path: file");
    expect(warnings).toContain('warning rule-providers.inl.payload: entry "DOMAIN, spaced.test": spaces around its fields were trimmed');
    expect(warnings).toContain('warning rule-providers.inl.payload: entry "MATCH,DIRECT": MATCH cannot be used inside a rule-set; skipped');
    expect(warnings).not.toContain("rule-providers.remote");
  });
});
