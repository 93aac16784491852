import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, freePort, startOrigin, tempDir } from "../helpers.ts";
import { countryMmdb, put, startGeoFerry } from "./fixtures.ts";

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

/** curl through ferry to the origin on 127.0.0.1, with 127.0.0.0/8 mapped to `code` in the country DB. */
async function fetchWith(code: string): Promise<{ code: number; stdout: string }> {
  const home = tempDir("ferry-geo-e2e-");
  put(home.path, "geoip.metadb", countryMmdb([["0.0.0.0/0", "zz"], ["127.0.0.0/8", code]]));
  const port = freePort();
  const ferry = await startGeoFerry(home.path, `mixed-port: ${port}\nrules:\n  - GEOIP,XX,REJECT\n  - MATCH,DIRECT\n`);
  try {
    return await curl(["--socks5", `127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
  } finally {
    await ferry.stop();
    home.remove();
  }
}

describe("GEOIP routes real traffic", () => {
  test("127.0.0.1 in the rule's country goes to REJECT", async () => {
    const r = await fetchWith("xx");
    expect(r.stdout).toBe("");
    expect(r.code).not.toBe(0);
  });

  test("127.0.0.1 in another country goes DIRECT", async () => {
    const r = await fetchWith("yy");
    expect(r.stdout).toBe("hello from origin\n");
  });
});
