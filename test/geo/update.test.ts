import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { ConfigLoadError, Runtime } from "../../src/core/runtime.ts";
import { onLog, setLogLevel } from "../../src/log.ts";
import { tempDir } from "../helpers.ts";
import { asnMmdb, countryMmdb, full, geoServer, geositeDat, md, put, startGeoFerry } from "./fixtures.ts";

const server = geoServer();
afterAll(() => server.stop());
const homes: { remove(): void }[] = [];
function home(): string {
  const h = tempDir("ferry-geo-update-");
  homes.push(h);
  return h.path;
}
afterAll(() => {
  for (const h of homes) h.remove();
});
afterEach(() => {
  server.files.clear();
  server.requests.length = 0;
});

const OLD_SITES = geositeDat({ cn: [full("old.cn")] });
const NEW_SITES = geositeDat({ cn: [full("new.cn"), full("new2.cn")] });
const OLD_COUNTRIES = countryMmdb([["1.0.0.0/8", "cn"]]);
const NEW_COUNTRIES = countryMmdb([["2.0.0.0/8", "cn"]]);

function config(extra = ""): string {
  return [
    "geox-url:",
    `  geosite: ${server.url("/geosite.dat")}`,
    `  mmdb: ${server.url("/geoip.metadb")}`,
    `  asn: ${server.url("/asn.mmdb")}`,
    `  geoip: ${server.url("/geoip.dat")}`,
    "global-ua: geo-test/1",
    extra,
    "rules:",
    "  - GEOSITE,cn,REJECT",
    "  - GEOIP,cn,REJECT",
    "  - MATCH,DIRECT",
  ].join("\n");
}

function prepared(): string {
  const h = home();
  put(h, "GeoSite.dat", OLD_SITES);
  put(h, "geoip.metadb", OLD_COUNTRIES);
  return h;
}

const leftovers = (h: string) => readdirSync(h).filter((n) => n.includes("download"));

describe("POST /upgrade/geo and /configs/geo", () => {
  test("download the files the rules use, replace them on disk, and the running rules answer from them", async () => {
    const h = prepared();
    const ferry = await startGeoFerry(h, config());
    try {
      // A reload first: the new config shares what the first one built from the same files.
      await ferry.runtime.apply({ text: config(), source: "<reload>" });
      expect(ferry.rule(0).match(md({ host: "old.cn" }))).toBe(true);
      const sizes = async () => ((await (await ferry.get("/rules")).json()) as { rules: { size: number }[] }).rules.map((r) => r.size);
      expect(await sizes()).toEqual([1, 0, -1]);
      server.files.set("/geosite.dat", NEW_SITES);
      server.files.set("/geoip.metadb", NEW_COUNTRIES);
      server.files.set("/asn.mmdb", asnMmdb([["1.0.0.0/8", 1, "x"]]));
      const r = await ferry.post("/upgrade/geo");
      expect(r.status).toBe(204);
      // No rule uses ASN.mmdb: it is not fetched.
      expect(server.requests.sort()).toEqual(["/geoip.metadb geo-test/1", "/geosite.dat geo-test/1"]);
      expect(Buffer.from(readFileSync(join(h, "GeoSite.dat"))).equals(NEW_SITES)).toBe(true);
      expect(Buffer.from(readFileSync(join(h, "geoip.metadb"))).equals(NEW_COUNTRIES)).toBe(true);
      expect(["old.cn", "new.cn"].map((host) => ferry.rule(0).match(md({ host })))).toEqual([false, true]);
      expect(["1.1.1.1", "2.2.2.2"].map((ip) => ferry.rule(1).match(md({ destinationIP: ip })))).toEqual([false, true]);
      expect(leftovers(h)).toEqual([]);
      expect(await sizes()).toEqual([2, 0, -1]);
      // The same content again: nothing changes, still 204.
      expect((await ferry.post("/configs/geo")).status).toBe(204);
    } finally {
      await ferry.stop();
    }
  });

  test("a corrupt or failed download is refused with mihomo's message and the old file and data stay", async () => {
    const h = prepared();
    const ferry = await startGeoFerry(h, config());
    try {
      server.files.set("/geosite.dat", new TextEncoder().encode("<html>rate limited</html>"));
      server.files.set("/geoip.metadb", OLD_COUNTRIES);
      const r = await ferry.post("/configs/geo");
      expect(r.status).toBe(500);
      expect(((await r.json()) as { message: string }).message).toStartWith("invalid GeoSite database file: ");
      expect(Buffer.from(readFileSync(join(h, "GeoSite.dat"))).equals(OLD_SITES)).toBe(true);
      expect(ferry.rule(0).match(md({ host: "old.cn" }))).toBe(true);
      server.files.delete("/geosite.dat");
      const missing = (await (await ferry.post("/upgrade/geo")).json()) as { message: string };
      expect(missing.message).toStartWith("can't download GeoSite database file: HTTP 404");
      expect(leftovers(h)).toEqual([]);
    } finally {
      await ferry.stop();
    }
  });

  test("a second update while one runs is refused: GEO database is updating, skip", async () => {
    const h = prepared();
    const ferry = await startGeoFerry(h, `geox-url: {geosite: "${server.url("/geosite.dat")}"}\nrules:\n  - GEOSITE,cn,REJECT\n  - MATCH,DIRECT\n`);
    try {
      server.files.set("/geosite.dat", NEW_SITES);
      const gate = server.hold();
      const first = ferry.post("/upgrade/geo");
      await gate.arrived;
      const second = await ferry.post("/upgrade/geo");
      expect(second.status).toBe(500);
      expect(await second.json()).toEqual({ message: "GEO database is updating, skip" });
      gate.release();
      expect((await first).status).toBe(204);
      expect(ferry.rule(0).match(md({ host: "new.cn" }))).toBe(true);
    } finally {
      await ferry.stop();
    }
  });
});

