import { domainToASCII } from "node:url";
import { API_VERSION, definePlugin, type Metadata, type Rule, type RuleIndex, UserError } from "../../../src/sdk/index.ts";

/** Domain rules look at the sniffed host when the sniffer found one, else the requested host (config.md §11.2). */
function ruleHost(m: Metadata): string {
  return m.sniffHost || m.host;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Lower-case and punycode a payload; hosts arrive lower-case and ASCII. Only non-ASCII labels go
 * through `domainToASCII`: it parses URL syntax, so `a?b.com` would otherwise come back as `a`.
 */
function toAsciiDomain(payload: string): string {
  const lower = payload.toLowerCase();
  if (ASCII.test(lower)) return lower;
  return lower
    .split(".")
    .map((label) => (ASCII.test(label) ? label : domainToASCII(label) || label))
    .join(".");
}

function nonEmpty(payload: string, what: string): string {
  if (payload === "") throw new UserError(`empty ${what}`);
  return payload;
}

/** `*` = any run of characters (dots and nothing included), `?` = exactly one character. */
function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length) {
      const c = pattern.charCodeAt(p);
      if (c === 42) {
        star = p++;
        mark = t;
        continue;
      }
      if (c === 63 || c === text.charCodeAt(t)) {
        p++;
        t++;
        continue;
      }
    }
    if (star < 0) return false;
    p = star + 1;
    t = ++mark;
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++;
  return p === pattern.length;
}

/*
 * DOMAIN and DOMAIN-SUFFIX are the rules configs hold by the ten thousand: classes keep each one to
 * a small object (no closure per rule, the index hint built only when the router asks).
 */
class DomainRule implements Rule {
  readonly type = "Domain";
  readonly needsIp = false;
  constructor(
    readonly payload: string,
    private readonly domain: string,
  ) {}
  get index(): RuleIndex {
    return { kind: "domain", value: this.domain };
  }
  match(m: Metadata): boolean {
    return ruleHost(m) === this.domain;
  }
}

class DomainSuffixRule implements Rule {
  readonly type = "DomainSuffix";
  readonly needsIp = false;
  constructor(
    readonly payload: string,
    private readonly suffix: string,
  ) {}
  get index(): RuleIndex {
    return { kind: "domain-suffix", value: this.suffix };
  }
  match(m: Metadata): boolean {
    const h = ruleHost(m);
    const s = this.suffix;
    // Label boundary: `google.com` matches `a.google.com`, never `notgoogle.com`.
    return h === s || (h.length > s.length && h.endsWith(s) && h.charCodeAt(h.length - s.length - 1) === 46);
  }
}

export default definePlugin({
  name: "rule-domain",
  apiVersion: API_VERSION,
  setup(host) {
    host.registerRule("DOMAIN", {
      parse: (payload) => new DomainRule(payload.toLowerCase(), toAsciiDomain(nonEmpty(payload, "domain"))),
    });

    host.registerRule("DOMAIN-SUFFIX", {
      parse(payload, _params, ctx): Rule {
        const suffix = toAsciiDomain(nonEmpty(payload, "domain suffix"));
        const first = suffix.charAt(0);
        if (first === "." || first === "+" || first === "*") {
          ctx.warn(
            `suffix "${payload}" starts with "${first}" and never matches (mihomo does not strip it); write "${suffix.replace(/^[.+*]+\.?/, "")}"`,
          );
        }
        if (suffix.endsWith(".")) ctx.warn(`suffix "${payload}" ends with "." and never matches (hosts are compared without it)`);
        return new DomainSuffixRule(payload.toLowerCase(), suffix);
      },
    });

    host.registerRule("DOMAIN-KEYWORD", {
      parse(payload): Rule {
        const keyword = toAsciiDomain(nonEmpty(payload, "keyword"));
        return {
          type: "DomainKeyword",
          payload: payload.toLowerCase(),
          needsIp: false,
          match: (m) => {
            const h = ruleHost(m);
            return h !== "" && h.includes(keyword);
          },
        };
      },
    });

    host.registerRule("DOMAIN-REGEX", {
      payloadTakesRest: true,
      parse(payload): Rule {
        // mihomo uses .NET-style regexes, always case-insensitive; a leading `(?i)` (which JS lacks) is redundant.
        const source = nonEmpty(payload, "regex").replace(/^\(\?i\)/, "");
        let re: RegExp;
        try {
          re = new RegExp(source, "i");
        } catch (err) {
          throw new UserError(`invalid regex "${payload}": ${(err as Error).message}`);
        }
        return {
          type: "DomainRegex",
          payload,
          needsIp: false,
          // Tested against "" too: a regex that matches the empty string also matches host-less connections.
          match: (m) => re.test(ruleHost(m)),
        };
      },
    });

    host.registerRule("DOMAIN-WILDCARD", {
      parse(payload): Rule {
        const pattern = toAsciiDomain(nonEmpty(payload, "wildcard pattern"));
        return {
          type: "DomainWildcard",
          payload: pattern,
          needsIp: false,
          match: (m) => {
            const h = ruleHost(m);
            return h !== "" && globMatch(pattern, h);
          },
        };
      },
    });
  },
});
