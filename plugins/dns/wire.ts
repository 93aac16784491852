/**
 * Checks on raw DNS messages that every upstream makes on each exchange, done on the wire bytes
 * without decoding them: the question's type, whether a reply belongs to a query and is well
 * formed, which record types a reply holds; and the replies built from a query without a server.
 */

const HEADER = 12;

/** Offset just past the name starting at `off`; -1 when it runs out of the message or loops. */
function skipName(b: Uint8Array, off: number): number {
  for (let hops = 0; hops < 128; hops++) {
    if (off >= b.length) return -1;
    const len = b[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= b.length ? off + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    off += 1 + len;
  }
  return -1;
}

const count = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;

/** Offset just past the question section; -1 when malformed or when there is no question. */
export function questionEnd(b: Uint8Array): number {
  if (b.length < HEADER) return -1;
  const qd = count(b, 4);
  if (qd === 0) return -1;
  let off = HEADER;
  for (let i = 0; i < qd; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 4 > b.length) return -1;
    off += 4;
  }
  return off;
}

/** The QTYPE of the first question; -1 when there is none. */
export function questionType(b: Uint8Array): number {
  if (b.length < HEADER || count(b, 4) === 0) return -1;
  const off = skipName(b, HEADER);
  return off < 0 || off + 2 > b.length ? -1 : count(b, off);
}

/**
 * Walk the resource records after the question section, calling `each(type)` for every record;
 * false when a record runs past the message or the counts do not fit it.
 */
function walkRecords(b: Uint8Array, each?: (type: number) => void): boolean {
  let off = questionEnd(b);
  if (off < 0) return false;
  const total = count(b, 6) + count(b, 8) + count(b, 10);
  for (let i = 0; i < total; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 10 > b.length) return false;
    each?.(count(b, off));
    off += 10 + count(b, off + 8);
    if (off > b.length) return false;
  }
  return true;
}

function sameQuestion(query: Uint8Array, reply: Uint8Array, end: number): boolean {
  if (reply.length < end || count(reply, 4) !== count(query, 4)) return false;
  for (let i = HEADER; i < end; i++) {
    let a = query[i]!;
    let c = reply[i]!;
    // Names compare case-insensitively; a server may echo them in another case.
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (a !== c) return false;
  }
  return true;
}

/**
 * Whether `reply` answers `query` (same id, the QR bit, the same question) and is well formed.
 * "foreign": not a reply to this query at all (a stray or spoofed datagram: ignore it and keep
 * waiting); a string: a reply to this query that cannot be used (the exchange fails with it);
 * undefined: fine.
 */
export function checkReply(query: Uint8Array, reply: Uint8Array): "foreign" | string | undefined {
  if (reply.length < HEADER || reply[0] !== query[0] || reply[1] !== query[1]) return "foreign";
  if ((reply[2]! & 0x80) === 0) return "foreign";
  const end = questionEnd(query);
  // A FORMERR or NOTIMP may come back without the question: accept it as the answer it is.
  if (count(reply, 4) === 0 && reply.length === HEADER) return undefined;
  if (end < 0 || !sameQuestion(query, reply, end)) return "malformed reply: the question does not match the query";
  // A truncated (TC) reply may have been cut in the middle of a record; it is asked again over TCP anyway.
  if ((reply[2]! & 0x02) === 0 && !walkRecords(reply)) return "malformed reply: records run past the end of the message";
  return undefined;
}

/** The type of every record after the question, in wire order (answer, authority, additional). */
export function recordTypes(b: Uint8Array): number[] {
  const out: number[] = [];
  walkRecords(b, (type) => out.push(type));
  return out;
}

/** Whether the message holds a record of one of `types`. */
export function hasRecordType(b: Uint8Array, types: ReadonlySet<number>): boolean {
  let found = false;
  walkRecords(b, (type) => {
    if (types.has(type)) found = true;
  });
  return found;
}

/**
 * A NOERROR reply without records to `query`, built from its header and question: what mihomo
 * answers for a disabled query type (AA and RA set; id, opcode, RD and CD copied).
 */
export function emptyReply(query: Uint8Array): Uint8Array {
  const end = questionEnd(query);
  const out = new Uint8Array(query.subarray(0, end < 0 ? HEADER : end));
  out[2] = 0x80 | (query[2]! & 0x79) | 0x04;
  out[3] = 0x80 | (query[3]! & 0x10);
  if (end < 0) out[4] = out[5] = 0;
  out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
  return out;
}

/** The query echoed back as a reply with `rcode` (mihomo's `rcode://` entries). */
export function rcodeReply(query: Uint8Array, rcode: number): Uint8Array {
  const out = new Uint8Array(query);
  out[2] = out[2]! | 0x80;
  out[3] = (out[3]! & 0xf0) | (rcode & 0x0f);
  return out;
}
