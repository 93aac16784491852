/**
 * Harness for the controller: a real ferry (Runtime + listeners) in this process with the
 * controller on 127.0.0.1, plus the clients the tests read it with (fetch, WebSocket, raw TCP).
 */
import { expect } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { type ControllerHandle, RuntimeHost, startController } from "../../src/controller/index.ts";
import { controllerSettings, type ControllerSettings } from "../../src/controller/settings.ts";
import { freePort, startRuntime } from "../helpers.ts";

export const VERSION = "v0.0.0-test";

export interface Ferry {
  runtime: Awaited<ReturnType<typeof startRuntime>>["runtime"];
  home: string;
  mixedPort: number;
  /** `http://127.0.0.1:PORT` of the controller. */
  base: string;
  controller: ControllerHandle;
  /** fetch with `Authorization: Bearer <secret>` unless headers say otherwise. */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * Start ferry with `config` (a `mixed-port` is added) and its controller. `secret` goes into the
 * config; other controller settings can be overridden.
 */
export async function startFerry(config: string, options: { secret?: string; settings?: Partial<ControllerSettings>; pluginDirs?: string[] } = {}): Promise<Ferry> {
  const mixedPort = freePort();
  const secret = options.secret ?? "";
  const text = `mixed-port: ${mixedPort}\n${secret ? `secret: ${JSON.stringify(secret)}\n` : ""}${config}`;
  const f = await startRuntime(text, { pluginDirs: options.pluginDirs });
  const settings = { ...controllerSettings(f.engine.config.raw, f.home, { externalController: "127.0.0.1:0" }), ...options.settings };
  const controller = await startController(new RuntimeHost(f.runtime), settings, VERSION);
  const base = `http://${controller.addresses[0]}`;
  return {
    runtime: f.runtime,
    home: f.home,
    mixedPort,
    base,
    controller,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      // fetch writes header text as latin1: pass the secret's UTF-8 bytes that way, as a Go client sends them.
      if (secret && !headers.has("authorization")) headers.set("authorization", `Bearer ${Buffer.from(secret).toString("latin1")}`);
      return fetch(base + path, { ...init, headers });
    },
    async stop() {
      await controller.stop();
      await f.stop();
    },
  };
}

/** Assert `value` fits `schema` (TypeBox, `additionalProperties: false` = exact keys), naming every mismatch. */
export function expectSchema(schema: TSchema, value: unknown): void {
  const errors = [...Value.Errors(schema, value)].slice(0, 10).map((e) => `${e.path || "/"}: ${e.message} (got ${JSON.stringify(e.value)?.slice(0, 80)})`);
  expect(errors).toEqual([]);
}

/** Read `count` newline-terminated JSON lines from a streaming body, then cancel it. */
export async function readLines(response: Response, count: number): Promise<unknown[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const out: unknown[] = [];
  try {
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended after ${out.length} of ${count} lines`);
      buffer += decoder.decode(value, { stream: true });
      for (let nl = buffer.indexOf("\n"); nl >= 0 && out.length < count; nl = buffer.indexOf("\n")) {
        out.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
    }
  } finally {
    await reader.cancel();
  }
  return out;
}

/** Open a WebSocket and collect `count` text messages (each must be JSON ending in "\n"), then close. */
export function wsMessages(url: string, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const out: unknown[] = [];
    ws.onmessage = (e) => {
      const text = String(e.data);
      if (!text.endsWith("\n")) reject(new Error(`frame without trailing newline: ${text.slice(0, 80)}`));
      out.push(JSON.parse(text));
      if (out.length === count) {
        ws.close();
        resolve(out);
      }
    };
    ws.onerror = () => reject(new Error(`WebSocket ${url} failed after ${out.length} messages`));
    ws.onclose = () => {
      if (out.length < count) reject(new Error(`WebSocket ${url} closed after ${out.length} messages`));
    };
  });
}

/** A WebSocket upgrade sent by hand, for the answers a browser WebSocket hides (401 before upgrading). */
export async function rawUpgrade(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; head: string }> {
  const url = new URL(base + path);
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  const text = await new Promise<string>((resolve, reject) => {
    let received = "";
    Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        open(s) {
          s.write(lines.join("\r\n"));
        },
        data(s, chunk) {
          received += chunk.toString();
          const end = received.indexOf("\r\n\r\n");
          if (end < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(received)?.[1] ?? 0);
          if (received.startsWith("HTTP/1.1 101") || received.length >= end + 4 + length) {
            s.end();
            resolve(received);
          }
        },
        close() {
          resolve(received);
        },
        error(_s, err) {
          reject(err);
        },
      },
    }).catch(reject);
  });
  const end = text.indexOf("\r\n\r\n");
  return { status: Number(text.slice(9, 12)), head: text.slice(0, end), body: text.slice(end + 4) };
}

/** A TCP echo server on 127.0.0.1. */
export function startEcho() {
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, chunk) {
        s.write(chunk);
      },
    },
  });
  return { port: server.port, stop: () => server.stop(true) };
}

/**
 * A client tunnelled through ferry's mixed port with HTTP CONNECT: `roundTrip` sends bytes and
 * resolves with the echo; `closed` resolves when either side closes.
 */
export async function connectThrough(proxyPort: number, targetPort: number) {
  let buffer = "";
  let established = false;
  let wake: (() => void) | undefined;
  let onClose: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  let isClosed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxyPort,
    socket: {
      data(_s, chunk) {
        buffer += chunk.toString();
        wake?.();
      },
      close() {
        isClosed = true;
        onClose();
        wake?.();
      },
    },
  });
  const waitFor = async (predicate: () => boolean) => {
    while (!predicate()) {
      if (isClosed) throw new Error("connection closed");
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  socket.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`);
  await waitFor(() => buffer.includes("\r\n\r\n"));
  if (!buffer.startsWith("HTTP/1.1 200")) throw new Error(`CONNECT refused: ${buffer.slice(0, 60)}`);
  buffer = buffer.slice(buffer.indexOf("\r\n\r\n") + 4);
  established = true;
  return {
    get established() {
      return established && !isClosed;
    },
    closed,
    async roundTrip(text: string): Promise<string> {
      buffer = "";
      socket.write(text);
      await waitFor(() => buffer.length >= text.length);
      return buffer;
    },
    close: () => socket.end(),
  };
}

/** An HTTP origin for connection tests: `/stream` sends 1 KiB every 20 ms until the client goes away. */
export function startStreamingOrigin() {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (new URL(req.url).pathname !== "/stream") return new Response("not found\n", { status: 404 });
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => controller.enqueue(new Uint8Array(1024).fill(97)), 20);
        },
        cancel() {
          clearInterval(timer);
        },
      });
      req.signal.addEventListener("abort", () => clearInterval(timer));
      return new Response(body);
    },
  });
  return { port: server.port as number, stop: () => server.stop(true) };
}
