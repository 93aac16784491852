import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { IpRangeTable } from "../core/ip-ranges.ts";
import { scopedLogger } from "../log.ts";
import { parseIp } from "../sdk/ip.ts";
import { type GeoData, type GeoMatcher, UserError } from "../sdk/types.ts";
import { DatFile, decodeGeoIP, decodeGeoSite } from "./dat.ts";
import { type Asn, AsnDb, CountryDb } from "./mmdb.ts";
import { parseSiteCode, SiteMatcher } from "./site.ts";

/** The four data files: the country MMDB, the ASN MMDB, and V2Ray's GeoIP.dat and GeoSite.dat. */
export type GeoKind = "mmdb" | "asn" | "geoip" | "geosite";

const GEO_KINDS: readonly GeoKind[] = ["mmdb", "asn", "geoip", "geosite"];

/** mihomo's `geox-url` defaults: MetaCubeX/meta-rules-dat "latest" release assets. */
const GEOX_DEFAULTS: Record<GeoKind, string> = {
  mmdb: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geoip.metadb",
  asn: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/GeoLite2-ASN.mmdb",
  geoip: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geoip.dat",
  geosite: "https://github.com/MetaCubeX/meta-rules-dat/releases/download/latest/geosite.dat",
};

/**
 * Names looked for in HOME, case-insensitively, the first match in name order winning (mihomo
 * constant/path.go); the first name here is the one a download is saved as when none exists.
 */
const FILE_NAMES: Record<GeoKind, string[]> = {
  mmdb: ["geoip.metadb", "Country.mmdb", "geoip.db"],
  asn: ["ASN.mmdb"],
  geoip: ["GeoIP.dat"],
  geosite: ["GeoSite.dat"],
};

/** How mihomo's messages name each database ("can't download MMDB database file"). */
export const GEO_LABELS: Record<GeoKind, string> = { mmdb: "MMDB", asn: "ASN", geoip: "GeoIP", geosite: "GeoSite" };

const log = scopedLogger("geo");

export interface GeoSettings {
  /** `geodata-mode`: GEOIP reads GeoIP.dat instead of the country MMDB. */
  geodataMode: boolean;
  /** `geox-url`, defaults filled in. */
  urls: Record<GeoKind, string>;
  /** `global-ua`, used for downloads. */
  userAgent: string;
}

/** The config keys of geodata (config.md §2.3). */
export interface GeoKeys {
  "geodata-mode"?: boolean;
  "geox-url"?: Partial<Record<GeoKind, string>>;
  "global-ua"?: string;
  "geo-auto-update"?: boolean;
  "geo-update-interval"?: number;
}

/** Values mihomo accepts but that cannot work: warnings for test-config (the enums are checked by the schema). */
export function geoKeyProblems(raw: GeoKeys): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const kind of GEO_KINDS) {
    const url = raw["geox-url"]?.[kind];
    if (url && !/^https?:\/\/[^/]/i.test(url)) out.push({ path: `geox-url.${kind}`, message: `"${url}" is not an http(s) URL: downloading ${FILE_NAMES[kind][0]} fails` });
  }
  const interval = raw["geo-update-interval"] ?? 24;
  if (raw["geo-auto-update"] === true && interval <= 0) {
    out.push({ path: "geo-update-interval", message: `${interval} hours is not a valid interval: geo-auto-update does nothing (as in mihomo)` });
  }
  return out;
}

function geoSettings(raw: GeoKeys): GeoSettings {
  const given = raw["geox-url"] ?? {};
  const urls = { ...GEOX_DEFAULTS };
  for (const kind of GEO_KINDS) if (given[kind]) urls[kind] = given[kind]!;
  return { geodataMode: raw["geodata-mode"] === true, urls, userAgent: raw["global-ua"] || `clash.meta/v${pkg.version}` };
}

type Loaded = CountryDb | AsnDb | DatFile;

/** A rule's matcher as built from one version of a file. */
interface Compiled {
  test(value: string): boolean;
  size: number;
  warning?: string;
}

/**
 * An opened file and the matchers built from it, valid while the file on disk is unchanged. The
 * matchers are held weakly: shared while some config's rules use them, collected once none does.
 */
interface Handle {
  readonly path: string;
  /** inode, size and mtime: a change means the file was replaced. */
  readonly stamp: string;
  readonly data: Loaded;
  readonly matchers: Map<string, WeakRef<Compiled>>;
}

function load(kind: GeoKind, path: string, bytes?: Uint8Array): Loaded {
  if (kind === "mmdb") return new CountryDb(bytes ?? readFileSync(path));
  if (kind === "asn") return new AsnDb(bytes ?? readFileSync(path));
  return new DatFile(path);
}

function stampOf(path: string): string {
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * One HOME's data files, shared by every config loaded from it: a file is parsed (and a code's
 * matcher built) once per version on disk, so a reload with unchanged files costs a stat.
 */
export class GeoStore {
  private readonly handles = new Map<GeoKind, Handle>();
  /** Files a config needed but could not use, and where to fetch them (`ferry run` does). */
  readonly wanted = new Map<GeoKind, { url: string; userAgent: string }>();
  /** Set while an update runs: a second one is refused, as in mihomo. */
  updating = false;

