import * as packet from "dns-packet";
import { UserError } from "../sdk/types.ts";

/**
 * DNS messages through `dns-packet`: decoding, encoding and the few edits the resolver makes
 * (rcode, id, TTLs). Upstream plugins and the DNS server exchange wire bytes; the manager decodes
 * once per exchange.
 */
export type DnsMessage = packet.Packet;
export type DnsAnswer = packet.Answer;
export type DecodedMessage = packet.DecodedPacket & { rcode?: string };

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export const TRUNCATED = packet.TRUNCATED_RESPONSE;
export const RECURSION_DESIRED = packet.RECURSION_DESIRED;
export const RECURSION_AVAILABLE = packet.RECURSION_AVAILABLE;

/** EDNS0 UDP payload size ferry advertises upstream (config.md §5.2). */
export const EDNS_UDP_SIZE = 4096;

export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  try {
    return packet.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as DecodedMessage;
  } catch (err) {
    throw new UserError(`malformed DNS message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function encodeMessage(message: DnsMessage): Uint8Array {
  return packet.encode(message);
}

export function rcodeOf(message: DnsMessage): number {
  return (message.flags ?? 0) & 0xf;
}

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

/** The message id from wire bytes (0 when too short). */
export function idOf(bytes: Uint8Array): number {
  return bytes.length >= 2 ? (bytes[0]! << 8) | bytes[1]! : 0;
}

/** Write `id` into wire bytes in place. */
export function setId(bytes: Uint8Array, id: number): void {
  bytes[0] = (id >> 8) & 0xff;
  bytes[1] = id & 0xff;
}

/** True when the TC bit is set in wire bytes. */
export function isTruncated(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && (bytes[2]! & 0x02) !== 0;
}

export interface QueryOptions {
  id?: number;
  /** Advertise EDNS0 with this UDP size; 0 = no OPT record. */
  ednsSize?: number;
  /** EDNS Client Subnet (`1.2.3.0/24`). */
  ecs?: string;
}

export function buildQuery(name: string, type: packet.RecordType, options: QueryOptions = {}): DnsMessage {
  const message: DnsMessage = {
    type: "query",
    id: options.id ?? 0,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
  };
  const size = options.ednsSize ?? EDNS_UDP_SIZE;
  if (size > 0 || options.ecs) setEdns(message, size || EDNS_UDP_SIZE, options.ecs);
  return message;
}

/** Add (or replace) the OPT record; with `ecs`, an EDNS Client Subnet option. */
export function setEdns(message: DnsMessage, udpPayloadSize: number, ecs?: string, override = true): void {
  const additionals = message.additionals ?? [];
  let opt = additionals.find((a) => a.type === "OPT") as packet.OptAnswer | undefined;
  if (!opt) {
    opt = { type: "OPT", name: ".", udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as packet.OptAnswer;
    additionals.push(opt);
  }
  message.additionals = additionals;
  if (!ecs) return;
  const options = (opt.options ?? []) as { code: number | string; [k: string]: unknown }[];
  const has = options.findIndex((o) => o.code === 8 || o.code === "CLIENT_SUBNET");
  if (has >= 0 && !override) return;
  const [ip, bits] = ecs.split("/");
  const family = ip!.includes(":") ? 2 : 1;
  const entry = { code: "CLIENT_SUBNET", family, sourcePrefixLength: Number(bits ?? (family === 1 ? 32 : 128)), scopePrefixLength: 0, ip };
  if (has >= 0) options[has] = entry;
  else options.push(entry);
  (opt as unknown as { options: unknown[] }).options = options;
}

/** A response to `query` with the given rcode and answers (question copied, RD/RA set). */
export function replyTo(query: DnsMessage, rcode: number, answers: DnsAnswer[] = []): DnsMessage {
  return {
    type: "response",
    id: query.id ?? 0,
    flags: (query.flags ?? 0) & packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (rcode & 0xf),
    questions: query.questions ?? [],
    answers,
  };
}

/** Smallest TTL over answers (else over authorities, for negative answers); `fallback` when none. */
export function minTtl(message: DnsMessage, fallback: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (const list of [message.answers, message.authorities]) {
    for (const r of list ?? []) {
      const ttl = (r as { ttl?: number }).ttl;
      if (r.type !== "OPT" && typeof ttl === "number" && ttl < min) min = ttl;
    }
    if (min !== Number.POSITIVE_INFINITY) return min;
  }
  return fallback;
}

/** Set every record's TTL (answers, authorities, additionals except OPT). */
export function setTtl(message: DnsMessage, ttl: number): void {
  for (const list of [message.answers, message.authorities, message.additionals]) {
    for (const r of list ?? []) if (r.type !== "OPT") (r as { ttl?: number }).ttl = ttl;
  }
}

/** The addresses of A/AAAA answers, in order. */
export function addressesOf(message: DnsMessage): string[] {
  const out: string[] = [];
  for (const r of message.answers ?? []) if (r.type === "A" || r.type === "AAAA") out.push(r.data as string);
  return out;
}

/** A message with the 2-byte length prefix DNS over TCP and TLS uses (RFC 1035 §4.2.2). */
export function frameTcp(message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(message.length + 2);
  frame[0] = message.length >> 8;
  frame[1] = message.length & 0xff;
  frame.set(message, 2);
  return frame;
}

/** Splits a DNS-over-TCP byte stream into messages; a partial one waits for the next chunk. */
export class TcpFramer {
  private rest: Uint8Array | undefined;

  /** Bytes held back while a message is incomplete. */
  get buffered(): number {
    return this.rest?.length ?? 0;
  }

  /** Feed one chunk; `onMessage` gets each complete message as its own copy. */
  push(chunk: Uint8Array, onMessage: (message: Uint8Array) => void): void {
    let b = chunk;
    if (this.rest) {
      b = new Uint8Array(this.rest.length + chunk.length);
      b.set(this.rest);
      b.set(chunk, this.rest.length);
    }
    let off = 0;
    while (b.length - off >= 2) {
      const len = (b[off]! << 8) | b[off + 1]!;
      if (b.length - off - 2 < len) break;
      onMessage(b.slice(off + 2, off + 2 + len));
      off += 2 + len;
    }
    this.rest = off < b.length ? b.slice(off) : undefined;
  }
}
