/**
 * For the upstream resolver tests: create a resolver from a nameserver entry as the core does
 * (parseNameserver, the plugin's schema, `create(url, {...params, proxy}, ctx)`) with a context
 * whose dials go straight to loopback, build queries, read answers, and small DNS servers of our
 * own (UDP, TCP) for behaviour no real server shows on demand (malformed replies, silence).
 */
import { Value } from "@sinclair/typebox/value";
import type { Socket } from "bun";
import { resolverPlugins } from "../../plugins/dns/index.ts";
import { transportPlugins } from "../../plugins/transport/index.ts";
import { connectTcp } from "../../src/core/socket-stream.ts";
import { buildQuery, type DecodedMessage, decodeMessage, encodeMessage, type QueryOptions } from "../../src/dns/message.ts";
import { parseNameserver } from "../../src/dns/nameserver.ts";
import {
  API_VERSION,
  type CreateContext,
  type Outbound,
  type PluginHost,
  type Resolver,
  type ResolverDefinition,
  type TransportDefinition,
} from "../../src/sdk/index.ts";

const resolvers = new Map<string, ResolverDefinition>();
const transports = new Map<string, TransportDefinition>();
const host = {
  apiVersion: API_VERSION,
  registerResolver: (scheme: string, d: ResolverDefinition) => resolvers.set(scheme, d),
  registerTransport: (name: string, d: TransportDefinition) => transports.set(name, d),
} as unknown as PluginHost;
for (const p of [...resolverPlugins, ...transportPlugins]) await p.setup(host);

export interface TestContext extends CreateContext {
  /** Every dialServer call: host, port and dialer proxy. */
  dials: { host: string; port: number; dialerProxy?: string }[];
  warnings: string[];
}

/** Dials go to loopback directly (a dialer proxy is recorded, not used); names other than localhost do not resolve. */
export function testContext(outbounds: Record<string, Outbound> = {}): TestContext {
  const dials: TestContext["dials"] = [];
  const warnings: string[] = [];
  const log = { error() {}, info() {}, debug() {}, warn: (m: string) => warnings.push(m) };
  const resolve = async (name: string) => {
    if (/^[\d.]+$/.test(name) || name.includes(":")) return name;
    if (name === "localhost") return "127.0.0.1";
    throw new Error(`test context: no address for ${name}`);
  };
  const ctx: TestContext = {
    dials,
    warnings,
    log,
    outbound: (name) => outbounds[name],
    outboundNames: () => Object.keys(outbounds),
    dialDirect: async (h, port, o) => connectTcp(await resolve(h), port, o?.signal),
    dialServer: async (h, port, o) => {
      dials.push({ host: h, port, dialerProxy: o?.dialerProxy });
      return connectTcp(await resolve(h), port, o?.signal);
    },
    dialChain: () => Promise.reject(new Error("no chains here")),
    resolve,
    transport: (name) => transports.get(name),
    tunnel: undefined as unknown as CreateContext["tunnel"],
    homeDir: "/nonexistent",
    health: undefined as unknown as CreateContext["health"],
    selections: undefined as unknown as CreateContext["selections"],
  };
  return ctx;
}

/** A resolver for a nameserver entry, created as the core creates it; the options must pass the plugin's schema. */
export function resolverFor(entry: string, ctx: CreateContext = testContext()): Resolver {
  const spec = parseNameserver(entry);
  const def = resolvers.get(spec.scheme);
  if (!def) throw new Error(`no resolver plugin for ${spec.scheme}://`);
  const options = { ...spec.params, proxy: spec.proxy };
  if (!Value.Check(def.options, options)) throw new Error(`${entry}: options fail the schema: ${[...Value.Errors(def.options, options)].map((e) => e.message).join("; ")}`);
  return def.create(spec.url, options, ctx);
}

/** A query as wire bytes; `type` is any name dns-packet knows (its typings list fewer). */
export function query(name: string, type: string, options: QueryOptions = {}): Uint8Array {
  return encodeMessage(buildQuery(name, type as Parameters<typeof buildQuery>[1], options));
}

/** Exchange and decode; `rcode` as a name (dns-packet's). */
export async function ask(r: Resolver, name: string, type: string, options: QueryOptions & { signal?: AbortSignal } = {}) {
  const reply = decodeMessage(await r.exchange(query(name, type, options), { signal: options.signal }));
  return { reply, rcode: reply.rcode ?? "NOERROR", data: (reply.answers ?? []).map((a) => `${a.type} ${answerText(a)}`) };
}

function answerText(a: NonNullable<DecodedMessage["answers"]>[number]): string {
  const d = (a as { data?: unknown }).data;
  if (a.type === "TXT") return (d as Buffer[]).map((b) => b.toString()).join("");
  if (a.type === "MX") return `${(d as { preference: number }).preference} ${(d as { exchange: string }).exchange}`;
  return String(d);
}

export interface FakeUdpServer {
  port: number;
  /** Every datagram received, in order. */
  received: Uint8Array[];
  close(): void;
}

/** A UDP "server" on 127.0.0.1 that calls `answer` for each datagram and sends back what it returns. */
export async function fakeUdpServer(answer: (query: Uint8Array) => Uint8Array | undefined): Promise<FakeUdpServer> {
  const received: Uint8Array[] = [];
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    binaryType: "uint8array",
    socket: {
      data(s, data, port, address) {
        received.push(data.slice());
        const reply = answer(data.slice());
        if (reply) s.send(reply, port, address);
      },
    },
  });
  return { port: socket.port, received, close: () => socket.close() };
}

/** A reply to `query` (decoded from wire bytes) with these answers, as wire bytes with the query's id. */
export function answerWith(queryBytes: Uint8Array, answers: NonNullable<DecodedMessage["answers"]>, flags = 0x8180): Uint8Array {
  const q = decodeMessage(queryBytes);
  return encodeMessage({ type: "response", id: q.id, flags, questions: q.questions, answers });
}

export interface FakeTcpServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  close(): void;
}

/**
 * A TCP DNS "server" on 127.0.0.1: frames are split for `answer`, which gets every query of a
 * connection with a function to send a reply frame on it (whenever it likes: in order or not).
 */
export function fakeTcpServer(answer: (query: Uint8Array, send: (reply: Uint8Array) => void, socket: Socket<{ buf: Buffer }>) => void): FakeTcpServer {
  const state = { connections: 0 };
  const server = Bun.listen<{ buf: Buffer }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        state.connections++;
        s.data = { buf: Buffer.alloc(0) };
      },
      data(s, chunk) {
        s.data.buf = Buffer.concat([s.data.buf, chunk]);
        while (s.data.buf.length >= 2 && s.data.buf.length >= 2 + s.data.buf.readUInt16BE(0)) {
          const len = s.data.buf.readUInt16BE(0);
          const q = new Uint8Array(s.data.buf.subarray(2, 2 + len));
          s.data.buf = s.data.buf.subarray(2 + len);
          answer(q, (reply) => {
            const frame = Buffer.alloc(reply.length + 2);
            frame.writeUInt16BE(reply.length, 0);
            frame.set(reply, 2);
            s.write(frame);
          }, s);
        }
      },
    },
  });
  return {
    port: server.port,
    get connections() {
      return state.connections;
    },
    close: () => server.stop(true),
  };
}
