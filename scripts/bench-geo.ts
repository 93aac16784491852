/**
 * Geodata benchmark on generated files (deterministic synthetic data, written with ferry's own
 * writers into a temporary HOME): a ~5 MB GeoSite.dat of 200,000 entries over 1,000 codes, one of
 * them with 60,000 entries, and a Meta-geoip0 country MMDB of 100,000 networks. Measures the index
 * of the .dat file, loading the big code, GEOSITE matches/s and GEOIP lookups/s on one core.
 * Human-readable figures go to stderr; the last line on stdout is one JSON object.
 *
 *   bun scripts/bench-geo.ts
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatFile, DomainType, encodeGeoSiteList, type SiteDomain } from "../src/geo/dat.ts";
import { openGeoData } from "../src/geo/geodata.ts";
import { MmdbWriter } from "../src/geo/mmdb-writer.ts";
import { rng } from "./lib/rng.ts";

const CODES = 1_000;
const ENTRIES = 200_000;
const BIG = 60_000;
const NETWORKS = 100_000;
const QUERIES = 100_000;
const MATCHES = 2_000_000;
const BATCH = 1_000;

const next = rng(20250303);
const int = (n: number) => Math.floor(next() * n);
const TLDS = ["com", "net", "org", "io", "cn", "de", "jp", "ru", "uk", "co.uk", "com.cn", "info"];
const label = () => {
  let s = "";
  for (let i = 4 + int(8); i > 0; i--) s += String.fromCharCode(97 + int(26));
  return s;
};
const domain = () => `${next() < 0.6 ? `${label()}.` : ""}${label()}.${TLDS[int(TLDS.length)]}`;

/**
 * Mostly root domains and full names, as in domain-list-community, where keywords and regexes
 * are rare (the big list gets 90 keywords and 30 regexes, in proportion).
 */
function entry(): SiteDomain {
  const r = next();
  const attributes = next() < 0.1 ? ["cn"] : [];
  if (r < 0.6) return { type: DomainType.RootDomain, value: domain(), attributes };
  if (r < 0.998) return { type: DomainType.Full, value: domain(), attributes };
  if (r < 0.9995) return { type: DomainType.Plain, value: label(), attributes };
  return { type: DomainType.Regex, value: `^${label()}\\d+\\.${label()}\\.com$`, attributes };
}

