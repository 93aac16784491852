/**
 * Test harness for the inbound plugins: a minimal tunnel that dials destinations directly (names:
 * only `localhost`, from a fixed table, never the system resolver), a local HTTP origin, a curl
 * runner and a raw TCP client. The things under test are the inbound parsers and state machines.
 */
import type { Server, udp } from "bun";
import { EngineHealth, ProxyStates } from "../../src/core/health.ts";
import { connectTcp, type SocketStream } from "../../src/core/socket-stream.ts";
import type {
  CreateContext,
  Duplex,
  Inbound,
  InboundCommon,
  InboundDefinition,
  Logger,
  Metadata,
  PluginHost,
  TcpRequest,
  Tunnel,
  UdpFlow,
  UdpRequest,
} from "../../src/sdk/index.ts";
import { inboundPlugins } from "../../plugins/inbound/index.ts";

export const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/** Relay two duplexes with backpressure (what the real tunnel's relay does). */
function pipe(a: Duplex, b: Duplex): void {
  const done = () => {
    a.close();
    b.close();
  };
  a.onData = (chunk) => {
    if (!b.write(chunk)) a.pause();
  };
  b.onData = (chunk) => {
    if (!a.write(chunk)) b.pause();
  };
  a.onDrain = () => b.resume();
  b.onDrain = () => a.resume();
  let aEnded = false;
  let bEnded = false;
  a.onEnd = () => {
    aEnded = true;
    b.end();
    if (bEnded) done();
  };
  b.onEnd = () => {
    bEnded = true;
    a.end();
    if (aEnded) done();
  };
  a.onClose = done;
  b.onClose = done;
  a.resume();
  b.resume();
}

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Dials what the inbound asks for. Like the real tunnel it calls onReady, then writes `head`, then
 * relays; on failure it calls onReady and closes the stream.
 */
export class TestTunnel implements Tunnel {
  readonly tcp: Metadata[] = [];
  /** The inbound-side stream of each TCP request (closing one is what DELETE /connections does). */
  readonly streams: Duplex[] = [];
  readonly udp: Metadata[] = [];
  private readonly flowCloseWaiters: ((m: Metadata) => void)[] = [];
  /** Names this tunnel resolves; anything else fails like NXDOMAIN. */
  readonly hosts = new Map([["localhost", "127.0.0.1"]]);

  /** Resolves with the metadata of the next UDP flow the inbound closes. */
  nextFlowClose(): Promise<Metadata> {
    return new Promise((resolve) => this.flowCloseWaiters.push(resolve));
  }

  handleTcp(request: TcpRequest): void {
    this.tcp.push(request.metadata);
    this.streams.push(request.stream);
    this.dial(request).catch((err) => request.stream.close(err));
  }

  private async dial(request: TcpRequest): Promise<void> {
    const m = request.metadata;
    const fail = (error: Error) => {
      request.onReady?.({ ok: false, error });
      request.stream.close(error);
    };
    const ip = m.destinationIP || this.hosts.get(m.host);
    if (!ip) return fail(errorWithCode(`${m.host}: no such host`, "ENOTFOUND"));
    let remote: SocketStream;
    try {
      remote = await connectTcp(ip, m.destinationPort);
    } catch (err) {
      return fail(err as Error);
    }
    if (request.stream.closed) {
      remote.close();
      return;
    }
    request.onReady?.({ ok: true, remoteAddress: ip });
    if (request.head) remote.write(request.head);
    pipe(request.stream, remote);
  }

  handleUdp(request: UdpRequest, first: Uint8Array): UdpFlow {
    const m = request.metadata;
    this.udp.push(m);
    const queue: [Uint8Array, string, number][] = [[first, m.host || m.destinationIP, m.destinationPort]];
    let socket: udp.Socket<"buffer"> | undefined;
    let closed = false;
    const send = (data: Uint8Array, host: string, port: number) => {
      const ip = this.hosts.get(host) ?? host;
      socket?.send(data, port, ip);
    };
    Bun.udpSocket<"buffer">({
      hostname: "127.0.0.1",
      socket: {
        data: (_s, data, port, address) => request.reply(data, address, port),
      },
    }).then((s) => {
      socket = s;
      if (closed) s.close();
      else for (const [d, h, p] of queue.splice(0)) send(d, h, p);
    });
    const waiters = this.flowCloseWaiters;
    return {
      get closed() {
        return closed;
      },
      send(data, host, port) {
        if (closed) return;
        if (socket) send(data, host, port);
        else queue.push([data, host, port]);
      },
      close() {
        if (closed) return;
        closed = true;
        socket?.close();
        for (const w of waiters.splice(0)) w(m);
      },
    };
  }
}

/** Build an inbound the way the engine does: from the registered plugin definition. */
export function createInbound(
  type: string,
  options: Record<string, unknown>,
  tunnel: Tunnel,
  common: Partial<InboundCommon> = {},
): Inbound {
  const definitions = new Map<string, InboundDefinition>();
  const host: PluginHost = {
    apiVersion: 1,
    log: quiet,
    registerInbound: (t, d) => definitions.set(t, d as unknown as InboundDefinition),
    registerOutbound() {},
    registerGroup() {},
    registerRule() {},
    registerResolver() {},
    registerTransport() {},
  };
  for (const p of inboundPlugins) p.setup(host);
  const definition = definitions.get(type);
  if (!definition) throw new Error(`no inbound type ${type}`);
  const ctx: CreateContext = {
    log: quiet,
    outbound: () => undefined,
    outboundNames: () => [],
    dialDirect: () => Promise.reject(new Error("not in tests")),
    dialServer: () => Promise.reject(new Error("not in tests")),
    resolve: () => Promise.reject(new Error("not in tests")),
    transport: () => undefined,
    tunnel,
    homeDir: "/nonexistent",
    health: new EngineHealth(new ProxyStates(), () => false),
    selections: { get: () => undefined, set() {}, delete() {} },
    dialChain: () => Promise.reject(new Error("not in tests")),
  };
  return definition.create(options, inboundCommon(common), ctx);
}

