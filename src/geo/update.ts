import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { scopedLogger } from "../log.ts";
import type { GeoData } from "../sdk/types.ts";
import { decodeGeoIP, decodeGeoSite, indexBytes } from "./dat.ts";
import { GEO_LABELS, GeoFiles, type GeoKeys, type GeoKind, type GeoStore } from "./geodata.ts";
import { AsnDb, CountryDb } from "./mmdb.ts";

/*
 * Downloads of the geo files (mihomo component/updater/update_geo.go): from `geox-url`, checked
 * before anything is replaced, written beside the old file and renamed over it, then put in force
 * for the running rules. Messages are mihomo's.
 */

const log = scopedLogger("geo");

/** mihomo's timeout for geo downloads. */
const DOWNLOAD_TIMEOUT_MS = 90_000;

async function download(url: string, userAgent: string): Promise<Uint8Array> {
  const res = await fetch(url, { headers: { "User-Agent": userAgent }, signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS), redirect: "follow" });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Throws unless `bytes` are a usable database of this kind: every entry of a .dat file is decoded. */
export function verifyGeoFile(kind: GeoKind, bytes: Uint8Array): void {
  if (kind === "mmdb") new CountryDb(bytes);
  else if (kind === "asn") new AsnDb(bytes);
  else {
    const index = indexBytes(bytes);
    if (index.size === 0) throw new Error("no entries");
    const decode = kind === "geosite" ? decodeGeoSite : decodeGeoIP;
    for (const [code, { start, end }] of index) {
      try {
        decode(bytes.subarray(start, end));
      } catch (err) {
        throw new Error(`entry "${code}": ${(err as Error).message}`);
      }
    }
  }
}

function sameContent(path: string, bytes: Uint8Array): boolean {
  try {
    if (statSync(path).size !== bytes.length) return false;
    return Buffer.from(readFileSync(path)).equals(bytes);
  } catch {
    return false;
  }
}

/** A temporary file beside the target, renamed over it: readers see the old file or the new one, never half of one. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  const temp = `${path}.${process.pid}.download`;
  try {
    writeFileSync(temp, bytes);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Fetch, check, save and install one file. False when the download equals the file in place. */
async function updateOne(store: GeoStore, kind: GeoKind, url: string, userAgent: string): Promise<boolean> {
  const what = GEO_LABELS[kind];
  let bytes: Uint8Array;
  try {
    bytes = await download(url, userAgent);
  } catch (err) {
    throw new Error(`can't download ${what} database file: ${(err as Error).message}`);
  }
  if (bytes.length === 0) throw new Error(`can't download ${what} database file: no data`);
  const path = store.locate(kind);
  if (sameContent(path, bytes)) return false;
  try {
    verifyGeoFile(kind, bytes);
  } catch (err) {
    throw new Error(`invalid ${what} database file: ${(err as Error).message}`);
  }
  try {
    writeAtomically(path, bytes);
    store.install(kind, path, kind === "mmdb" || kind === "asn" ? bytes : undefined);
  } catch (err) {
    throw new Error(`can't save ${what} database file: ${(err as Error).message}`);
  }
  return true;
}

/**
 * `POST /configs/geo`, `POST /upgrade/geo` and geo-auto-update: re-download the files this config
 * uses, together; the first failure is thrown once all have finished. One update at a time.
 */
export async function updateGeoDatabases(geo: GeoFiles): Promise<void> {
  const { store } = geo;
  if (store.updating) throw new Error("GEO database is updating, skip");
  store.updating = true;
  try {
    log.info("updating GEO databases");
    const results = await Promise.allSettled(
      [...geo.used].map(async (kind) => {
        if (await updateOne(store, kind, geo.settings.urls[kind], geo.settings.userAgent)) {
          geo.refresh(kind);
          log.info(`${geo.path(kind)} updated`);
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      log.error(`update GEO databases failed: ${(failed.reason as Error).message}`);
      throw failed.reason;
    }
  } finally {
    store.updating = false;
  }
}

/**
 * At load (`ferry run`, never `test-config`): fetch the files the last build needed and HOME lacks
 * or holds broken, as mihomo does before it parses rules. True when at least one arrived.
 */
export async function downloadWanted(store: GeoStore): Promise<boolean> {
  const wanted = [...store.wanted];
  store.wanted.clear();
  let arrived = false;
  for (const [kind, { url, userAgent }] of wanted) {
    log.info(`${store.locate(kind)} is missing or invalid: downloading ${url}`);
    try {
      await updateOne(store, kind, url, userAgent);
      arrived = true;
    } catch (err) {
      log.error((err as Error).message);
    }
  }
  return arrived;
}

/** Files whose age tells when the last update was: the first that exists, in mihomo's order. */
const AGE_ORDER: GeoKind[] = ["geoip", "mmdb", "asn", "geosite"];

/** Longest single timer: longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `geo-auto-update` for the config in force (mihomo RegisterGeoUpdater): an update at once when the
 * files are older than `geo-update-interval` hours, then one every interval. A reload re-arms it.
 */
export class GeoAutoUpdate {
  private timer: ReturnType<typeof setTimeout> | undefined;

  follow(geo: GeoData, raw: GeoKeys): void {
    this.stop();
    if (raw["geo-auto-update"] !== true || !(geo instanceof GeoFiles)) return;
    const hours = raw["geo-update-interval"] ?? 24;
    if (hours <= 0) {
      log.error(`invalid geo-update-interval ${hours}: no automatic updates`);
      return;
    }
    const period = hours * 3_600_000;
    const last = AGE_ORDER.map((k) => mtimeOf(geo.path(k))).find((t) => t !== undefined);
    if (last === undefined) {
      log.error("no GEO database file to update");
      return;
    }
    const run = () => updateGeoDatabases(geo).catch(() => undefined);
    if (last + period < Date.now()) {
      log.info(`GEO databases were not updated for ${hours} h: updating now`);
      void run();
    }
    this.schedule(Date.now() + period, period, run);
  }

  private schedule(at: number, period: number, run: () => void): void {
    this.timer = setTimeout(
      () => {
        if (Date.now() < at) return this.schedule(at, period, run);
        run();
        this.schedule(at + period, period, run);
      },
      Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS),
    );
    this.timer.unref?.();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function mtimeOf(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
