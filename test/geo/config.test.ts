import { afterAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { buildConfig } from "../../src/config/build.ts";
import { createRegistry } from "../../src/core/runtime.ts";
import { tempDir } from "../helpers.ts";
import { countryMmdb, full, geoServer, geositeDat, md, put } from "./fixtures.ts";

const homes: { remove(): void }[] = [];
function home(): string {
  const h = tempDir("ferry-geo-config-");
  homes.push(h);
  return h.path;
}
afterAll(() => {
  for (const h of homes) h.remove();
});
const registry = await createRegistry(home());

const RULES = "rules:\n  - GEOSITE,cn,REJECT\n  - GEOIP,cn,REJECT\n  - AND,((GEOIP,jp),(NETWORK,tcp)),REJECT\n  - MATCH,DIRECT\n";

describe("config builder", () => {
  test("rules in the top list and inside logic rules read HOME's files", () => {
    const h = home();
    put(h, "geoip.metadb", countryMmdb([["1.0.0.0/8", "cn"], ["2.0.0.0/8", "jp"]]));
    put(h, "GeoSite.dat", geositeDat({ cn: [full("a.cn")] }));
    const { config, issues } = buildConfig(RULES, registry, { homeDir: h });
    expect(issues.filter((i) => i.severity === "error")).toEqual([]);
    const [site, ip, and] = config!.rules.map((r) => r.rule);
    expect(site!.match(md({ host: "a.cn" }))).toBe(true);
    expect(ip!.match(md({ destinationIP: "1.1.1.1" }))).toBe(true);
    expect(and!.match(md({ destinationIP: "2.2.2.2" }))).toBe(true);
    expect(config!.env.geo.countries("2.2.2.2")).toEqual(["JP"]);
  });

  test("missing files are errors at the rule's key path, naming the file", () => {
    const h = home();
    const { config, issues } = buildConfig(RULES, registry, { homeDir: h });
    expect(config).toBeUndefined();
    const errors = issues.filter((i) => i.severity === "error" && i.path.startsWith("rules")).map((i) => `${i.path}: ${i.message}`);
    expect(errors[0]).toStartWith(`rules[0]: "GEOSITE,cn,REJECT": ${h}/GeoSite.dat not found`);
    expect(errors[1]).toStartWith(`rules[1]: "GEOIP,cn,REJECT": ${h}/geoip.metadb not found`);
    expect(errors[2]).toContain("rules[2]");
  });

  test("geo keys: a non-URL geox-url and geo-auto-update without a positive interval are warned", () => {
    const { issues } = buildConfig("geox-url:\n  mmdb: ftp://x/y\ngeo-auto-update: true\ngeo-update-interval: 0\ngeodata-loader: standard\ngeosite-matcher: hybrid\n", registry, {
      homeDir: home(),
    });
    expect(issues.filter((i) => i.path.startsWith("geo")).map((i) => [i.severity, i.path])).toEqual([
      ["warning", "geox-url.mmdb"],
      ["warning", "geo-update-interval"],
    ]);
    expect(buildConfig("geodata-loader: fast\n", registry, { homeDir: home() }).issues[0]?.path).toBe("geodata-loader");
  });
});

const root = resolve(import.meta.dir, "../..");

describe("ferry test-config", () => {
  test("reports a missing geo file with the rule and never downloads it", async () => {
    const server = geoServer();
    server.files.set("/geosite.dat", geositeDat({ cn: [full("a.cn")] }));
    const h = home();
    const config = put(h, "config.yaml", new TextEncoder().encode(`geox-url:\n  geosite: ${server.url("/geosite.dat")}\nrules:\n  - GEOSITE,cn,REJECT\n  - MATCH,DIRECT\n`));
    try {
      const proc = Bun.spawn([process.execPath, "--no-install", resolve(root, "src/cli/main.ts"), "test-config", "-d", h, "-f", config], {
        cwd: root,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      expect(await proc.exited).toBe(1);
      expect(stdout).toContain(`rules[0] (line 4:5): "GEOSITE,cn,REJECT": ${h}/GeoSite.dat not found: \`ferry run\` downloads it from geox-url.geosite (${server.url("/geosite.dat")})`);
      expect(server.requests).toEqual([]);
    } finally {
      server.stop();
    }
  });
});
