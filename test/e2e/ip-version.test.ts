import { afterAll, beforeAll, expect, test } from "bun:test";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

test("a proxy's ip-version reaches its dial: an IPv6-only direct proxy refuses an IPv4 destination", async () => {
  const port = freePort();
  const ferry = await startRuntime(
    [
      `mixed-port: ${port}`,
      "proxies:",
      "  - {name: v4, type: direct, ip-version: ipv4}",
      "  - {name: v6, type: direct, ip-version: ipv6}",
      "rules:",
      "  - MATCH,v4",
      "listeners:",
      "  - {name: via-v6, type: mixed, port: 0, listen: 127.0.0.1, proxy: v6}",
    ].join("\n"),
  );
  try {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    const ok = await curl(["-x", `http://127.0.0.1:${port}`, url]);
    expect(ok.stdout).toBe("hello from origin\n");
    const viaV6 = ferry.engine.addresses("via-v6")[0]!;
    const refused = await curl(["-x", `http://${viaV6}`, "-o", "/dev/null", "-w", "%{http_code}", url]);
    expect(refused.stdout).toBe("502");
  } finally {
    await ferry.stop();
  }
});
