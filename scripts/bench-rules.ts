/**
 * Rule-matching benchmark: 100,000 DOMAIN-SUFFIX + 100,000 IP-CIDR rules (deterministic synthetic
 * data), 1,000,000 mixed evaluations with about half of them hitting a rule. Human-readable figures go
 * to stderr; the last line on stdout is one JSON object for the main benchmark.
 *
 *   bun scripts/bench-rules.ts
 */
import { rulePlugins } from "../plugins/rule/index.ts";
import { parseRuleLine } from "../src/config/rules.ts";
import { Registry } from "../src/core/registry.ts";
import { Router } from "../src/core/router.ts";
import { createMetadata, type Logger, type Metadata } from "../src/sdk/index.ts";
import { rng } from "./lib/rng.ts";

const SUFFIX_RULES = 100_000;
const CIDR_RULES = 100_000;
const EVALUATIONS = 1_000_000;
const BATCH = 1_000;
/** Distinct queries, cycled: 1M metadata objects would measure the allocator, not the router. */
const QUERIES = 100_000;

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

const next = rng(20250301);
const int = (n: number) => Math.floor(next() * n);
const TLDS = ["com", "net", "org", "io", "cn", "de", "jp", "ru", "uk", "co.uk", "com.cn", "info"];
const label = () => {
  const len = 4 + int(8);
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(97 + int(26));
  return s;
};
/** Like bun-probe §8: random labels, 30% with an extra sub-label. */
const domain = () => `${next() < 0.3 ? `${label()}.` : ""}${label()}.${TLDS[int(TLDS.length)]}`;
const v4 = () => `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
const hex = () => int(65536).toString(16);

const suffixes = new Set<string>();
while (suffixes.size < SUFFIX_RULES) suffixes.add(domain());
const suffixList = [...suffixes];

/** 80% IPv4 /16–/32 (mostly /24), 20% IPv6 /32–/64. */
const cidrs: string[] = [];
for (let i = 0; i < CIDR_RULES; i++) {
  if (i % 5 !== 4) {
    const bits = next() < 0.6 ? 24 : 16 + int(17);
    cidrs.push(`${v4()}/${bits}`);
  } else {
    cidrs.push(`2001:${hex()}:${hex()}::/${32 + int(33)}`);
  }
}
const lines = [...suffixList.map((s, i) => `DOMAIN-SUFFIX,${s},S${i}`), ...cidrs.map((c, i) => `IP-CIDR,${c},C${i}`), "MATCH,M"];

/** Half the queries are built to hit (a sub-domain of a rule, an address inside a rule's prefix). */
const queries: Metadata[] = [];
for (let i = 0; i < QUERIES; i++) {
  const hit = i % 2 === 0;
  if (i % 4 < 2) {
    // Domain requests carry an address too (hosts entry, fake-ip reverse) so no DNS is involved.
    const host = hit ? `${label()}.${suffixList[int(suffixList.length)]}` : `${label()}.${label()}.example`;
    queries.push(createMetadata({ network: "tcp", type: "HTTPS", host, destinationIP: v4(), destinationPort: 443 }));
  } else {
    const base = cidrs[int(cidrs.length)]!;
    const ip = hit
      ? base.includes(":")
        ? `${base.slice(0, base.indexOf("::"))}::${hex()}`
        : `${base.slice(0, base.lastIndexOf("."))}.${int(256)}`
      : next() < 0.8
        ? `${224 + int(16)}.${int(256)}.${int(256)}.${int(256)}`
        : `2001:db8:${hex()}::${hex()}`;
    queries.push(createMetadata({ network: "tcp", type: "HTTPS", destinationIP: ip, destinationPort: 443 }));
  }
}

const registry = new Registry();
for (const plugin of rulePlugins) await registry.load(plugin, "builtin", quiet);

Bun.gc(true);
const heapBefore = process.memoryUsage().heapUsed;
const t0 = Bun.nanoseconds();
const parsed = lines.map((line) => parseRuleLine(line, registry, () => {}));
const t1 = Bun.nanoseconds();
const router = new Router(parsed, { resolve: () => Promise.reject(new Error("no DNS in the benchmark")), log: quiet });
const t2 = Bun.nanoseconds();
Bun.gc(true);
const heapMB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

const accept = () => true;
let hits = 0;
for (const m of queries) {
  const r = router.match(m, accept);
  if (r instanceof Promise) throw new Error("benchmark queries must not need DNS");
  if (r.target !== "M") hits++;
}
// Warm-up pass above also JIT-compiles the hot path; now time batches and take the median.
const batchNs: number[] = [];
let sink = 0;
for (let done = 0; done < EVALUATIONS; done += BATCH) {
  const start = Bun.nanoseconds();
  for (let k = 0; k < BATCH; k++) {
    const r = router.match(queries[(done + k) % QUERIES]!, accept) as { target: string };
    sink += r.target.length;
  }
  batchNs.push(Bun.nanoseconds() - start);
}
batchNs.sort((a, b) => a - b);
const nsPerMatch = batchNs[batchNs.length >> 1]! / BATCH;
const mean = batchNs.reduce((a, b) => a + b, 0) / EVALUATIONS;

const buildMs = (t2 - t0) / 1e6;
console.error(
  `rules: ${SUFFIX_RULES} DOMAIN-SUFFIX + ${CIDR_RULES} IP-CIDR; parse ${((t1 - t0) / 1e6).toFixed(0)} ms, compile ${((t2 - t1) / 1e6).toFixed(0)} ms, heap +${heapMB.toFixed(1)} MB`,
);
console.error(
  `matching: ${EVALUATIONS} evaluations over ${QUERIES} queries, hit rate ${((100 * hits) / QUERIES).toFixed(1)}%; median ${nsPerMatch.toFixed(0)} ns, mean ${mean.toFixed(0)} ns per evaluation (checksum ${sink})`,
);
console.log(
  JSON.stringify({
    suffixRules: SUFFIX_RULES,
    cidrRules: CIDR_RULES,
    buildMs: Math.round(buildMs),
    heapMB: Math.round(heapMB * 10) / 10,
    nsPerMatch: Math.round(nsPerMatch),
  }),
);
