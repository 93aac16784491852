import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { IpPrefix } from "../sdk/ip.ts";
import { UserError } from "../sdk/types.ts";
import { ProtoReader, ProtoWriter, WIRE_BYTES, WIRE_VARINT } from "./protobuf.ts";

/*
 * V2Ray's `router.proto` files: geosite.dat is a GeoSiteList { repeated GeoSite entry = 1 }, each
 * GeoSite { country_code = 1; repeated Domain domain = 2 }; geoip.dat is a GeoIPList of GeoIP
 * { country_code = 1; repeated CIDR cidr = 2 }. A file is indexed once (code → byte range of its
 * entry) and only the entries rules ask for are decoded.
 */

/** Domain.Type: Plain is a keyword (substring), Domain a root domain (itself and sub-domains). */
export const DomainType = { Plain: 0, Regex: 1, RootDomain: 2, Full: 3 } as const;
export type DomainType = (typeof DomainType)[keyof typeof DomainType];

export interface SiteDomain {
  type: DomainType;
  value: string;
  /** Attribute keys (`cn`, `ads`); the typed values are not used by matching. */
  attributes: string[];
}

/** Reads `length` bytes at `offset` of the indexed data. */
type ReadAt = (offset: number, length: number) => Uint8Array;

/** code (lower-case) → byte range of its entry message; the first entry of a code wins, as in mihomo. */
export type DatIndex = Map<string, { start: number; end: number }>;

/** How many bytes are read to find an entry's code before falling back to reading the whole entry. */
const HEAD_BYTES = 256;

/** Walk the top-level entries, reading only each one's head. Throws a UserError on a malformed list. */
function indexEntries(read: ReadAt, size: number): DatIndex {
  const index: DatIndex = new Map();
  let offset = 0;
  while (offset < size) {
    const head = read(offset, Math.min(HEAD_BYTES, size - offset));
    const r = new ProtoReader(head);
    const { field, wire } = r.tag();
    if (field !== 1 || wire !== WIRE_BYTES) throw new UserError(`unexpected field ${field} (wire type ${wire}) at byte ${offset}`);
    const length = r.varint();
    const start = offset + r.pos;
    const end = start + length;
    if (end > size) throw new UserError(`entry at byte ${offset} runs past the end of the file`);
    const code = entryCode(head, r.pos, Math.min(head.length, r.pos + length)) ?? entryCode(read(start, length), 0, length);
    if (code === undefined) throw new UserError(`entry at byte ${offset} has no country_code`);
    const key = code.toLowerCase();
    if (!index.has(key)) index.set(key, { start, end });
    offset = end;
  }
  return index;
}

/** Field 1 (country_code) of an entry in `buf[start, end)`, or undefined when it is not within those bytes. */
function entryCode(buf: Uint8Array, start: number, end: number): string | undefined {
  const r = new ProtoReader(buf, start, end);
  try {
    while (!r.done) {
      const { field, wire } = r.tag();
      if (field === 1 && wire === WIRE_BYTES) return r.string();
      r.skip(wire);
    }
  } catch {
    // The entry continues past the bytes read so far.
  }
  return undefined;
}

/** Index of a .dat file in memory (a download being checked). */
export function indexBytes(bytes: Uint8Array): DatIndex {
  return indexEntries((offset, length) => bytes.subarray(offset, offset + length), bytes.length);
}

/**
 * A .dat file on disk: indexed once with small positional reads; an entry is read when a rule asks
 * for its code. Reads check that the file is still the one indexed (updates replace it by rename).
 */
export class DatFile {
  readonly index: DatIndex;
  private readonly identity: string;

  constructor(readonly path: string) {
    const fd = openSync(path, "r");
    try {
      const st = fstatSync(fd);
      this.identity = identityOf(st);
      this.index = indexEntries((offset, length) => readAt(fd, offset, length), st.size);
    } finally {
      closeSync(fd);
    }
  }

  get size(): number {
    return this.index.size;
  }

  /** The entry message of `code` (case-insensitive), or undefined when the file has no such code. */
  entry(code: string): Uint8Array | undefined {
    const range = this.index.get(code.toLowerCase());
    if (!range) return undefined;
    const fd = openSync(this.path, "r");
    try {
      if (identityOf(fstatSync(fd)) !== this.identity) throw new UserError(`${this.path} changed on disk while it was in use`);
      return readAt(fd, range.start, range.end - range.start);
    } finally {
      closeSync(fd);
    }
  }
}

