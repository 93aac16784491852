import type { RecordType } from "dns-packet";
import rrTypes from "dns-packet/types.js";
import { buildQuery, type DnsAnswer, type DnsMessage } from "../dns/message.ts";
import type { DnsRuntime } from "../dns/service.ts";
import type { DnsQueryResult, DnsRecordJson, DnsService } from "./host.ts";

/** The controller's view of ferry's DNS: `/dns/query` (main resolver), DoH (the DNS service), flushes. */
export function dnsServiceOf(dns: DnsRuntime): DnsService {
  return {
    async query(name, qtype) {
      // dns-packet's own table names the type (`UNKNOWN_<n>` for those it has no name for).
      const type = rrTypes.toString(qtype) as RecordType;
      const answer = await dns.main.exchange(buildQuery(name.replace(/\.$/, "") || ".", type, { ednsSize: 0 }));
      return queryJson(answer, name, qtype);
    },
    exchange: (message) => dns.handler.handleWire(message),
    flushCache: () => dns.flushCache(),
    flushFakeIp: () => dns.flushFakeIp(),
  };
}

function queryJson(answer: DnsMessage, name: string, qtype: number): DnsQueryResult {
  const flags = answer.flags ?? 0;
  const out: DnsQueryResult = {
    Status: flags & 0xf,
    Question: [{ Name: name, Qtype: qtype, Qclass: 1 }],
    TC: (flags & 0x200) !== 0,
    RD: (flags & 0x100) !== 0,
    RA: (flags & 0x80) !== 0,
    AD: (flags & 0x20) !== 0,
    CD: (flags & 0x10) !== 0,
  };
  const section = (list: DnsAnswer[] | undefined) => (list ?? []).filter((r) => r.type !== "OPT").map(recordJson);
  const answers = section(answer.answers);
  const authority = section(answer.authorities);
  const additional = section(answer.additionals);
  if (answers.length > 0) out.Answer = answers;
  if (authority.length > 0) out.Authority = authority;
  if (additional.length > 0) out.Additional = additional;
  return out;
}

function recordJson(r: DnsAnswer): DnsRecordJson {
  const rr = r as DnsAnswer & { ttl?: number; data?: unknown };
  return { TTL: rr.ttl ?? 0, data: presentation(r.type, rr.data), name: fqdn(r.name), type: rrTypes.toType(r.type) };
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

/** The record's right-hand side as a zone file shows it. */
function presentation(type: string, data: unknown): string {
  const d = data as Record<string, unknown>;
  switch (type) {
    case "A":
    case "AAAA":
      return String(data);
    case "CNAME":
    case "PTR":
    case "NS":
    case "DNAME":
      return fqdn(String(data));
    case "MX":
      return `${d.preference} ${fqdn(String(d.exchange))}`;
    case "TXT":
      return (Array.isArray(data) ? data : [data]).map((s) => JSON.stringify(String(s))).join(" ");
    case "SRV":
      return `${d.priority} ${d.weight} ${d.port} ${fqdn(String(d.target))}`;
    case "SOA":
      return `${fqdn(String(d.mname))} ${fqdn(String(d.rname))} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case "CAA":
      return `${d.flags ?? 0} ${d.tag} ${JSON.stringify(String(d.value))}`;
    default: {
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(0);
      return `\\# ${bytes.length} ${Buffer.from(bytes).toString("hex")}`;
    }
  }
}
