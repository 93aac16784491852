import { isIP } from "node:net";
import { Duplex as NodeDuplex } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { createMetadata } from "../sdk/metadata.ts";
import type { Duplex } from "../sdk/stream.ts";
import type { HealthCheckOptions, HealthCheck as HealthCheckApi, HealthService, Outbound } from "../sdk/types.ts";
import { UserError } from "../sdk/types.ts";

/** mihomo's default test URL; Selector groups print "" for it so dashboards use their own. */
export const DEFAULT_TEST_URL = "https://www.gstatic.com/generate_204";
const HISTORY_MAX = 10;
const MAX_HEAD_BYTES = 64 * 1024;

export interface DelayRecord {
  time: Date;
  /** Milliseconds; 0 = failed. */
  delay: number;
}

export interface UrlRecord {
  alive: boolean;
  history: DelayRecord[];
}

/**
 * What the controller keeps per proxy instance: its random id and its latency results (every
 * test, and the same split per test URL).
 */
export class ProxyState {
  readonly id = crypto.randomUUID();
  alive = true;
  readonly history: DelayRecord[] = [];
  readonly extra = new Map<string, UrlRecord>();

  /**
   * mihomo's bookkeeping: the proxy-wide record says whether the dial and request worked; the
   * per-URL record also requires the status to be an expected one.
   */
  record(url: string, delay: number, satisfied: boolean): void {
    const time = new Date();
    this.alive = delay > 0;
    push(this.history, { time, delay });
    let perUrl = this.extra.get(url);
    if (!perUrl) {
      perUrl = { alive: true, history: [] };
      this.extra.set(url, perUrl);
    }
    perUrl.alive = delay > 0 && satisfied;
    push(perUrl.history, { time, delay: perUrl.alive ? delay : 0 });
  }

  /** mihomo's AliveForTestUrl: the URL's own record when it has one, else the proxy-wide one. */
  aliveFor(url: string): boolean {
    return this.extra.get(url)?.alive ?? this.alive;
  }

  /** The last delay recorded for `url`; 0 when it failed or was never tested. */
  delayFor(url: string): number {
    const h = this.extra.get(url)?.history;
    return h?.[h.length - 1]?.delay ?? 0;
  }
}

function push(list: DelayRecord[], r: DelayRecord): void {
  list.push(r);
  if (list.length > HISTORY_MAX) list.shift();
}

/**
 * Per-proxy state keyed by outbound instance: a reload makes new instances and so new ids and an
 * empty history, as mihomo's recreated proxies have.
 */
export class ProxyStates {
  private readonly byOutbound = new WeakMap<Outbound, ProxyState>();

  of(o: Outbound): ProxyState {
    let h = this.byOutbound.get(o);
    if (!h) {
      h = new ProxyState();
      this.byOutbound.set(o, h);
    }
    return h;
  }

  peek(o: Outbound): ProxyState | undefined {
    return this.byOutbound.get(o);
  }
}

/** Acceptable statuses: `undefined` = any. */
export type ExpectedStatus = [number, number][] | undefined;

/**
 * `expected` / `expected-status`: `200`, `204/302`, `200-299`, `200,204`, at most 28 terms, `*` or
 * empty = any (mihomo common/utils/ranges.go). Returns null when invalid.
 */
export function parseExpected(text: string | null): ExpectedStatus | null {
  const s = (text ?? "").trim();
  if (s === "" || s === "*") return undefined;
  const terms = s.replaceAll(",", "/").split("/");
  if (terms.length > 28) return null;
  const ranges: [number, number][] = [];
  for (const term of terms) {
    if (term === "") continue;
    const bounds = term.split("-");
    if (bounds.length > 2) return null;
    const nums = bounds.map((b) => b.replace(/^[[ \]]+|[[ \]]+$/g, ""));
    if (nums.some((n) => !/^\d+$/.test(n))) return null;
    // Go parses 64-bit and converts to uint16, wrapping.
    const [lo, hi] = nums.map((n) => Number(BigInt(n) % 65536n));
    ranges.push([lo!, hi ?? lo!]);
  }
  return ranges.length > 0 ? ranges : undefined;
}

function statusAccepted(e: ExpectedStatus, status: number): boolean {
  return !e || e.some(([a, b]) => status >= a && status <= b);
}

export class DelayTimeoutError extends Error {
  override name = "DelayTimeoutError";
}

export interface UrlTestOptions {
  timeoutMs: number;
  expected: ExpectedStatus;
  /** `unified-delay`: time a second request on the same connection instead of the whole setup. */
  unified: boolean;
  /** Aborts the test early (client gone); a deadline hit throws DelayTimeoutError instead. */
  signal?: AbortSignal;
}

