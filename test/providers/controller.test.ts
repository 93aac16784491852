import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startFerry, type Ferry } from "../controller/helpers.ts";
import { until } from "./helpers.ts";

const ss = (name: string) => `{name: "${name}", type: ss, server: 127.0.0.1, port: 8388, cipher: aes-128-gcm, password: pw}`;

const sub = { body: `proxies:\n  - ${ss("HK-01")}\n  - ${ss("top")}\n`, status: 200 };
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () =>
    new Response(sub.body, { status: sub.status, headers: { "subscription-userinfo": "upload=1; download=2; total=30; expire=1790000000" } }),
});

let ferry: Ferry;
beforeAll(async () => {
  ferry = await startFerry(
    [
      "log-level: silent",
      "proxies:",
      `  - ${ss("top")}`,
      "proxy-providers:",
      `  airport: {type: http, url: 'http://127.0.0.1:${server.port}/s', health-check: {enable: true, url: 'http://127.0.0.1:1/gen', expected-status: '204'}}`,
      `  local: {type: inline, payload: [${ss("L-1")}]}`,
      "proxy-groups:",
      "  - {name: PROXY, type: select, proxies: [top], use: [airport, local]}",
    ].join("\n"),
  );
  await until(() => ferry.runtime.engine!.providers.get("airport")!.nodes.length === 2);
});
afterAll(async () => {
  await ferry.stop();
  server.stop(true);
});

type Provider = { name: string; vehicleType: string; proxies: { name: string; "provider-name": string }[]; testUrl: string; expectedStatus: string; updatedAt: string; subscriptionInfo?: unknown };

describe("/providers/proxies with proxy-providers", () => {
  test("GET lists real providers with nodes, userinfo and test URL, beside the Compatible ones", async () => {
    const body = (await (await ferry.api("/providers/proxies")).json()) as { providers: Record<string, Provider> };
    expect(Object.keys(body.providers).sort()).toEqual(["PROXY", "airport", "default", "local"]);
    const a = body.providers.airport!;
    expect(a.vehicleType).toBe("HTTP");
    expect(a.proxies.map((p) => [p.name, p["provider-name"]])).toEqual([
      ["HK-01", "airport"],
      ["top", "airport"],
    ]);
    expect(a.testUrl).toBe("http://127.0.0.1:1/gen");
    expect(a.expectedStatus).toBe("204");
    expect(a.updatedAt).not.toBe("0001-01-01T00:00:00Z");
    expect(a.subscriptionInfo).toEqual({ Upload: 1, Download: 2, Total: 30, Expire: 1790000000 });
    expect(body.providers.local!.vehicleType).toBe("Inline");
    expect(body.providers.local!.subscriptionInfo).toBeUndefined();
    // Groups list provider nodes; /proxies does not (mihomo ≥ 1.19.28), and the top-level "top" is itself.
    const proxies = (await (await ferry.api("/proxies")).json()) as { proxies: Record<string, { all?: string[]; "provider-name"?: string }> };
    expect(proxies.proxies.PROXY!.all).toEqual(["top", "HK-01", "top", "L-1"]);
    expect(proxies.proxies["HK-01"]).toBeUndefined();
    expect(proxies.proxies.top!["provider-name"]).toBe("");
  });

  test("GET one provider, one node; PUT refreshes (204) or reports the failure (503)", async () => {
    expect(((await (await ferry.api("/providers/proxies/airport")).json()) as Provider).name).toBe("airport");
    const node = (await (await ferry.api("/providers/proxies/airport/HK-01")).json()) as { name: string; "provider-name": string };
    expect(node["provider-name"]).toBe("airport");
    expect((await ferry.api("/providers/proxies/airport/nope")).status).toBe(404);
    sub.body = `proxies:\n  - ${ss("HK-02")}\n`;
    expect((await ferry.api("/providers/proxies/airport", { method: "PUT" })).status).toBe(204);
    const proxies = (await (await ferry.api("/proxies/PROXY")).json()) as { all: string[] };
    expect(proxies.all).toEqual(["top", "HK-02", "L-1"]);
    sub.status = 500;
    const failed = await ferry.api("/providers/proxies/airport", { method: "PUT" });
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { message: string }).message).toContain("HTTP 500");
    sub.status = 200;
    expect((await ferry.api("/providers/proxies/local", { method: "PUT" })).status).toBe(204);
    expect((await ferry.api("/providers/proxies/nope", { method: "PUT" })).status).toBe(404);
  });

  test("healthcheck runs the provider's check and waits for it", async () => {
    const r = await ferry.api("/providers/proxies/airport/healthcheck");
    expect(r.status).toBe(204);
    const node = (await (await ferry.api("/providers/proxies/airport/HK-02")).json()) as { history: unknown[] };
    expect(node.history.length).toBe(1);
  });
});
