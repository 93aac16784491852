import type { TSchema } from "@sinclair/typebox";
import type { Registry } from "../core/registry.ts";
import { ConfigSchema, GroupCommonSchema, ListenerCommonSchema, ProxyCommonSchema } from "./schema.ts";

/** Merge a plugin's option schema with the shared keys and pin `type` to the registered name. */
function variant(common: TSchema, options: TSchema, type: string): object {
  const props = {
    ...(common as { properties?: object }).properties,
    ...(options as { properties?: object }).properties,
    type: { type: "string", const: type },
  };
  const required = [...new Set([...(common.required ?? []), ...(options.required ?? [])])];
  return { type: "object", properties: props, required };
}

/**
 * The JSON Schema of the whole config: the typed sections, with `proxies`, `proxy-groups` and
 * `listeners` items as one variant per registered plugin type, so editors autocomplete per type.
 */
export function configJsonSchema(registry: Registry): object {
  const root = JSON.parse(JSON.stringify(ConfigSchema)) as { properties: Record<string, object> };
  const items = (kind: "outbound" | "group" | "inbound", common: TSchema) => ({
    type: "array",
    items: { anyOf: registry.entries(kind).map((e) => JSON.parse(JSON.stringify(variant(common, e.definition.options, e.type)))) },
  });
  root.properties.proxies = items("outbound", ProxyCommonSchema);
  root.properties["proxy-groups"] = items("group", GroupCommonSchema);
  root.properties.listeners = items("inbound", ListenerCommonSchema);
  root.properties.rules = {
    type: "array",
    items: { type: "string", description: `TYPE,PAYLOAD,TARGET[,params]; types: ${registry.types("rule").join(", ")}` },
  };
  return { $schema: "http://json-schema.org/draft-07/schema#", title: "ferry config", ...root };
}