const home = mkdtempSync(join(tmpdir(), "ferry-bench-geo-"));
try {
  const big = Array.from({ length: BIG }, entry);
  const lists = [{ code: "big", domains: big }];
  const perCode = Math.floor((ENTRIES - BIG) / (CODES - 1));
  for (let c = 1; c < CODES; c++) lists.push({ code: `code-${c}`, domains: Array.from({ length: perCode }, entry) });
  // The big list sits in the middle of the file, as `geolocation-!cn` does in the real one.
  lists.splice(CODES / 2, 0, lists.shift()!);
  const datPath = join(home, "GeoSite.dat");
  writeFileSync(datPath, encodeGeoSiteList(lists));
  const datBytes = statSync(datPath).size;

  const settle = () => {
    Bun.gc(true);
    Bun.sleepSync(1000);
    Bun.gc(true);
    return process.memoryUsage().rss;
  };

  // The index is a small Map: the heap shows it, the RSS noise of generating the file would not.
  settle();
  const heap = process.memoryUsage().heapUsed;
  let t = Bun.nanoseconds();
  const indexed = new DatFile(datPath);
  const indexMs = (Bun.nanoseconds() - t) / 1e6;
  Bun.gc(true);
  const indexKB = (process.memoryUsage().heapUsed - heap) / 1024;

  const geo = openGeoData(home, {});
  const rss = settle();
  t = Bun.nanoseconds();
  const bigMatcher = geo.site("big");
  const loadMs = (Bun.nanoseconds() - t) / 1e6;
  const loadRssMB = (settle() - rss) / 2 ** 20;

  // Half the hosts hit: sub-domains of root entries, full names; the rest are unrelated names.
  const roots = big.filter((d) => d.type === DomainType.RootDomain).map((d) => d.value);
  const fulls = big.filter((d) => d.type === DomainType.Full).map((d) => d.value);
  const hosts = Array.from({ length: QUERIES }, (_, i) =>
    i % 4 === 0 ? `${label()}.${roots[int(roots.length)]}` : i % 4 === 1 ? fulls[int(fulls.length)]! : `${label()}.${label()}.example`,
  );
  let hits = 0;
  for (const h of hosts) if (bigMatcher(h)) hits++;
  const siteNs: number[] = [];
  for (let done = 0; done < MATCHES; done += BATCH) {
    const start = Bun.nanoseconds();
    for (let k = 0; k < BATCH; k++) if (bigMatcher(hosts[(done + k) % QUERIES]!)) hits++;
    siteNs.push(Bun.nanoseconds() - start);
  }
  siteNs.sort((a, b) => a - b);
  const siteMatchesPerSec = (1e9 * BATCH) / siteNs[siteNs.length >> 1]!;

  // Country MMDB: 250 codes, 80% IPv4 /16–/24, 20% IPv6 /32–/48.
  const codes = Array.from({ length: 250 }, (_, i) => `c${i}`);
  const w = new MmdbWriter({ databaseType: "Meta-geoip0" });
  const v4Nets: string[] = [];
  for (let i = 0; i < NETWORKS; i++) {
    if (i % 5 !== 4) {
      const net = `${1 + int(223)}.${int(256)}.${int(256)}.0/${16 + int(9)}`;
      v4Nets.push(net);
      w.insert(net, i % 50 === 0 ? [codes[int(250)]!, "private"] : codes[int(250)]!);
    } else w.insert(`2001:${int(65536).toString(16)}:${int(65536).toString(16)}::/${32 + int(17)}`, codes[int(250)]!);
  }
  t = Bun.nanoseconds();
  const mmdb = w.toBuffer();
  const writeMs = (Bun.nanoseconds() - t) / 1e6;
  writeFileSync(join(home, "geoip.metadb"), mmdb);
  t = Bun.nanoseconds();
  const cn = geo.geoip("c7");
  const mmdbLoadMs = (Bun.nanoseconds() - t) / 1e6;
  const ips = Array.from({ length: QUERIES }, (_, i) => {
    if (i % 2 === 0) {
      const base = v4Nets[int(v4Nets.length)]!;
      return `${base.slice(0, base.lastIndexOf("."))}.${int(256)}`;
    }
    return `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
  });
  let ipHits = 0;
  for (const ip of ips) if (cn(ip)) ipHits++;
  const ipNs: number[] = [];
  for (let done = 0; done < MATCHES / 4; done += BATCH) {
    const start = Bun.nanoseconds();
    for (let k = 0; k < BATCH; k++) if (cn(ips[(done + k) % QUERIES]!)) ipHits++;
    ipNs.push(Bun.nanoseconds() - start);
  }
  ipNs.sort((a, b) => a - b);
  const geoipLookupsPerSec = (1e9 * BATCH) / ipNs[ipNs.length >> 1]!;

  console.error(
    `GeoSite.dat: ${(datBytes / 2 ** 20).toFixed(1)} MB, ${ENTRIES} entries in ${CODES} codes; index ${indexMs.toFixed(0)} ms (${indexed.size} codes, heap +${indexKB.toFixed(0)} KB)`,
  );
  console.error(
    `GEOSITE,big: ${bigMatcher.size} entries loaded in ${loadMs.toFixed(0)} ms, RSS +${loadRssMB.toFixed(1)} MB; ${(siteMatchesPerSec / 1e6).toFixed(2)}M matches/s (${hits} hits)`,
  );
  console.error(
    `geoip.metadb: ${NETWORKS} networks, ${(mmdb.length / 2 ** 20).toFixed(1)} MB written in ${writeMs.toFixed(0)} ms, opened in ${mmdbLoadMs.toFixed(0)} ms; GEOIP ${(geoipLookupsPerSec / 1e6).toFixed(2)}M lookups/s (${ipHits} hits)`,
  );
  console.log(
    JSON.stringify({
      geositeMB: Math.round((datBytes / 2 ** 20) * 10) / 10,
      geositeEntries: ENTRIES,
      geositeCodes: CODES,
      indexMs: Math.round(indexMs),
      indexHeapKB: Math.round(indexKB),
      bigCodeEntries: bigMatcher.size,
      bigCodeLoadMs: Math.round(loadMs),
      bigCodeRssMB: Math.round(loadRssMB * 10) / 10,
      geositeMatchesPerSec: Math.round(siteMatchesPerSec),
      mmdbNetworks: NETWORKS,
      mmdbMB: Math.round((mmdb.length / 2 ** 20) * 10) / 10,
      mmdbLoadMs: Math.round(mmdbLoadMs),
      geoipLookupsPerSec: Math.round(geoipLookupsPerSec),
    }),
  );
} finally {
  rmSync(home, { recursive: true, force: true });
}
