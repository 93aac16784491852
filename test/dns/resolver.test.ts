import { describe, expect, test } from "bun:test";
import { Hosts } from "../../src/dns/hosts.ts";
import { HostResolver } from "../../src/dns/resolver.ts";

/** Names answered by `hosts` only: these tests never reach the system resolver. */
const hosts = new Hosts({ "both.test": ["127.0.0.1", "::1"], "v6.test": "::1", "alias.test": "both.test" });

describe("HostResolver and ip-version", () => {
  const dual = new HostResolver(hosts, { ipv6: true });
  const v4only = new HostResolver(hosts, { ipv6: false });

  test("dual and ipv4-prefer pick IPv4 when there is one; ipv6-prefer picks IPv6", async () => {
    for (let i = 0; i < 20; i++) {
      expect(await dual.resolve("both.test")).toBe("127.0.0.1");
      expect(await dual.resolve("both.test", "ipv4-prefer")).toBe("127.0.0.1");
      expect(await dual.resolve("both.test", "ipv6-prefer")).toBe("::1");
      expect(await dual.resolve("alias.test", "ipv6")).toBe("::1");
    }
  });

  test("ipv4 and ipv6 only refuse the other family, literals too", async () => {
    await expect(dual.resolve("v6.test", "ipv4")).rejects.toThrow("no IPv4 address");
    expect(await dual.resolve("v6.test", "ipv4-prefer")).toBe("::1");
    await expect(dual.resolve("127.0.0.1", "ipv6")).rejects.toThrow("IP version");
    await expect(dual.resolve("::1", "ipv4")).rejects.toThrow("IP version");
  });

  test("the global ipv6: false switch makes every lookup IPv4-only", async () => {
    expect(await v4only.resolve("both.test", "ipv6-prefer")).toBe("127.0.0.1");
    await expect(v4only.resolve("v6.test")).rejects.toThrow("no IPv4 address");
  });
});