/**
 * mihomo's URL test: dial the URL's host:port THROUGH the outbound (metadata type `Inner`), send
 * `HEAD`, and time from the start of the dial to the response headers. The result is recorded in
 * `health` whatever happens; the returned delay is in ms (≥ 1). Throws DelayTimeoutError when the
 * deadline expired first, another error on any other failure.
 */
export async function urlTest(outbound: Outbound, url: string, health: ProxyState, options: UrlTestOptions): Promise<number> {
  const deadline = new AbortController();
  // A deadline of 0 or less has passed already (Go's context.WithTimeout).
  if (options.timeoutMs <= 0) deadline.abort(new DelayTimeoutError("Timeout"));
  const timer = setTimeout(() => deadline.abort(new DelayTimeoutError("Timeout")), Math.max(0, options.timeoutMs));
  const onAbort = () => deadline.abort(options.signal?.reason ?? new Error("aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let delay = 0;
  let satisfied = false;
  try {
    const result = await abortable(measure(outbound, url, options, deadline.signal), deadline.signal);
    delay = result.delay;
    satisfied = statusAccepted(options.expected, result.status);
    return delay;
  } catch (err) {
    if (deadline.signal.aborted && deadline.signal.reason instanceof DelayTimeoutError) throw deadline.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    health.record(url, delay, satisfied);
  }
}

/** `p`, or the signal's reason as soon as it aborts; `p`'s own late failure is then ignored. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

async function measure(outbound: Outbound, url: string, options: UrlTestOptions, signal: AbortSignal): Promise<{ delay: number; status: number }> {
  const target = new URL(url);
  const https = target.protocol === "https:";
  if (!https && target.protocol !== "http:") throw new Error(`unsupported protocol scheme ${target.protocol}`);
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  const port = Number(target.port || (https ? 443 : 80));
  const literal = isIP(hostname) !== 0;
  const metadata = createMetadata({
    network: "tcp",
    type: "Inner",
    host: literal ? "" : hostname.toLowerCase(),
    destinationIP: literal ? hostname : "",
    destinationPort: port,
  });
  let start = performance.now();
  const stream = await outbound.dialTcp(metadata, { signal });
  if (signal.aborted) {
    stream.close();
    throw signal.reason;
  }
  const conn = https ? await HeadConnection.overTls(stream, literal ? undefined : hostname, signal) : HeadConnection.plain(stream);
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const request = (close: boolean) =>
      `HEAD ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: ferry\r\nConnection: ${close ? "close" : "keep-alive"}\r\n\r\n`;
    let status = await conn.exchange(request(!options.unified));
    if (options.unified) {
      const second = performance.now();
      try {
        status = await conn.exchange(request(true));
        start = second;
      } catch {
        // mihomo keeps the first measurement when the second request fails.
      }
    }
    // A round trip under 1 ms (loopback) is reported as 1 ms rather than as mihomo's failed 0.
    const delay = Math.min(65535, Math.max(1, Math.round(performance.now() - start)));
    return { delay, status };
  } finally {
    signal.removeEventListener("abort", onAbort);
    conn.close();
  }
}

/** Just enough HTTP/1.1 client for HEAD: write a request, read up to the end of the headers. */
class HeadConnection {
  private buffered = "";
  private waiter: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly write: (text: string) => void,
    readonly close: () => void,
  ) {}

  static plain(stream: Duplex): HeadConnection {
    const c = new HeadConnection(
      (text) => stream.write(new TextEncoder().encode(text)),
      () => stream.close(),
    );
    const decoder = new TextDecoder("latin1");
    stream.onData = (chunk) => c.received(decoder.decode(chunk));
    stream.onEnd = () => c.fail(new Error("connection closed before the response"));
    stream.onClose = (err) => c.fail(err ?? new Error("connection closed before the response"));
    stream.resume();
    return c;
  }

  /** TLS over the proxied stream with node:tls (our Duplex carried through a node stream). */
  static overTls(stream: Duplex, servername: string | undefined, signal: AbortSignal): Promise<HeadConnection> {
    const carrier = new NodeDuplex({
      read() {
        stream.resume();
      },
      write(chunk: Uint8Array, _encoding, done) {
        if (stream.write(new Uint8Array(chunk))) done();
        else
          stream.onDrain = () => {
            stream.onDrain = undefined;
            done();
          };
      },
      final(done) {
        stream.end();
        done();
      },
      destroy(err, done) {
        stream.close(err ?? undefined);
        done(err);
      },
    });
    stream.onData = (chunk) => {
      if (!carrier.push(chunk)) stream.pause();
    };
    stream.onEnd = () => carrier.push(null);
    stream.onClose = (err) => carrier.destroy(err);
    const socket: TLSSocket = tlsConnect({ socket: carrier, servername, ALPNProtocols: ["http/1.1"] });
    const c = new HeadConnection(
      (text) => socket.write(text),
      () => socket.destroy(),
    );
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => c.received(text));
    socket.on("end", () => c.fail(new Error("connection closed before the response")));
    socket.on("close", () => c.fail(new Error("connection closed before the response")));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      socket.on("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        c.fail(err);
        reject(err);
      });
      socket.once("secureConnect", () => {
        signal.removeEventListener("abort", onAbort);
        resolve(c);
      });
    });
  }

  /** Send one request and resolve with the status code of its response. */
  exchange(request: string): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.write(request);
    });
  }

  private received(text: string): void {
    this.buffered += text;
    const end = this.buffered.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.buffered.length > MAX_HEAD_BYTES) this.fail(new Error("response headers too large"));
      return;
    }
    const head = this.buffered.slice(0, end);
    this.buffered = this.buffered.slice(end + 4);
    const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
    const w = this.waiter;
    this.waiter = undefined;
    if (!m) w?.reject(new Error("not an HTTP response"));
    else w?.resolve(Number(m[1]));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}

