/**
 * The four streaming endpoints over both transports (controller-api.md §5): WebSocket and
 * newline-delimited JSON over plain HTTP, read by real clients for several intervals.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, freePort, startOrigin } from "../helpers.ts";
import { type Ferry, expectSchema, rawUpgrade, readLines, startFerry, wsMessages } from "./helpers.ts";
import * as S from "./schemas.ts";

const SECRET = "stream-secret";
let ferry: Ferry;
let origin: ReturnType<typeof startOrigin>;
let ws: string;

beforeAll(async () => {
  origin = startOrigin();
  ferry = await startFerry("rules:\n  - MATCH,DIRECT\n", { secret: SECRET });
  ws = ferry.base.replace("http", "ws");
});
afterAll(async () => {
  await ferry.stop();
  origin.stop();
});

/** Run `trigger` until `result` settles (at most 20 times), then return it. */
async function untilSettled<T>(result: Promise<T>, trigger: () => Promise<unknown>): Promise<T> {
  let settled = false;
  const done = result.finally(() => {
    settled = true;
  });
  for (let i = 0; i < 20 && !settled; i++) await trigger();
  return done;
}

/** One request through ferry's mixed port to the local origin. */
const viaProxy = (path: string) => curl(["-x", `http://127.0.0.1:${ferry.mixedPort}`, "-o", "/dev/null", `http://127.0.0.1:${origin.port}${path}`]);

describe("/traffic", () => {
  test("WebSocket: one frame a second with the shared window and totals; a download shows up", async () => {
    const frames: S.TrafficFrame[] = [];
    await new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(`${ws}/traffic?token=${SECRET}`);
      let downloading = false;
      socket.onmessage = (e) => {
        const f = JSON.parse(String(e.data)) as S.TrafficFrame;
        frames.push(f);
        // Start the download once the stream runs; stop when a window has counted it (bounded).
        if (!downloading) void viaProxy("/big");
        downloading = true;
        if (f.downTotal >= 4 * 1024 * 1024 || frames.length >= 8) {
          socket.close();
          resolve();
        }
      };
      socket.onerror = () => reject(new Error("traffic socket failed"));
    });
    for (const f of frames) expectSchema(S.Traffic, f);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    const last = frames.at(-1)!;
    expect(last.downTotal).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(frames.reduce((a, f) => a + f.down, 0)).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  });

  test("NDJSON over HTTP: the same frames, one per line", async () => {
    const r = await ferry.api("/traffic");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    const lines = await readLines(r, 2);
    for (const l of lines) expectSchema(S.Traffic, l);
  });
});

describe("/memory", () => {
  test("WebSocket and NDJSON: the first sample is 0, then the RSS", async () => {
    const frames = (await wsMessages(`${ws}/memory?token=${SECRET}`, 2)) as { inuse: number }[];
    for (const f of frames) expectSchema(S.Memory, f);
    expect(frames[0]!.inuse).toBe(0);
    expect(frames[1]!.inuse).toBeGreaterThan(1024 * 1024);
    const lines = (await readLines(await ferry.api("/memory"), 2)) as { inuse: number }[];
    for (const l of lines) expectSchema(S.Memory, l);
    expect(lines[0]!.inuse).toBe(0);
    expect(lines[1]!.inuse).toBeGreaterThan(0);
  });
});

describe("/logs", () => {
  test("WebSocket: connection log lines as {type, payload}, whatever the configured level", async () => {
    const socket = new WebSocket(`${ws}/logs?token=${SECRET}&level=debug`);
    const first = new Promise<unknown>((resolve, reject) => {
      socket.onmessage = (e) => resolve(JSON.parse(String(e.data)));
      socket.onerror = () => reject(new Error("logs socket failed"));
    });
    await new Promise((resolve) => {
      socket.onopen = resolve;
    });
    await viaProxy("/hello");
    const msg = (await first) as { payload: string };
    socket.close();
    expectSchema(S.Log, msg);
    expect(msg.payload).toContain(`--> 127.0.0.1:${origin.port}`);
  });

  test("level filters by rank: a warning subscriber sees the failed dial, not the info line before it", async () => {
    // The HTTP stream sends its headers with the first event (mihomo), so the request is made
    // first and the events are triggered until the first line arrives (bounded).
    const closed = freePort();
    const [line] = (await untilSettled(
      ferry.api("/logs?level=warning").then((r) => {
        expect(r.status).toBe(200);
        return readLines(r, 1);
      }),
      async () => {
        await viaProxy("/hello");
        await curl(["-x", `http://127.0.0.1:${ferry.mixedPort}`, `http://127.0.0.1:${closed}/`]);
      },
    )) as { type: string; payload: string }[];
    expectSchema(S.Log, line);
    expect(line!.type).toBe("warning");
    expect(line!.payload).toContain(`127.0.0.1:${closed}`);
  });

  test("format=structured: {time, level, message, fields: []}", async () => {
    const [line] = (await untilSettled(
      ferry.api("/logs?format=structured").then((r) => readLines(r, 1)),
      () => viaProxy("/hello"),
    )) as { level: string }[];
    expectSchema(S.StructuredLog, line);
    expect(line!.level).toBe("info");
  });

  test("an unknown level is refused with 400 before any upgrade", async () => {
    const r = await ferry.api("/logs?level=verbose");
    expect(r.status).toBe(400);
    expect(await r.text()).toBe('{"message":"Body invalid"}\n');
    const up = await rawUpgrade(ferry.base, `/logs?level=INFO&token=${SECRET}`);
    expect(up.status).toBe(400);
  });
});

describe("/connections stream", () => {
  test("WebSocket: a snapshot at once, then one per interval", async () => {
    const started = performance.now();
    const frames = await wsMessages(`${ws}/connections?token=${SECRET}&interval=100`, 4);
    for (const f of frames) expectSchema(S.Snapshot, f);
    // Four frames at 100 ms take about 300 ms: the first came at once, not after an interval.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("an interval that is not a positive integer is refused before the upgrade", async () => {
    for (const interval of ["0", "-5", "abc", "1.5"]) {
      const r = await rawUpgrade(ferry.base, `/connections?token=${SECRET}&interval=${interval}`);
      expect(r.status).toBe(400);
      expect(r.body).toBe('{"message":"Body invalid"}\n');
    }
    // Without an upgrade the query is ignored and a snapshot is answered.
    expect((await ferry.api("/connections?interval=abc")).status).toBe(200);
  });

});