export function inboundCommon(common: Partial<InboundCommon> = {}): InboundCommon {
  return {
    name: "test-in",
    listen: "127.0.0.1",
    port: 0,
    allowSource: () => true,
    skipAuth: () => false,
    specialProxy: "",
    specialRules: "",
    ...common,
  };
}

/** Start an inbound on 127.0.0.1:0 and return it with its port. */
export async function startInbound(
  type: string,
  options: Record<string, unknown>,
  tunnel: Tunnel,
  common: Partial<InboundCommon> = {},
): Promise<{ inbound: Inbound; port: number }> {
  const inbound = createInbound(type, options, tunnel, common);
  await inbound.start();
  const address = inbound.addresses()[0]!;
  return { inbound, port: Number(address.slice(address.lastIndexOf(":") + 1)) };
}

export const BIG = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 7 + 3) & 255);

/** The HTTP origin the proxied requests reach. */
export function startOrigin(): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, server) {
      const path = req.url.slice(req.url.indexOf("/", 8));
      if (path === "/ws" && server.upgrade(req)) return undefined;
      if (path === "/hello") return new Response("hello from origin");
      if (path.startsWith("/echo")) return new Response(await req.arrayBuffer());
      if (path === "/headers") return Response.json({ path, headers: Object.fromEntries(req.headers) });
      if (path === "/big") return new Response(BIG);
      if (path === "/chunked") {
        const parts = ["part1-", "part2"];
        return new Response(
          new ReadableStream({
            pull(c) {
              const next = parts.shift();
              if (next) c.enqueue(new TextEncoder().encode(next));
              else c.close();
            },
          }),
        );
      }
      return new Response("not found", { status: 404 });
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
}

/**
 * An origin written by hand, for response framings Bun.serve does not produce: a chunked body with
 * a trailer (sent in small pieces), and a close-delimited HTTP/1.0 body. Request bodies are not read.
 */
export function startRawOrigin(): { port: number; stop(): void } {
  const responses: Record<string, string[]> = {
    "/chunked": ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r", "\npart1-\r\n5;ext=1\r\npar", "t2\r\n0\r\nX-Trailer: t\r\n", "\r\n"],
    "/close": ["HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", "until ", "close"],
    "/endless": ["HTTP/1.0 200 OK\r\n\r\n", "first bytes"],
  };
  const listener = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: "" };
      },
      data(s, chunk) {
        s.data.buf += chunk.toString("latin1");
        for (let end = s.data.buf.indexOf("\r\n\r\n"); end >= 0; end = s.data.buf.indexOf("\r\n\r\n")) {
          const head = s.data.buf.slice(0, end);
          s.data.buf = s.data.buf.slice(end + 4);
          const path = head.split(" ")[1] ?? "";
          const parts = responses[path] ?? ["HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"];
          for (const part of parts) s.write(part);
          if (path === "/close") s.end();
        }
      },
    },
  });
  return { port: listener.port, stop: () => listener.stop(true) };
}

export interface CurlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run curl (no proxy variables from the environment, 10 s limit). */
export async function curl(args: string[], stdin?: Uint8Array): Promise<CurlResult> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdin: stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** A hand-driven TCP client: write bytes, wait for replies or the close. */
export interface RawClient {
  write(bytes: Uint8Array | string): void;
  end(): void;
  close(): void;
  /** Everything received so far. */
  received(): Uint8Array;
  text(): string;
  /** Resolves when `check(received)` holds, or when the connection closed (check again after). */
  until(check: (received: Uint8Array) => boolean): Promise<void>;
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** The error the connection closed with (a reset), if any. */
  readonly closeError: Error | undefined;
}

export async function rawClient(port: number, host = "127.0.0.1"): Promise<RawClient> {
  let buf = new Uint8Array(0);
  let isClosed = false;
  let closeError: Error | undefined;
  const closed = Promise.withResolvers<void>();
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const socket = await Bun.connect({
    hostname: host,
    port,
    allowHalfOpen: true,
    socket: {
      data(_s, chunk) {
        const next = new Uint8Array(buf.length + chunk.length);
        next.set(buf, 0);
        next.set(chunk, buf.length);
        buf = next;
        wake();
      },
      close(_s, err) {
        isClosed = true;
        closeError ??= err;
        closed.resolve();
        wake();
      },
      error(_s, err) {
        closeError ??= err;
      },
    },
  });
  return {
    write: (bytes) => void socket.write(bytes),
    end: () => socket.end(),
    close: () => socket.terminate(),
    received: () => buf,
    text: () => Buffer.from(buf).toString("latin1"),
    until(check) {
      return new Promise((resolve) => {
        const test = () => {
          if (check(buf) || isClosed) {
            waiters.delete(test);
            resolve();
          }
        };
        waiters.add(test);
        test();
      });
    },
    closed: closed.promise,
    get isClosed() {
      return isClosed;
    },
    get closeError() {
      return closeError;
    },
  };
}

/** A UDP echo server on 127.0.0.1. */
export async function udpEcho(): Promise<udp.Socket<"buffer">> {
  return Bun.udpSocket<"buffer">({
    hostname: "127.0.0.1",
    socket: {
      data(s, data, port, address) {
        s.send(data, port, address);
      },
    },
  });
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
