import type { Outbound } from "../sdk/types.ts";
import { applyFilter, compileFilter, compileTypes } from "./filter.ts";
import type { ProxyProvider } from "./provider.ts";

export interface MembershipOptions {
  filter?: string;
  "exclude-filter"?: string;
  "exclude-type"?: string;
}

/**
 * A group's live member list (config.md §8.1): explicit members, then each used provider's nodes
 * in `use` order; `filter` on the provider nodes (reordering by first matching regex), then
 * `exclude-type` and `exclude-filter` on all. Recomputed only when a provider's version moved, so
 * groups may call it per connection.
 */
export function liveMembers(explicit: () => Outbound[], providers: ProxyProvider[], options: MembershipOptions): () => Outbound[] {
  const filters = compileFilter(options.filter);
  const excludes = compileFilter(options["exclude-filter"]);
  const types = compileTypes(options["exclude-type"]);
  let seen = -1;
  let seenExplicit = -1;
  let cached: Outbound[] = [];
  return () => {
    let version = 0;
    for (const p of providers) version += p.version;
    const direct = explicit();
    // Explicit members only change while the engine creates its groups (a later group appears).
    if (version === seen && direct.length === seenExplicit) return cached;
    const fromProviders = applyFilter(
      providers.flatMap((p) => p.nodes),
      (o) => o.name,
      filters,
    );
    let all = [...direct, ...fromProviders];
    if (types) all = all.filter((o) => !types.has(o.type.toLowerCase()));
    if (excludes) all = all.filter((o) => !excludes.some((r) => r.test(o.name)));
    seen = version;
    seenExplicit = direct.length;
    cached = all;
    return all;
  };
}
