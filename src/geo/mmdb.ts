import { Reader, type Response } from "mmdb-lib";
import { parseIp } from "../sdk/ip.ts";
import { UserError } from "../sdk/types.ts";

/*
 * MaxMind DB files read through mmdb-lib: the country DB (MaxMind `country.iso_code`, sing-geoip
 * whose value is the code, MetaCubeX `Meta-geoip0` whose value is a code or a list of codes) and
 * the ASN DB (GeoLite2-ASN / DB-IP ASN lite fields, or ipinfo's `asn`/`name`).
 */

export interface Asn {
  number: number;
  organization: string;
}

/** Records decoded by mmdb-lib, by data offset; bounded because an ASN DB has ~500k distinct ones. */
class BoundedCache {
  private map = new Map<string | number, unknown>();
  constructor(private readonly limit: number) {}
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= this.limit) this.map.clear();
    this.map.set(key, value);
  }
}

const RECORD_CACHE = 4096;
const words = new Uint32Array(4);

/** Open and check a .mmdb: metadata present and a lookup walks the tree without error. */
function openReader(bytes: Uint8Array): Reader<Response> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(buf, { cache: new BoundedCache(RECORD_CACHE) });
    if (reader.metadata.searchTreeSize + 16 > buf.length) throw new Error("search tree larger than the file");
    reader.get("1.1.1.1");
    if (reader.metadata.ipVersion === 6) reader.get("2001:db8::1");
  } catch (err) {
    throw new UserError(`invalid MMDB: ${err instanceof Error ? err.message : String(err)}`);
  }
  return reader;
}

/** A lookup that cannot throw: an address a v4-only DB cannot hold, or a corrupt record, is unknown. */
function lookup(reader: Reader<Response>, ip: string): unknown {
  const family = parseIp(ip, words);
  if (family === 0 || (family === 6 && reader.metadata.ipVersion === 4)) return null;
  try {
    return reader.get(ip);
  } catch {
    return null;
  }
}

const NONE: readonly string[] = Object.freeze([]);

export class CountryDb {
  readonly type: string;
  private readonly reader: Reader<Response>;
  /** How records carry codes, from `database_type` as mihomo tells them apart. */
  readonly kind: "maxmind" | "sing" | "meta";
  /** Upper-cased code lists per decoded record (a few hundred distinct ones). */
  private readonly codesOf = new Map<unknown, readonly string[]>();
  /** Rules of one connection ask for the same address in a row: remember the last answer. */
  private lastIp = "";
  private lastCodes: readonly string[] = NONE;

  constructor(bytes: Uint8Array) {
    this.reader = openReader(bytes);
    this.type = this.reader.metadata.databaseType;
    this.kind = this.type === "sing-geoip" ? "sing" : this.type === "Meta-geoip0" ? "meta" : "maxmind";
  }

  /** Upper-case codes of an address; [] when unknown. */
  codes(ip: string): readonly string[] {
    if (ip === this.lastIp) return this.lastCodes;
    const record = lookup(this.reader, ip);
    let codes = record === null || record === undefined ? NONE : this.codesOf.get(record);
    if (codes === undefined) {
      codes = Object.freeze(this.extract(record));
      if (this.codesOf.size >= RECORD_CACHE) this.codesOf.clear();
      this.codesOf.set(record, codes);
    }
    this.lastIp = ip;
    this.lastCodes = codes;
    return codes;
  }

  private extract(record: unknown): string[] {
    if (this.kind === "maxmind") {
      const code = (record as { country?: { iso_code?: unknown } }).country?.iso_code;
      return typeof code === "string" && code !== "" ? [code.toUpperCase()] : [];
    }
    if (typeof record === "string") return record === "" ? [] : [record.toUpperCase()];
    // Meta-geoip0 may list several codes for one network (a country and a service tag).
    if (this.kind === "meta" && Array.isArray(record)) return record.filter((c): c is string => typeof c === "string").map((c) => c.toUpperCase());
    return [];
  }
}

export class AsnDb {
  readonly type: string;
  private readonly reader: Reader<Response>;
  private readonly asnOf = new Map<unknown, Asn | undefined>();
  private lastIp = "";
  private lastAsn: Asn | undefined;

  constructor(bytes: Uint8Array) {
    this.reader = openReader(bytes);
    this.type = this.reader.metadata.databaseType;
  }

  lookup(ip: string): Asn | undefined {
    if (ip === this.lastIp) return this.lastAsn;
    const record = lookup(this.reader, ip);
    let asn: Asn | undefined;
    if (record !== null && typeof record === "object") {
      if (this.asnOf.has(record)) asn = this.asnOf.get(record);
      else {
        asn = extractAsn(record as Record<string, unknown>);
        if (this.asnOf.size >= RECORD_CACHE) this.asnOf.clear();
        this.asnOf.set(record, asn);
      }
    }
    this.lastIp = ip;
    this.lastAsn = asn;
    return asn;
  }
}

/** GeoLite2-ASN / DB-IP: `autonomous_system_number` (uint32); ipinfo: `asn` as "AS13335" and `name`. */
function extractAsn(r: Record<string, unknown>): Asn | undefined {
  const n = r.autonomous_system_number;
  if (typeof n === "number") {
    const org = r.autonomous_system_organization;
    return Object.freeze({ number: n, organization: typeof org === "string" ? org : "" });
  }
  const text = r.asn;
  if (typeof text === "string" && /^AS\d+$/i.test(text)) {
    const name = r.name;
    return Object.freeze({ number: Number(text.slice(2)), organization: typeof name === "string" ? name : "" });
  }
  return undefined;
}