/** mihomo's defaults for a check round: 10 tests in flight. */
const DEFAULT_CONCURRENCY = 10;

/**
 * One health check (a group's `url`/`interval`, a provider's `health-check`): rounds of URL tests
 * whose results land in the shared ProxyStates, so the API's delay tests and every check of the
 * same outbound see one history.
 */
export class HealthCheck implements HealthCheckApi {
  readonly url: string;
  private readonly expected: ExpectedStatus;
  private round: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Aborts the tests in flight when the check stops (engine closed). */
  private abort = new AbortController();
  private lastTouch = 0;

  constructor(
    private readonly options: HealthCheckOptions & { states: ProxyStates; unified?: boolean },
  ) {
    this.url = options.url;
    const expected = parseExpected(options.expectedStatus ?? null);
    if (expected === null) throw new UserError(`invalid expected-status "${options.expectedStatus}"`);
    this.expected = expected;
  }

  check(outbounds: Outbound[]): Promise<void> {
    // Rounds are not stacked: a caller during a round waits for it (mihomo's singledo).
    this.round ??= this.run(outbounds).finally(() => {
      this.round = undefined;
      this.options.onChecked?.();
    });
    return this.round;
  }

  private async run(outbounds: Outbound[]): Promise<void> {
    const list = [...new Set(outbounds)];
    const options = { timeoutMs: this.options.timeout, expected: this.expected, unified: this.options.unified ?? false, signal: this.abort.signal };
    let next = 0;
    const worker = async () => {
      while (next < list.length && !this.abort.signal.aborted) {
        const o = list[next++]!;
        try {
          await urlTest(o, this.url, this.options.states.of(o), options);
        } catch {
          // The failure is in the outbound's history; nothing else to do.
        }
      }
    };
    const concurrency = Math.max(1, this.options.concurrency ?? DEFAULT_CONCURRENCY);
    await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  }

  start(getMembers: () => Outbound[]): void {
    if (this.timer || this.options.interval <= 0) return;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    const period = this.options.interval * 1000;
    void this.check(getMembers());
    this.timer = setInterval(() => {
      // `lazy`: skip the round when nothing used the outbounds during the last interval.
      if (this.options.lazy && Date.now() - this.lastTouch >= period) return;
      void this.check(getMembers());
    }, period);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort(new Error("health check stopped"));
  }

  touch(): void {
    this.lastTouch = Date.now();
  }
}

/**
 * The HealthService of one engine: reads the process-wide ProxyStates and owns the checks its
 * groups create, so a reload or shutdown stops them all.
 */
export class EngineHealth implements HealthService {
  private readonly checks: { check: HealthCheck; members: () => Outbound[] }[] = [];
  private started = false;

  constructor(
    readonly states: ProxyStates,
    private readonly unified: () => boolean,
  ) {}

  alive(o: Outbound, url: string): boolean {
    return this.states.peek(o)?.aliveFor(url) ?? true;
  }

  delay(o: Outbound, url: string): number {
    return this.states.peek(o)?.delayFor(url) ?? 0;
  }

  create(options: HealthCheckOptions, members: () => Outbound[]): HealthCheck {
    const check = new HealthCheck({ ...options, states: this.states, unified: this.unified() });
    this.checks.push({ check, members });
    if (this.started) check.start(members);
    return check;
  }

  /** One round of every check now (tests, benchmarks); resolves when all are done. */
  async checkAll(): Promise<void> {
    await Promise.all(this.checks.map(({ check, members }) => check.check(members())));
  }

  start(): void {
    this.started = true;
    for (const { check, members } of this.checks) check.start(members);
  }

  stop(): void {
    this.started = false;
    for (const { check } of this.checks) check.stop();
  }
}