function identityOf(st: { ino: number; size: number; mtimeMs: number }): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

function readAt(fd: number, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw new UserError(`unexpected end of file at byte ${offset + got}`);
    got += n;
  }
  return buf;
}

/** The domains of one GeoSite entry. */
export function decodeGeoSite(entry: Uint8Array): SiteDomain[] {
  const out: SiteDomain[] = [];
  const r = new ProtoReader(entry);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === WIRE_BYTES) {
      const [start, end] = r.bytesRange();
      out.push(decodeDomain(entry, start, end));
    } else r.skip(wire);
  }
  return out;
}

function decodeDomain(buf: Uint8Array, start: number, end: number): SiteDomain {
  const r = new ProtoReader(buf, start, end);
  let type = 0;
  let value = "";
  const attributes: string[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_VARINT) type = r.varint();
    else if (field === 2 && wire === WIRE_BYTES) value = r.string();
    else if (field === 3 && wire === WIRE_BYTES) {
      const [s, e] = r.bytesRange();
      const key = attributeKey(buf, s, e);
      if (key !== undefined) attributes.push(key);
    } else r.skip(wire);
  }
  if (type > DomainType.Full) throw new UserError(`unsupported domain type ${type} ("${value}")`);
  return { type: type as DomainType, value, attributes };
}

function attributeKey(buf: Uint8Array, start: number, end: number): string | undefined {
  const r = new ProtoReader(buf, start, end);
  let key: string | undefined;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) key = r.string();
    else r.skip(wire);
  }
  return key;
}

/** The CIDRs of one GeoIP entry, as prefixes. */
export function decodeGeoIP(entry: Uint8Array): IpPrefix[] {
  const out: IpPrefix[] = [];
  const r = new ProtoReader(entry);
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === WIRE_BYTES) {
      const [start, end] = r.bytesRange();
      out.push(decodeCidr(entry, start, end));
    } else r.skip(wire);
  }
  return out;
}

function decodeCidr(buf: Uint8Array, start: number, end: number): IpPrefix {
  const r = new ProtoReader(buf, start, end);
  let ip: Uint8Array | undefined;
  let bits = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) {
      const [s, e] = r.bytesRange();
      ip = buf.subarray(s, e);
    } else if (field === 2 && wire === WIRE_VARINT) bits = r.varint();
    else r.skip(wire);
  }
  if (!ip || (ip.length !== 4 && ip.length !== 16)) throw new UserError(`invalid CIDR address of ${ip?.length ?? 0} bytes`);
  const family = ip.length === 4 ? 4 : 6;
  if (bits > ip.length * 8) throw new UserError(`invalid CIDR prefix length ${bits}`);
  const words = new Uint32Array(ip.length / 4);
  const view = new DataView(ip.buffer, ip.byteOffset, ip.length);
  for (let k = 0; k < words.length; k++) words[k] = view.getUint32(k * 4);
  return { family, words, bits };
}

/* ---------------------------------------------------------------------------------------------
 * Writers, for fixtures and benchmarks.
 * ------------------------------------------------------------------------------------------ */

export function encodeGeoSiteList(entries: { code: string; domains: SiteDomain[] }[]): Uint8Array {
  const list = new ProtoWriter();
  for (const { code, domains } of entries) {
    const site = new ProtoWriter().string(1, code);
    for (const d of domains) {
      const domain = new ProtoWriter().varint(1, d.type).string(2, d.value);
      for (const key of d.attributes) domain.message(3, new ProtoWriter().string(1, key).varint(2, 1));
      site.message(2, domain);
    }
    list.message(1, site);
  }
  return list.finish();
}

/** `cidrs` as text (`10.0.0.0/8`, `2001:db8::/32`). */
export function encodeGeoIPList(entries: { code: string; cidrs: string[] }[]): Uint8Array {
  const list = new ProtoWriter();
  for (const { code, cidrs } of entries) {
    const geoip = new ProtoWriter().string(1, code);
    for (const c of cidrs) {
      const [addr, bits] = c.split("/");
      geoip.message(2, new ProtoWriter().bytes(1, addressBytes(addr ?? "")).varint(2, Number(bits)));
    }
    list.message(1, geoip);
  }
  return list.finish();
}

function addressBytes(addr: string): Uint8Array {
  if (!addr.includes(":")) return Uint8Array.from(addr.split(".").map(Number));
  const [head = "", tail] = addr.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right].map((g) => Number.parseInt(g, 16));
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}
