/**
 * ferry's plugin SDK: the only module a plugin imports. External plugins import it as "ferry:sdk"
 * and get the host's own instance (see src/core/plugin-loader.ts).
 */
import { Type } from "@sinclair/typebox";
import type { Plugin } from "./types.ts";

export * from "./metadata.ts";
export * from "./stream.ts";
export * from "./types.ts";
export { parsePortRanges, portInRanges, type PortRanges } from "./ports.ts";
export * from "./ip.ts";
export { normalizeHost } from "./host.ts";
export type * from "./transports.ts";
/** TypeBox's builder, under the name Elysia users know. */
export { Type as t };
export type { Static, TSchema } from "@sinclair/typebox";

/** Identity helper that gives a plugin object its type. */
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}
