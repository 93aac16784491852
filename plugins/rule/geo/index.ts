import {
  API_VERSION,
  definePlugin,
  type GeoMatcher,
  isLanAddress,
  type Metadata,
  type Rule,
  type RuleParseContext,
  UserError,
} from "../../../src/sdk/index.ts";

/** mihomo's params: `src` matches the source address and implies no resolution. */
function flags(params: string[], forceSource: boolean): { source: boolean; noResolve: boolean } {
  const source = forceSource || params.includes("src");
  return { source, noResolve: source || params.includes("no-resolve") };
}

/** A rule on the destination (or source) address through a geodata matcher. */
class AddressGeoRule implements Rule {
  readonly needsIp: boolean;
  constructor(
    readonly type: string,
    readonly payload: string,
    private readonly test: GeoMatcher | ((ip: string) => boolean),
    private readonly source: boolean,
    noResolve: boolean,
  ) {
    this.needsIp = !noResolve;
  }
  /** Entries behind the rule (`size` in /rules); 0 for MMDB lookups and `lan`, as mihomo reports. */
  get size(): number {
    return "size" in this.test ? this.test.size : 0;
  }
  match(m: Metadata): boolean {
    const ip = this.source ? m.sourceIP : m.destinationIP;
    return ip !== "" && this.test(ip);
  }
}

class GeoSiteRule implements Rule {
  readonly type = "GeoSite";
  readonly needsIp = false;
  constructor(
    readonly payload: string,
    private readonly test: GeoMatcher,
  ) {}
  get size(): number {
    return this.test.size;
  }
  match(m: Metadata): boolean {
    const host = m.sniffHost || m.host;
    // Checked before a negation too: `GEOSITE,!cn` does not match connections without a host (mihomo).
    return host !== "" && this.test(host);
  }
}

function checked(matcher: GeoMatcher, ctx: RuleParseContext): GeoMatcher {
  if (matcher.warning) ctx.warn(matcher.warning);
  return matcher;
}

function nonEmpty(payload: string, what: string): string {
  if (payload === "") throw new UserError(`empty ${what}`);
  return payload;
}

export default definePlugin({
  name: "rule-geo",
  apiVersion: API_VERSION,
  setup(host) {
    const geoip = (forceSource: boolean) => ({
      parse(payload: string, params: string[], ctx: RuleParseContext): Rule {
        const { source, noResolve } = flags(params, forceSource);
        // mihomo lower-cases the code, and prints it so in /rules.
        const code = nonEmpty(payload, "country code").toLowerCase();
        const type = source ? "SrcGeoIP" : "GeoIP";
        const test = code === "lan" ? isLanAddress : checked(ctx.geo.geoip(code), ctx);
        return new AddressGeoRule(type, code, test, source, noResolve);
      },
    });
    host.registerRule("GEOIP", geoip(false));
    host.registerRule("SRC-GEOIP", geoip(true));

    const asn = (forceSource: boolean) => ({
      parse(payload: string, params: string[], ctx: RuleParseContext): Rule {
        const { source, noResolve } = flags(params, forceSource);
        const test = checked(ctx.geo.ipAsn(nonEmpty(payload, "AS number")), ctx);
        return new AddressGeoRule(source ? "SrcIPASN" : "IPASN", payload, test, source, noResolve);
      },
    });
    host.registerRule("IP-ASN", asn(false));
    host.registerRule("SRC-IP-ASN", asn(true));

    host.registerRule("GEOSITE", {
      parse(payload, _params, ctx): Rule {
        return new GeoSiteRule(payload, checked(ctx.geo.site(nonEmpty(payload, "geosite code")), ctx));
      },
    });
  },
});
