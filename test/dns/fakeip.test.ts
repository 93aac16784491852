import { describe, expect, test } from "bun:test";
import { FakeIpPool } from "../../src/dns/fakeip.ts";
import { Cache } from "../../src/store/cache.ts";
import { tempDir } from "../helpers.ts";

describe("fake-IP pool", () => {
  test("allocation starts at the fourth host and a host keeps its address", () => {
    const pool = new FakeIpPool("198.18.0.1/16", undefined);
    expect(pool.lookup("a.test")).toBe("198.18.0.4");
    expect(pool.lookup("b.test")).toBe("198.18.0.5");
    expect(pool.lookup("a.test")).toBe("198.18.0.4");
    expect(pool.lookBack("198.18.0.5")).toBe("b.test");
    expect(pool.lookBack("198.18.0.9")).toBeUndefined();
    expect(pool.contains("198.18.200.1")).toBe(true);
    expect(pool.contains("198.19.0.1")).toBe(false);
    expect(pool.contains("::1")).toBe(false);
  });

  test("a full pool recycles the least recently used host's address, never the broadcast", () => {
    // /29: offsets 4, 5, 6 are usable (7 is the broadcast address).
    const pool = new FakeIpPool("10.0.0.0/29", undefined);
    expect([pool.lookup("a"), pool.lookup("b"), pool.lookup("c")]).toEqual(["10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    pool.lookBack("10.0.0.4"); // a is used again: b is now the oldest
    expect(pool.lookup("d")).toBe("10.0.0.5");
    expect(pool.lookBack("10.0.0.5")).toBe("d");
    expect(pool.lookup("a")).toBe("10.0.0.4");
    expect(pool.size).toBe(3);
  });

  test("a range with no usable address is refused", () => {
    expect(() => new FakeIpPool("10.0.0.0/30", undefined)).toThrow("too small");
    expect(() => new FakeIpPool("fd00::/64", undefined)).toThrow("IPv4");
  });

  test("fake-ip-range6 gives the same offset in the IPv6 range, and maps back", () => {
    const pool = new FakeIpPool("198.18.0.1/16", "fdfe:dcba:9876::1/64");
    expect(pool.lookup6("a.test")).toBe("fdfe:dcba:9876:0:0:0:0:4");
    expect(pool.lookup("a.test")).toBe("198.18.0.4");
    expect(pool.lookBack("fdfe:dcba:9876::4")).toBe("a.test");
    expect(pool.contains("fdfe:dcba:9876::ffff")).toBe(true);
  });

  test("flush forgets every mapping and starts over", () => {
    const pool = new FakeIpPool("198.18.0.1/16", undefined);
    pool.lookup("a.test");
    pool.flush();
    expect(pool.lookBack("198.18.0.4")).toBeUndefined();
    expect(pool.lookup("b.test")).toBe("198.18.0.4");
  });

  test("store-fake-ip: mappings survive a new pool over the same cache.db", () => {
    const dir = tempDir();
    try {
      const cache = new Cache(`${dir.path}/cache.db`);
      const store = {
        load: () => cache.entries("fakeip").map(([h, o]) => [h, Number(o)] as [string, number]),
        put: (h: string, o: number) => cache.set("fakeip", h, String(o)),
        delete: (h: string) => cache.delete("fakeip", h),
        clear: () => cache.clear("fakeip"),
      };
      const first = new FakeIpPool("198.18.0.1/16", undefined, store);
      expect(first.lookup("kept.test")).toBe("198.18.0.4");
      expect(first.lookup("also.test")).toBe("198.18.0.5");
      const second = new FakeIpPool("198.18.0.1/16", undefined, store);
      expect(second.lookBack("198.18.0.4")).toBe("kept.test");
      expect(second.lookup("new.test")).toBe("198.18.0.6");
      second.flush();
      expect(new FakeIpPool("198.18.0.1/16", undefined, store).size).toBe(0);
      cache.close();
    } finally {
      dir.remove();
    }
  });
});
