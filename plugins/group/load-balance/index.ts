import { getDomain } from "tldts";
import { API_VERSION, definePlugin, type Metadata, type Outbound, t } from "../../../src/sdk/index.ts";
import { groupHealth, groupOptions, makeGroup, testUrl } from "../common.ts";

/** Probes of the hash for an alive member before scanning the list (mihomo's maxRetry). */
const MAX_PROBES = 5;
const STICKY_TTL_MS = 10 * 60_000;
const STICKY_ENTRIES = 1000;

/** Google's jump consistent hash: the bucket of `key` among `buckets`, stable when buckets are added. */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = BigInt.asUintN(64, k * 2862933555777941757n + 1n);
    j = Math.floor((b + 1) * (2 ** 31 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** The destination key: eTLD+1 of the host (so a site's subdomains share a member), else the IP. */
function destinationKey(m: Metadata): string {
  if (m.host) return getDomain(m.host) ?? m.host;
  return m.destinationIP;
}

function hashOf(text: string): bigint {
  return BigInt(Bun.hash(text));
}

/** `load-balance`: one member per connection by `strategy`; always reports UDP unless `disable-udp`. */
export default definePlugin({
  name: "group-load-balance",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerGroup("load-balance", {
      options: t.Object({
        ...groupOptions,
        strategy: t.Optional(t.Union([t.Literal("consistent-hashing"), t.Literal("round-robin"), t.Literal("sticky-sessions")])),
      }),
      create(o, ctx) {
        const url = testUrl(o);
        const alive = (m: Outbound) => ctx.health.alive(m, url);
        const firstAlive = (members: Outbound[]) => members.find(alive) ?? members[0]!;
        let next = 0;
        const sticky = new Map<bigint, { index: number; expires: number }>();
        const strategies = {
          "consistent-hashing": (members: Outbound[], m: Metadata): Outbound => {
            let key = hashOf(destinationKey(m));
            for (let i = 0; i < MAX_PROBES; i++, key = BigInt.asUintN(64, key + 1n)) {
              const member = members[jumpHash(key, members.length)]!;
              if (alive(member)) return member;
            }
            return firstAlive(members);
          },
          "round-robin": (members: Outbound[]): Outbound => {
            for (let i = 0; i < members.length; i++) {
              const index = (next + i) % members.length;
              if (alive(members[index]!)) {
                next = index + 1;
                return members[index]!;
              }
            }
            return members[0]!;
          },
          "sticky-sessions": (members: Outbound[], m: Metadata): Outbound => {
            const key = hashOf(`${m.sourceIP}|${destinationKey(m)}`);
            const now = Date.now();
            const cached = sticky.get(key);
            // A dead or departed member is replaced by a new random draw, as mihomo does.
            let index = cached && cached.expires > now && cached.index < members.length ? cached.index : jumpHash(key + BigInt(now), members.length);
            for (let i = 1; i < MAX_PROBES; i++) {
              if (alive(members[index]!)) {
                remember(key, index, now);
                return members[index]!;
              }
              index = jumpHash(key + BigInt(now + i), members.length);
            }
            remember(key, 0, now);
            return members[0]!;
          },
        };
        const remember = (key: bigint, index: number, now: number) => {
          sticky.delete(key);
          sticky.set(key, { index, expires: now + STICKY_TTL_MS });
          // Map order is insertion order: the first key is the least recently used.
          if (sticky.size > STICKY_ENTRIES) sticky.delete(sticky.keys().next().value!);
        };
        const strategy = strategies[o.strategy ?? "consistent-hashing"];
        return makeGroup(
          o,
          ctx,
          {
            type: "LoadBalance",
            udpAlways: true,
            pick: (members, metadata) => (metadata ? strategy(members, metadata) : firstAlive(members)),
          },
          groupHealth(o, ctx, true),
        );
      },
    });
  },
});
