import {
  API_VERSION,
  definePlugin,
  type IpPrefix,
  type Metadata,
  parseIp,
  parsePrefix,
  prefixContains,
  type Rule,
  type RuleIndex,
  suffixMatches,
} from "../../../src/sdk/index.ts";

/** Reused for every parse: matching is synchronous, so one buffer per plugin is enough. */
const scratch = new Uint32Array(4);

/** mihomo's params: `src` matches the source address and implies no resolution. */
function flags(params: string[], forceSource: boolean): { source: boolean; noResolve: boolean } {
  const source = forceSource || params.includes("src");
  return { source, noResolve: source || params.includes("no-resolve") };
}

/*
 * Classes rather than closures: IP-CIDR lists run to tens of thousands of lines, and a class keeps
 * each rule one small object with the index hint built only when the router asks for it.
 */
abstract class AddressRule implements Rule {
  readonly needsIp: boolean;
  constructor(
    readonly type: string,
    readonly payload: string,
    protected readonly prefix: IpPrefix,
    protected readonly source: boolean,
    noResolve: boolean,
  ) {
    this.needsIp = !noResolve;
  }
  protected abstract test(family: number, words: Uint32Array): boolean;
  match(m: Metadata): boolean {
    const ip = this.source ? m.sourceIP : m.destinationIP;
    if (ip === "") return false;
    const family = parseIp(ip, scratch);
    return family !== 0 && this.test(family, scratch);
  }
}

class CidrRule extends AddressRule {
  constructor(payload: string, source: boolean, noResolve: boolean) {
    super(source ? "SrcIPCIDR" : "IPCIDR", payload, parsePrefix(payload), source, noResolve);
  }
  /** Destination prefixes are indexed whether or not they resolve; the router keeps no-resolve order. */
  get index(): RuleIndex | undefined {
    return this.source ? undefined : { kind: "ip-cidr", value: this.payload };
  }
  protected test(family: number, words: Uint32Array): boolean {
    return prefixContains(this.prefix, family, words);
  }
}

/** IP-SUFFIX: the last `bits` bits. Full length (/32, /128) crashes mihomo; here it is an exact match. */
class IpSuffixRule extends AddressRule {
  constructor(payload: string, source: boolean, noResolve: boolean) {
    super(source ? "SrcIPSuffix" : "IPSuffix", payload, parsePrefix(payload), source, noResolve);
  }
  protected test(family: number, words: Uint32Array): boolean {
    return suffixMatches(this.prefix, family, words);
  }
}

export default definePlugin({
  name: "rule-ip",
  apiVersion: API_VERSION,
  setup(host) {
    const cidr = (forceSource: boolean) => ({
      parse(payload: string, params: string[]): Rule {
        const { source, noResolve } = flags(params, forceSource);
        return new CidrRule(payload.toLowerCase(), source, noResolve);
      },
    });
    // IP-CIDR and IP-CIDR6 are aliases: both accept either family.
    host.registerRule("IP-CIDR", cidr(false));
    host.registerRule("IP-CIDR6", cidr(false));
    host.registerRule("SRC-IP-CIDR", cidr(true));

    const suffix = (forceSource: boolean) => ({
      parse(payload: string, params: string[]): Rule {
        const { source, noResolve } = flags(params, forceSource);
        return new IpSuffixRule(payload.toLowerCase(), source, noResolve);
      },
    });
    host.registerRule("IP-SUFFIX", suffix(false));
    host.registerRule("SRC-IP-SUFFIX", suffix(true));
  },
});
