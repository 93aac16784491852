import { afterAll, describe, expect, test } from "bun:test";
import { Reader, type Response } from "mmdb-lib";
import { DatFile, DomainType, decodeGeoIP, decodeGeoSite, encodeGeoSiteList, indexBytes } from "../../src/geo/dat.ts";
import { MmdbWriter } from "../../src/geo/mmdb-writer.ts";
import { ProtoWriter } from "../../src/geo/protobuf.ts";
import { verifyGeoFile } from "../../src/geo/update.ts";
import { tempDir } from "../helpers.ts";
import { full, geoipDat, geositeDat, keyword, put, regex, root } from "./fixtures.ts";

const dir = tempDir("ferry-geo-formats-");
afterAll(() => dir.remove());

function read(bytes: Uint8Array): Reader<Response> {
  return new Reader<Response>(Buffer.from(bytes));
}

describe("MmdbWriter output read back by mmdb-lib", () => {
  test("metadata, and maps, strings, uint32, arrays, booleans, doubles and negative numbers in the data section", () => {
    const value = { country: { iso_code: "CN", names: { en: "China" } }, list: ["cn", "private"], n: 4_000_000_000, ok: true, d: 1.5, neg: -7 };
    const db = read(new MmdbWriter({ databaseType: "Test-DB", buildEpoch: 1_700_000_000, languages: ["en", "zh-CN"] }).insert("1.2.3.0/24", value).toBuffer());
    expect(db.metadata.databaseType).toBe("Test-DB");
    expect(db.metadata.ipVersion).toBe(6);
    expect(db.metadata.recordSize).toBe(24);
    expect(db.metadata.languages).toEqual(["en", "zh-CN"]);
    expect(db.metadata.buildEpoch.getTime()).toBe(1_700_000_000_000);
    expect(db.getWithPrefixLength("1.2.3.200")).toEqual([value as never, 24]);
    expect(db.get("1.2.4.1")).toBeNull();
  });

  test("string lengths across every size encoding", () => {
    const w = new MmdbWriter({ databaseType: "sizes", ipVersion: 4 });
    const lengths = [0, 28, 29, 284, 285, 65820, 65821, 70_000];
    lengths.forEach((n, i) => {
      w.insert(`10.${i}.0.0/16`, "x".repeat(n));
    });
    const db = read(w.toBuffer());
    expect(db.metadata.ipVersion).toBe(4);
    expect(lengths.map((_, i) => (db.get(`10.${i}.1.1`) as unknown as string).length)).toEqual(lengths);
  });

  test("nested and overlapping networks: the later insert wins where they overlap, the rest keeps its value", () => {
    const w = new MmdbWriter({ databaseType: "t" });
    w.insert("10.0.0.0/8", "a").insert("10.1.0.0/16", "b").insert("2001:db8::/32", "v6").insert("10.1.2.0/24", "a");
    const db = read(w.toBuffer());
    expect(["10.9.9.9", "10.1.9.9", "10.1.2.3", "2001:db8::1", "2001:db9::1", "11.0.0.1"].map((ip) => db.get(ip) as unknown)).toEqual(["a", "b", "a", "v6", null, null]);
  });

  test("28-bit records once the data section passes 16 MiB", () => {
    const w = new MmdbWriter({ databaseType: "big", ipVersion: 4 });
    const big = 9 * 1024 * 1024;
    w.insert("10.0.0.0/8", "x".repeat(big)).insert("9.0.0.0/8", "y".repeat(big)).insert("11.0.0.0/8", "after").insert("12.0.0.0/8", { k: 1 });
    const db = read(w.toBuffer());
    expect(db.metadata.recordSize).toBe(28);
    expect(db.get("11.2.3.4") as unknown).toBe("after");
    expect(db.get("12.2.3.4") as unknown).toEqual({ k: 1 });
    expect((db.get("9.2.3.4") as unknown as string).length).toBe(big);
    expect(() => new MmdbWriter({ databaseType: "t" }).insert("1.0.0.0/8", "x".repeat(17 * 1024 * 1024)).toBuffer()).toThrow("exceeds the format");
  });

  test("an IPv4 database refuses IPv6 networks", () => {
    expect(() => new MmdbWriter({ databaseType: "t", ipVersion: 4 }).insert("::/0", "x")).toThrow("IPv4 database");
  });
});