  constructor(readonly homeDir: string) {}

  /** The file's path: an existing one under any accepted name and case, else the default name. */
  locate(kind: GeoKind): string {
    const accepted = FILE_NAMES[kind].map((n) => n.toLowerCase());
    let found: string | undefined;
    try {
      const files = readdirSync(this.homeDir, { withFileTypes: true })
        .filter((e) => !e.isDirectory())
        .map((e) => e.name)
        .sort();
      found = files.find((n) => accepted.includes(n.toLowerCase()));
    } catch {
      // No HOME yet: the default name.
    }
    return join(this.homeDir, found ?? FILE_NAMES[kind][0]!);
  }

  /** The current version of a file. Throws a UserError naming the file and where to get it. */
  open(kind: GeoKind, settings: GeoSettings): Handle {
    const path = this.locate(kind);
    const url = settings.urls[kind];
    let stamp: string;
    try {
      stamp = stampOf(path);
    } catch {
      this.wanted.set(kind, { url, userAgent: settings.userAgent });
      const others = FILE_NAMES[kind].length > 1 ? ` (nor ${FILE_NAMES[kind].slice(1).join(" or ")})` : "";
      throw new UserError(`${path} not found${others}: \`ferry run\` downloads it from geox-url.${kind} (${url})`);
    }
    const current = this.handles.get(kind);
    if (current && current.path === path && current.stamp === stamp) return current;
    let data: Loaded;
    try {
      data = load(kind, path);
    } catch (err) {
      this.wanted.set(kind, { url, userAgent: settings.userAgent });
      throw new UserError(`${path} is not a valid ${GEO_LABELS[kind]} database (${(err as Error).message}): \`ferry run\` downloads it again from geox-url.${kind} (${url})`);
    }
    const handle: Handle = { path, stamp, data, matchers: new Map() };
    this.handles.set(kind, handle);
    return handle;
  }

  /** Put a file just written at `path` in force (`bytes`: its content, when already in memory). */
  install(kind: GeoKind, path: string, bytes?: Uint8Array): void {
    this.handles.set(kind, { path, stamp: stampOf(path), data: load(kind, path, bytes), matchers: new Map() });
    this.wanted.delete(kind);
  }
}

const stores = new Map<string, GeoStore>();

export function geoStore(homeDir: string): GeoStore {
  const key = resolve(homeDir);
  let store = stores.get(key);
  if (!store) {
    store = new GeoStore(key);
    stores.set(key, store);
  }
  return store;
}

/** A matcher slot: rules hold the wrapper, an update replaces `compiled`. */
interface Slot {
  kind: GeoKind;
  key: string;
  build: (h: Handle) => Compiled;
  compiled: Compiled;
  matcher: GeoMatcher;
}

const words = new Uint32Array(4);

/**
 * The geodata one config sees: its settings over its HOME's store. Files are opened when a rule
 * (or a lookup) first needs them; the kinds used are the ones updates refresh.
 */
export class GeoFiles implements GeoData {
  readonly used = new Set<GeoKind>();
  private readonly handles = new Map<GeoKind, Handle>();
  /** Failures are remembered, so per-connection lookups do not go back to the disk. */
  private readonly failures = new Map<GeoKind, UserError>();
  private readonly slots = new Map<string, Slot>();
  private country: CountryDb | undefined;
  private asnDb: AsnDb | undefined;

  constructor(
    readonly store: GeoStore,
    readonly settings: GeoSettings,
  ) {}

  /** Where a kind's file is (or would be saved). */
  path(kind: GeoKind): string {
    return this.handles.get(kind)?.path ?? this.store.locate(kind);
  }

  /** The file of a kind; `use: false` for plain lookups, which do not make updates fetch it (as in mihomo). */
  private handle(kind: GeoKind, use = true): Handle {
    if (use) this.used.add(kind);
    const h = this.handles.get(kind);
    if (h) return h;
    const failed = this.failures.get(kind);
    if (failed) throw failed;
    try {
      const opened = this.store.open(kind, this.settings);
      this.handles.set(kind, opened);
      return opened;
    } catch (err) {
      if (err instanceof UserError) this.failures.set(kind, err);
      throw err;
    }
  }

  countries(ip: string): readonly string[] {
    this.country ??= this.handle("mmdb").data as CountryDb;
    return this.country.codes(ip);
  }

  asn(ip: string): Asn | undefined {
    if (!this.asnDb) {
      try {
        this.asnDb = this.handle("asn", false).data as AsnDb;
      } catch {
        return undefined;
      }
    }
    return this.asnDb.lookup(ip);
  }