describe("ferry run", () => {
  test("missing files a rule needs are downloaded from geox-url at start", async () => {
    const h = home();
    server.files.set("/geosite.dat", NEW_SITES);
    server.files.set("/geoip.metadb", NEW_COUNTRIES);
    const ferry = await startGeoFerry(h, config());
    try {
      expect(ferry.rule(0).match(md({ host: "new.cn" }))).toBe(true);
      expect(ferry.rule(1).match(md({ destinationIP: "2.2.2.2" }))).toBe(true);
      expect(readdirSync(h).filter((n) => /geosite|geoip/i.test(n)).sort()).toEqual(["GeoSite.dat", "geoip.metadb"]);
    } finally {
      await ferry.stop();
    }
  });

  test("a download that is not a database leaves the config refused and nothing written", async () => {
    const h = home();
    put(h, "geoip.metadb", OLD_COUNTRIES);
    server.files.set("/geosite.dat", new TextEncoder().encode("garbage"));
    setLogLevel("silent");
    const runtime = await Runtime.create({ homeDir: h, configText: config() });
    const err = await runtime.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigLoadError);
    expect((err as Error).message).toContain(`${h}/GeoSite.dat not found`);
    expect(server.requests).toEqual(["/geosite.dat geo-test/1"]);
    expect(readdirSync(h).filter((n) => /geosite|download/i.test(n))).toEqual([]);
    await runtime.shutdown(0);
  });

  test("geo-auto-update: files older than the interval are updated at start", async () => {
    const h = prepared();
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const name of ["GeoSite.dat", "geoip.metadb"]) utimesSync(join(h, name), old, old);
    server.files.set("/geosite.dat", NEW_SITES);
    server.files.set("/geoip.metadb", OLD_COUNTRIES);
    const updated = new Promise<void>((resolve) => {
      const off = onLog((e) => {
        if (e.payload.includes(`${join(h, "GeoSite.dat")} updated`)) {
          off();
          resolve();
        }
      });
    });
    const ferry = await startGeoFerry(h, config("geo-auto-update: true\ngeo-update-interval: 1"));
    try {
      await updated;
      expect(ferry.rule(0).match(md({ host: "new.cn" }))).toBe(true);
    } finally {
      await ferry.stop();
    }
  });
});
