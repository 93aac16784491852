import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, freePort, startOrigin, startRuntime } from "../helpers.ts";

let origin: ReturnType<typeof startOrigin>;
beforeAll(() => {
  origin = startOrigin();
});
afterAll(() => origin.stop());

/** Fetch the origin through ferry's mixed port over HTTP and SOCKS5, with optional credentials. */
async function both(port: number, user?: string) {
  const url = `http://127.0.0.1:${origin.port}/hello`;
  const auth = user ? ["--proxy-user", user] : [];
  const http = await curl(["-x", `http://127.0.0.1:${port}`, ...auth, "-o", "/dev/null", "-w", "%{http_code}", url]);
  const socks = await curl(["-x", `socks5h://${user ? `${user}@` : ""}127.0.0.1:${port}`, url]);
  return { http: http.stdout, socks: socks.stdout };
}

describe("general access keys", () => {
  test("authentication: credentials required on HTTP and SOCKS5; a password may contain ':'", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nauthentication: ["alice:pa:ss"]\n`);
    try {
      expect(await both(port)).toEqual({ http: "407", socks: "" });
      expect(await both(port, "alice:wrong")).toEqual({ http: "407", socks: "" });
      expect(await both(port, "alice:pa:ss")).toEqual({ http: "200", socks: "hello from origin\n" });
    } finally {
      await ferry.stop();
    }
  });

  test("skip-auth-prefixes lets matching clients in without credentials", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nauthentication: ["alice:secret"]\nskip-auth-prefixes: [127.0.0.0/8]\n`);
    try {
      expect(await both(port)).toEqual({ http: "200", socks: "hello from origin\n" });
    } finally {
      await ferry.stop();
    }
  });

  test("lan-allowed-ips that leaves out loopback locks 127.0.0.1 out, as in mihomo; lan-disallowed-ips wins", async () => {
    const port = freePort();
    const ferry = await startRuntime(`mixed-port: ${port}\nlan-allowed-ips: [10.0.0.0/8]\n`);
    try {
      const r = await both(port);
      expect(r.socks).toBe("");
      expect(r.http).not.toBe("200");
    } finally {
      await ferry.stop();
    }
    const port2 = freePort();
    const denied = await startRuntime(`mixed-port: ${port2}\nlan-disallowed-ips: [127.0.0.1/32]\n`);
    try {
      expect((await both(port2)).socks).toBe("");
    } finally {
      await denied.stop();
    }
  });

  test("a listeners entry with users: [] needs no auth even when authentication is set", async () => {
    const port = freePort();
    const ferry = await startRuntime(
      `authentication: ["alice:secret"]\nlisteners:\n  - {name: open, type: mixed, port: ${port}, listen: 127.0.0.1, users: []}\n`,
    );
    try {
      expect(await both(port)).toEqual({ http: "200", socks: "hello from origin\n" });
    } finally {
      await ferry.stop();
    }
  });

  test("a listener's proxy sends everything there, skipping rules; IN-NAME sees the listener's name", async () => {
    const a = freePort();
    const b = freePort();
    const ferry = await startRuntime(
      [
        "listeners:",
        `  - {name: forced, type: mixed, port: ${a}, listen: 127.0.0.1, proxy: DIRECT}`,
        `  - {name: ruled, type: mixed, port: ${b}, listen: 127.0.0.1}`,
        "rules:",
        "  - IN-NAME,ruled,REJECT",
        "  - MATCH,REJECT",
      ].join("\n"),
    );
    try {
      expect((await both(a)).socks).toBe("hello from origin\n");
      expect((await both(b)).socks).toBe("");
    } finally {
      await ferry.stop();
    }
  });
});
