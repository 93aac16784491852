/**
 * Rule-matching benchmark: 100,000 DOMAIN-SUFFIX + 100,000 IP-CIDR rules (deterministic synthetic
 * data), 1,000,000 mixed evaluations with about half of them hitting a rule. Then rule-sets, in a
 * fresh process so its RSS is theirs: 200,000 domain suffixes and 100,000 CIDRs loaded from text
 * bodies, with load time, RSS added per entry and matches per second. Human-readable figures go
 * to stderr; the last line on stdout is one JSON object for the main benchmark.
 *
 *   bun scripts/bench-rules.ts
 */
import { rulePlugins } from "../plugins/rule/index.ts";
import { parseRuleLine } from "../src/config/rules.ts";
import { Registry } from "../src/core/registry.ts";
import { Router } from "../src/core/router.ts";
import { RuleSet } from "../src/providers/rule-set.ts";
import { createMetadata, type Logger, type Metadata } from "../src/sdk/index.ts";
import { rng } from "./lib/rng.ts";

if (process.argv[2] === "--rule-sets") {
  console.log(JSON.stringify(ruleSetBench()));
  process.exit(0);
}

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

const sets = Bun.spawn([process.execPath, "--no-install", import.meta.path, "--rule-sets"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
const [setsOut, setsCode] = await Promise.all([sets.stdout.text(), sets.exited]);
if (setsCode !== 0) throw new Error(`rule-set benchmark failed (exit ${setsCode})`);
const ruleSets = JSON.parse(setsOut.trim().split("\n").pop() ?? "{}") as Record<string, number>;

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
    ...ruleSets,
  }),
);

/**
 * Rule-sets as providers load them (a text body → RuleSet), each measured on its own: load time,
 * RSS added per entry once settled (the body itself excluded), and single-core matches per second over
 * 100,000 distinct connections, half of them hits. Self-contained: it runs before the module's
 * router data exist.
 */
function ruleSetBench(): Record<string, number> {
  const DOMAINS = 200_000;
  const CIDRS = 100_000;
  const MATCHES = 2_000_000;
  const SET_BATCH = 1_000;
  const next = rng(20250302);
  const int = (n: number) => Math.floor(next() * n);
  const tlds = ["com", "net", "org", "io", "cn", "de", "jp", "ru", "uk", "co.uk", "com.cn", "info"];
  const label = () => {
    let s = "";
    for (let i = 4 + int(8); i > 0; i--) s += String.fromCharCode(97 + int(26));
    return s;
  };
  const v4 = () => `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
  const hex = () => int(65536).toString(16);
  const parse = () => {
    throw new Error("no classical sets here");
  };
  /** Sets measured earlier stay alive, so their memory is not handed back during a later measurement. */
  const kept: RuleSet[] = [];
  /** The allocator returns the pages of freed garbage in the background: RSS is read once that has happened. */
  const settle = () => {
    Bun.gc(true);
    Bun.sleepSync(1000);
    Bun.gc(true);
  };

  const measure = (name: string, behavior: "domain" | "ipcidr", entries: string[], queries: Metadata[]) => {
    const body = new TextEncoder().encode(entries.join("\n"));
    const set = new RuleSet(name, behavior, "text", parse);
    kept.push(set);
    settle();
    const rss0 = process.memoryUsage().rss;
    const t0 = Bun.nanoseconds();
    set.load(body, "bench");
    const loadMs = (Bun.nanoseconds() - t0) / 1e6;
    settle();
    const bytesPerEntry = (process.memoryUsage().rss - rss0) / entries.length;
    let hits = 0;
    for (const m of queries) if (set.match(m)) hits++;
    const batchNs: number[] = [];
    for (let done = 0; done < MATCHES; done += SET_BATCH) {
      const start = Bun.nanoseconds();
      for (let k = 0; k < SET_BATCH; k++) if (set.match(queries[(done + k) % queries.length]!)) hits++;
      batchNs.push(Bun.nanoseconds() - start);
    }
    batchNs.sort((a, b) => a - b);
    const perSec = (1e9 * SET_BATCH) / batchNs[batchNs.length >> 1]!;
    console.error(
      `rule-set ${name}: ${set.count} entries from ${body.length} bytes, load ${loadMs.toFixed(0)} ms, RSS +${bytesPerEntry.toFixed(1)} B/entry, ${(perSec / 1e6).toFixed(2)}M matches/s (${hits} hits)`,
    );
    return { loadMs: Math.round(loadMs), bytesPerEntry: Math.round(bytesPerEntry * 10) / 10, matchesPerSec: Math.round(perSec) };
  };

  const suffixes = new Set<string>();
  while (suffixes.size < DOMAINS) suffixes.add(`${next() < 0.3 ? `${label()}.` : ""}${label()}.${tlds[int(tlds.length)]}`);
  const suffixList = [...suffixes];
  const hostQueries = Array.from({ length: 100_000 }, (_, i) => {
    const host = i % 2 === 0 ? `${label()}.${suffixList[int(suffixList.length)]}` : `${label()}.${label()}.example`;
    return createMetadata({ network: "tcp", type: "HTTPS", host, destinationPort: 443 });
  });
  const domain = measure(
    "domains",
    "domain",
    suffixList.map((s) => `+.${s}`),
    hostQueries,
  );

  const cidrs = Array.from({ length: CIDRS }, (_, i) => (i % 5 !== 4 ? `${v4()}/${next() < 0.6 ? 24 : 16 + int(17)}` : `2001:${hex()}:${hex()}::/${32 + int(33)}`));
  const ipQueries = Array.from({ length: 100_000 }, (_, i) => {
    const base = cidrs[int(cidrs.length)]!;
    const ip =
      i % 2 === 0
        ? base.includes(":")
          ? `${base.slice(0, base.indexOf("::"))}::${hex()}`
          : `${base.slice(0, base.lastIndexOf("."))}.${int(256)}`
        : `${224 + int(16)}.${int(256)}.${int(256)}.${int(256)}`;
    return createMetadata({ network: "tcp", type: "HTTPS", destinationIP: ip, destinationPort: 443 });
  });
  const cidr = measure("cidrs", "ipcidr", cidrs, ipQueries);

  return {
    ruleSetDomains: DOMAINS,
    ruleSetDomainLoadMs: domain.loadMs,
    ruleSetDomainBytesPerEntry: domain.bytesPerEntry,
    ruleSetDomainMatchesPerSec: domain.matchesPerSec,
    ruleSetCidrs: CIDRS,
    ruleSetCidrLoadMs: cidr.loadMs,
    ruleSetCidrBytesPerEntry: cidr.bytesPerEntry,
    ruleSetCidrMatchesPerSec: cidr.matchesPerSec,
  };
}
