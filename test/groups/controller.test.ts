/** What dashboards read of the new group types in `/proxies` (controller-api.md §8.2). */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Ferry, startFerry } from "../controller/helpers.ts";
import { type ProxyStub, startProxyStub } from "./helpers.ts";

const URL = "http://127.0.0.1:9/generate_204";
let stubs: ProxyStub[];
let ferry: Ferry;

beforeAll(async () => {
  stubs = [startProxyStub(50), startProxyStub(0)];
  ferry = await startFerry(
    [
      "proxies:",
      ...stubs.map((s, i) => `  - {name: p${i}, type: http, server: 127.0.0.1, port: ${s.port}}`),
      "proxy-groups:",
      `  - {name: auto, type: url-test, proxies: [p0, p1], url: "${URL}", interval: 3600, lazy: false}`,
      `  - {name: fb, type: fallback, proxies: [p0, p1], url: "${URL}"}`,
      `  - {name: lb, type: load-balance, proxies: [p0, p1], url: "${URL}"}`,
    ].join("\n"),
  );
  await ferry.runtime.engine!.health.checkAll();
});
afterAll(async () => {
  await ferry.stop();
  for (const s of stubs) s.stop();
});

type ProxyJson = { alive: boolean; history: { delay: number }[]; extra: Record<string, { alive: boolean }>; now?: string; fixed?: string; type: string; testUrl: string };
const get = async (name: string) => (await (await ferry.api(`/proxies/${name}`)).json()) as ProxyJson;

test("members carry the group checks' history; url-test shows now and fixed; a pin shows and is cleared by DELETE", async () => {
  const p1 = await get("p1");
  expect(p1.alive).toBe(true);
  expect(p1.history.length).toBeGreaterThanOrEqual(1);
  expect(p1.extra[URL]?.alive).toBe(true);
  let auto = await get("auto");
  expect(auto).toMatchObject({ type: "URLTest", now: "p1", fixed: "", testUrl: URL });
  expect((await ferry.api("/proxies/auto", { method: "PUT", body: JSON.stringify({ name: "p0" }) })).status).toBe(204);
  auto = await get("auto");
  expect(auto).toMatchObject({ now: "p0", fixed: "p0" });
  expect((await ferry.api("/proxies/auto", { method: "DELETE" })).status).toBe(204);
  expect(await get("auto")).toMatchObject({ now: "p1", fixed: "" });
  expect(await get("fb")).toMatchObject({ type: "Fallback", now: "p0", fixed: "" });
  const lb = await get("lb");
  expect(lb.type).toBe("LoadBalance");
  expect(lb.now).toBeUndefined();
});