  geoip(code: string): GeoMatcher {
    const lower = code.toLowerCase();
    if (!this.settings.geodataMode) {
      const upper = lower.toUpperCase();
      return this.slot("mmdb", lower, false, (h) => {
        const db = h.data as CountryDb;
        const warning = lower.startsWith("!")
          ? `"${code}": a leading "!" negates only with geodata-mode: true; in a country database no address has this code, so the rule never matches`
          : db.kind === "maxmind" && !/^[a-z]{2}$/.test(lower)
            ? `a MaxMind country database (${db.type}) holds ISO country codes only: "${code}" never matches`
            : undefined;
        return { size: 0, warning, test: (ip) => db.codes(ip).includes(upper) };
      });
    }
    const negate = lower.startsWith("!");
    const name = negate ? lower.slice(1) : lower;
    return this.slot("geoip", name, negate, (h) => {
      const entry = (h.data as DatFile).entry(name);
      if (!entry) throw new UserError(`country code "${name}" not found in ${h.path}`);
      const prefixes = corrupt(h, () => decodeGeoIP(entry), `country code "${name}"`);
      const table = new IpRangeTable(prefixes.map((prefix) => ({ prefix, rule: 0 })));
      return {
        size: prefixes.length,
        test(ip) {
          const family = parseIp(ip, words);
          return family !== 0 && table.lookup(family, words) >= 0;
        },
      };
    });
  }

  ipAsn(asn: string): GeoMatcher {
    // mihomo compares the decimal text: "AS13335" or "013335" never equal it.
    const number = /^(0|[1-9]\d{0,9})$/.test(asn) ? Number(asn) : -1;
    const warning = number < 0 ? `"${asn}" is not an AS number in decimal (like 13335): the rule never matches` : undefined;
    return this.slot("asn", asn, false, (h) => {
      const db = h.data as AsnDb;
      return { size: 0, warning, test: (ip) => db.lookup(ip)?.number === number };
    });
  }

  site(code: string): GeoMatcher {
    const q = parseSiteCode(code);
    const key = [q.list, ...q.attributes].join("@");
    return this.slot("geosite", key, q.negate, (h) => {
      const entry = (h.data as DatFile).entry(q.list);
      if (!entry) throw new UserError(`list "${q.list}" not found in ${h.path}`);
      const matcher = corrupt(h, () => new SiteMatcher(decodeGeoSite(entry), q.attributes), `list "${q.list}"`);
      let warning: string | undefined;
      if (q.emptyAttributes) warning = `geosite "${code}": empty attribute list, the whole list is used`;
      else if (q.attributes.length > 0 && matcher.size === 0) {
        const negated = q.attributes.some((a) => a.startsWith("!"))
          ? ' (mihomo has no negated attributes: "@!cn" asks for an attribute named "!cn")'
          : "";
        warning = `geosite "${code}": no entry of "${q.list}" has ${q.attributes.map((a) => `@${a}`).join(" and ")}, the rule never matches${negated}`;
      }
      return { size: matcher.size, warning, test: (host) => matcher.match(host) };
    });
  }

  /**
   * The rule-facing matcher for `key` of a kind: built from the current file version once (and
   * shared by every config while the file is unchanged); the same wrapper is handed out per key.
   */
  private slot(kind: GeoKind, key: string, negate: boolean, build: (h: Handle) => Compiled): GeoMatcher {
    const id = `${kind}:${negate ? "!" : ""}${key}`;
    const existing = this.slots.get(id);
    if (existing) return existing.matcher;
    const compiled = built(this.handle(kind), key, build);
    const slot = { kind, key, build, compiled } as Slot;
    const test = negate ? (v: string) => !slot.compiled.test(v) : (v: string) => slot.compiled.test(v);
    slot.matcher = Object.defineProperties(test, {
      size: { get: () => slot.compiled.size, enumerable: true },
      warning: { value: compiled.warning, enumerable: true },
    }) as GeoMatcher;
    this.slots.set(id, slot);
    return slot.matcher;
  }

  /**
   * A new version of a file is in the store: answer from it. Matchers are rebuilt now, so a code
   * the new file lacks keeps its previous data (and says so) rather than failing connections.
   */
  refresh(kind: GeoKind): void {
    this.handles.delete(kind);
    this.failures.delete(kind);
    if (kind === "mmdb") this.country = undefined;
    if (kind === "asn") this.asnDb = undefined;
    const h = this.handle(kind);
    for (const slot of this.slots.values()) {
      if (slot.kind !== kind) continue;
      try {
        slot.compiled = built(h, slot.key, slot.build);
      } catch (err) {
        log.warn(`${slot.key}: the new ${h.path} cannot serve it, the previous data stays in use: ${(err as Error).message}`);
      }
    }
  }
}

/** The matcher for `key` from this file version: the one already built if some rule still holds it. */
function built(h: Handle, key: string, build: (h: Handle) => Compiled): Compiled {
  let compiled = h.matchers.get(key)?.deref();
  if (!compiled) {
    compiled = build(h);
    h.matchers.set(key, new WeakRef(compiled));
  }
  return compiled;
}

/** Decode an entry; a malformed one (or a bad regex in it) is a UserError naming the file and the code. */
function corrupt<T>(h: Handle, decode: () => T, what: string): T {
  try {
    return decode();
  } catch (err) {
    throw new UserError(`${h.path}: ${what}: ${(err as Error).message}`);
  }
}

/** The geodata of a config loaded from `homeDir`. */
export function openGeoData(homeDir: string, raw: GeoKeys): GeoFiles {
  return new GeoFiles(geoStore(homeDir), geoSettings(raw));
}