describe("V2Ray .dat files", () => {
  const sites = {
    cn: [full("a.cn", "cn"), root("b.cn"), keyword("kw"), regex("^x$", "ads", "cn")],
    "GEOLOCATION-!CN": [root("google.com")],
  };

  test("GeoSite round trip: types, values and attribute keys; codes indexed lower-case", () => {
    const bytes = geositeDat(sites);
    const index = indexBytes(bytes);
    expect([...index.keys()]).toEqual(["cn", "geolocation-!cn"]);
    const { start, end } = index.get("cn")!;
    expect(decodeGeoSite(bytes.subarray(start, end))).toEqual([
      { type: DomainType.Full, value: "a.cn", attributes: ["cn"] },
      { type: DomainType.RootDomain, value: "b.cn", attributes: [] },
      { type: DomainType.Plain, value: "kw", attributes: [] },
      { type: DomainType.Regex, value: "^x$", attributes: ["ads", "cn"] },
    ]);
    expect(() => verifyGeoFile("geosite", bytes)).not.toThrow();
  });

  test("GeoIP round trip: IPv4 and IPv6 prefixes", () => {
    const bytes = geoipDat({ CN: ["1.0.0.0/8", "2001:db8::/32", "::/0"] });
    const { start, end } = indexBytes(bytes).get("cn")!;
    const prefixes = decodeGeoIP(bytes.subarray(start, end));
    expect(prefixes.map((p) => [p.family, [...p.words], p.bits])).toEqual([
      [4, [0x01000000], 8],
      [6, [0x20010db8, 0, 0, 0], 32],
      [6, [0, 0, 0, 0], 0],
    ]);
  });

  test("a file is indexed without decoding entries: a corrupt entry fails only when its code is asked for", () => {
    const good = new ProtoWriter().string(1, "good").message(2, new ProtoWriter().varint(1, 3).string(2, "ok.com")).finish();
    const bad = new ProtoWriter().string(1, "bad").bytes(2, Uint8Array.of(0x12, 0x7f, 0x61)).finish();
    const path = put(dir.path, "partial.dat", new ProtoWriter().bytes(1, good).bytes(1, bad).finish());
    const file = new DatFile(path);
    expect([...file.index.keys()]).toEqual(["good", "bad"]);
    expect(decodeGeoSite(file.entry("GOOD")!)).toEqual([{ type: DomainType.Full, value: "ok.com", attributes: [] }]);
    expect(() => decodeGeoSite(file.entry("bad")!)).toThrow("runs past the end");
    expect(file.entry("missing")).toBeUndefined();
    expect(() => verifyGeoFile("geosite", new ProtoWriter().bytes(1, good).bytes(1, bad).finish())).toThrow('entry "bad"');
  });

  test("the code may come after the domains, and the first entry of a duplicated code wins", () => {
    const late = new ProtoWriter().message(2, new ProtoWriter().varint(1, 3).string(2, "late.com")).string(1, "late").finish();
    const bytes = new ProtoWriter().bytes(1, late).finish();
    const twice = encodeGeoSiteList([
      { code: "dup", domains: [full("first.com")] },
      { code: "DUP", domains: [full("second.com")] },
    ]);
    const path = put(dir.path, "order.dat", new Uint8Array([...bytes, ...twice]));
    const file = new DatFile(path);
    expect(decodeGeoSite(file.entry("late")!)[0]!.value).toBe("late.com");
    expect(decodeGeoSite(file.entry("dup")!)[0]!.value).toBe("first.com");
  });

  test("a truncated file, a wrong top-level field, or no entries at all are refused", () => {
    const bytes = geositeDat(sites);
    expect(() => new DatFile(put(dir.path, "cut.dat", bytes.subarray(0, bytes.length - 3)))).toThrow("runs past the end");
    expect(() => new DatFile(put(dir.path, "wrong.dat", new ProtoWriter().string(2, "x").finish()))).toThrow("unexpected field 2");
    expect(() => verifyGeoFile("geoip", new Uint8Array(0))).toThrow("no entries");
    expect(() => verifyGeoFile("mmdb", new TextEncoder().encode("<html>not found</html>"))).toThrow("invalid MMDB");
  });
});
