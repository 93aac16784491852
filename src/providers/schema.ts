import { type Static, Type as t } from "@sinclair/typebox";

/** `health-check` of a proxy provider (config.md §9). */
export const ProviderHealthCheckSchema = t.Object({
  enable: t.Optional(t.Boolean()),
  url: t.Optional(t.String()),
  interval: t.Optional(t.Integer()),
  timeout: t.Optional(t.Integer()),
  lazy: t.Optional(t.Boolean()),
  "expected-status": t.Optional(t.String()),
});

/** The keys both provider kinds share: where the content comes from and how it is fetched. */
function fetchKeys() {
  return {
    type: t.Union([t.Literal("http"), t.Literal("file"), t.Literal("inline")]),
    url: t.Optional(t.String()),
    path: t.Optional(t.String()),
    interval: t.Optional(t.Integer({ minimum: 0 })),
    proxy: t.Optional(t.String()),
    header: t.Optional(t.Record(t.String(), t.Array(t.String()))),
    "size-limit": t.Optional(t.Integer({ minimum: 0 })),
  };
}

/** One `proxy-providers` entry. `override` holds any proxy field, so it is a free map checked by hand. */
export const ProxyProviderSchema = t.Object({
  ...fetchKeys(),
  "health-check": t.Optional(ProviderHealthCheckSchema),
  filter: t.Optional(t.String()),
  "exclude-filter": t.Optional(t.String()),
  "exclude-type": t.Optional(t.String()),
  "dialer-proxy": t.Optional(t.String()),
  override: t.Optional(t.Record(t.String(), t.Unknown())),
  payload: t.Optional(t.Array(t.Unknown())),
});

export type ProxyProviderOptions = Static<typeof ProxyProviderSchema>;

/** One `rule-providers` entry (config.md §10). `format: ""` is yaml, as in mihomo. */
export const RuleProviderSchema = t.Object({
  behavior: t.Union([t.Literal("domain"), t.Literal("ipcidr"), t.Literal("classical")]),
  format: t.Optional(t.Union([t.Literal(""), t.Literal("yaml"), t.Literal("text"), t.Literal("mrs")])),
  ...fetchKeys(),
  payload: t.Optional(t.Array(t.String())),
});

export type RuleProviderOptions = Static<typeof RuleProviderSchema>;
