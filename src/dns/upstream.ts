import type { Resolver } from "../sdk/types.ts";
import { addressesOf, type DecodedMessage, decodeMessage, type DnsMessage, encodeMessage, RCODE, rcodeName, rcodeOf } from "./message.ts";
import type { NameserverSpec } from "./nameserver.ts";

export interface Upstream {
  spec: NameserverSpec;
  resolver: Resolver;
}

/** Bound on one exchange with a list (config.md §5.2: 5 s per query). */
const EXCHANGE_TIMEOUT_MS = 5_000;

/**
 * One nameserver list (`nameserver`, `fallback`, a policy's servers). Every server is asked at
 * once; the first answer that is usable wins (config.md §5.2): SERVFAIL and REFUSED count as
 * failures, and for A/AAAA an answer without addresses is kept only when no server has any.
 */
export class NameserverGroup {
  constructor(readonly upstreams: readonly Upstream[]) {}

  get names(): string[] {
    return this.upstreams.map((u) => u.spec.text);
  }

  exchange(query: DnsMessage): Promise<DecodedMessage> {
    const wire = encodeMessage(query);
    const type = query.questions?.[0]?.type;
    const wantsAddresses = type === "A" || type === "AAAA";
    const signal = AbortSignal.timeout(EXCHANGE_TIMEOUT_MS);
    return new Promise((resolve, reject) => {
      let pending = this.upstreams.length;
      let empty: DecodedMessage | undefined;
      const errors: string[] = [];
      const settle = () => {
        if (--pending > 0) return;
        if (empty) resolve(empty);
        else reject(new Error(`all nameservers failed: ${errors.join("; ")}`));
      };
      if (pending === 0) {
        reject(new Error("no nameserver configured"));
        return;
      }
      for (const u of this.upstreams) {
        // Each plugin gets its own copy: Buffer.slice would share the bytes it may rewrite (id, ECS).
        u.resolver.exchange(new Uint8Array(wire), { signal }).then(
          (bytes) => {
            let answer: DecodedMessage;
            try {
              answer = decodeMessage(bytes);
            } catch (err) {
              errors.push(`${u.spec.text}: ${err instanceof Error ? err.message : String(err)}`);
              return settle();
            }
            const rcode = rcodeOf(answer);
            if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
              errors.push(`${u.spec.text}: ${rcodeName(rcode)}`);
            } else if (wantsAddresses && rcode === RCODE.NOERROR && addressesOf(answer).length === 0) {
              empty ??= answer;
            } else {
              pending = Number.POSITIVE_INFINITY;
              resolve(answer);
              return;
            }
            settle();
          },
          (err) => {
            errors.push(`${u.spec.text}: ${err instanceof Error ? err.message : String(err)}`);
            settle();
          },
        );
      }
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.upstreams.map((u) => u.resolver.close?.()));
  }
}
