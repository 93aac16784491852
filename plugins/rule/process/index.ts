import { API_VERSION, definePlugin, type Metadata, type Rule, type RuleParseContext, UserError } from "../../../src/sdk/index.ts";
import { inUintRanges, parseUintRanges } from "../uint-ranges.ts";

/** ferry looks up socket owners through Linux's /proc only. */
const SUPPORTED = process.platform === "linux" || process.platform === "android";

const nameOf = (m: Metadata) => m.process;
const pathOf = (m: Metadata) => m.processPath;

function checkPlatform(ctx: RuleParseContext): void {
  if (!SUPPORTED) ctx.warn(`process lookup is implemented on Linux only: on ${process.platform} this rule never matches`);
}

/** mihomo's regexes are .NET-style and case-insensitive; a leading `(?i)` (which JS lacks) is redundant. */
function regex(payload: string): RegExp {
  try {
    return new RegExp(payload.replace(/^\(\?i\)/, ""), "i");
  } catch (err) {
    throw new UserError(`invalid regex "${payload}": ${(err as Error).message}`);
  }
}

/** The whole text matches; `*` = any run of characters, `?` = one character; case-insensitive (mihomo's wildcard on lower-cased text). */
function wildcard(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^]*")
    .replace(/\?/g, "[^]");
  return new RegExp(`^${source}$`, "i");
}

export default definePlugin({
  name: "rule-process",
  apiVersion: API_VERSION,
  setup(host) {
    const exact = (type: string, of: (m: Metadata) => string, what: string) => ({
      parse(payload: string, _params: string[], ctx: RuleParseContext): Rule {
        checkPlatform(ctx);
        // mihomo compares as written, so "" matches every connection whose process was not found.
        if (payload === "") ctx.warn(`empty ${what} matches every connection whose process is unknown`);
        const lower = payload.toLowerCase();
        return { type, payload, needsIp: false, needsProcess: true, match: (m) => of(m).toLowerCase() === lower };
      },
    });
    const pattern = (type: string, of: (m: Metadata) => string, compile: (payload: string) => RegExp) => ({
      parse(payload: string, _params: string[], ctx: RuleParseContext): Rule {
        checkPlatform(ctx);
        const re = compile(payload);
        // Tested against "" too (a process not found), as mihomo does.
        return { type, payload, needsIp: false, needsProcess: true, match: (m) => re.test(of(m)) };
      },
    });
    host.registerRule("PROCESS-NAME", exact("ProcessName", nameOf, "process name"));
    host.registerRule("PROCESS-PATH", exact("ProcessPath", pathOf, "process path"));
    host.registerRule("PROCESS-NAME-REGEX", { payloadTakesRest: true, ...pattern("ProcessNameRegex", nameOf, regex) });
    host.registerRule("PROCESS-PATH-REGEX", { payloadTakesRest: true, ...pattern("ProcessPathRegex", pathOf, regex) });
    host.registerRule("PROCESS-NAME-WILDCARD", pattern("ProcessNameWildcard", nameOf, wildcard));
    host.registerRule("PROCESS-PATH-WILDCARD", pattern("ProcessPathWildcard", pathOf, wildcard));

    host.registerRule("UID", {
      parse(payload, _params, ctx): Rule {
        if (!SUPPORTED) throw new UserError(`UID rules are not supported on ${process.platform} (Linux and Android only, as in mihomo)`);
        const ranges = parseUintRanges(payload, 0xffffffff, "uid");
        if (ranges.length === 0) throw new UserError(`UID needs uids or uid ranges, e.g. 1000 or 1000-1999/2000, not "${payload}"`);
        if (inUintRanges(ranges, 0)) ctx.warn("uid 0 (root) never matches: mihomo reads 0 as unknown");
        return { type: "Uid", payload, needsIp: false, needsProcess: true, match: (m) => m.uid !== 0 && inUintRanges(ranges, m.uid) };
      },
    });
  },
});
