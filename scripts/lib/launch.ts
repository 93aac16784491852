/**
 * Start long-running helper processes (peers, the proxy under test, load tools) on loopback, wait
 * until they listen, and stop them again with their whole process tree. Every process started here
 * is also stopped when this process exits, so an aborted test run leaves nothing behind.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, ownsPort, portInUse, type ProcStat, readStat, tree } from "./proc.ts";

export const HOST = "127.0.0.1";
const isRoot = process.getuid?.() === 0;

/** Seconds to wait for a process to listen; FERRY_PEER_TIMEOUT overrides. */
export function readyTimeoutMs(): number {
  const s = Number(process.env.FERRY_PEER_TIMEOUT ?? 15);
  return (Number.isFinite(s) && s > 0 ? s : 15) * 1000;
}

// ----------------------------------------------------------------------------- ports

const handedOut = new Set<number>();

/**
 * A port in 20000-31999 (below the kernel's ephemeral range, so outgoing connections never take
 * it) with no TCP or UDP socket on it, and not handed out before by this process. Another process
 * may still take it before it is bound: `launch` retries on "address in use".
 */
export function freePort(): number {
  for (let i = 0; i < 1000; i++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(p) || portInUse(p)) continue;
    handedOut.add(p);
    return p;
  }
  throw new Error("no free port found in 20000-31999");
}

export function freePorts(n: number): number[] {
  return Array.from({ length: n }, freePort);
}

// ----------------------------------------------------------------------------- resolver

let privateResolver: boolean | undefined;

/**
 * As root, run processes in a private mount namespace whose /etc/resolv.conf names only
 * 127.0.0.1: a peer asked to resolve a name (microsocks, dante, tinyproxy do) then fails fast
 * instead of reaching the machine's real DNS server. FERRY_PEERS_SYSTEM_RESOLVER=1 turns it off.
 */
function usePrivateResolver(): boolean {
  if (privateResolver === undefined) {
    privateResolver =
      isRoot &&
      process.env.FERRY_PEERS_SYSTEM_RESOLVER !== "1" &&
      Bun.which("unshare") !== null &&
      Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "mount", "--bind", "/dev/null", "/etc/resolv.conf"], {
        stdout: "ignore",
        stderr: "ignore",
      }).exitCode === 0;
  }
  return privateResolver;
}

// A constant script; the resolv.conf path and the command arrive as positional arguments.
const RESOLVER_WRAPPER = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"';

let setpriv: string | null | undefined;

/**
 * util-linux `setpriv --pdeathsig SIGTERM` makes the kernel signal a process when the process
 * that started it dies, however it dies: `bun test` exits without running "exit" handlers, and
 * a runner killed with SIGKILL runs none at all. (The kernel drops the setting when exec'ing a
 * binary with file capabilities; stopAll and the exit handler still cover those.)
 */
function deathSignalWrapper(): string | null {
  if (setpriv === undefined) {
    const path = Bun.which("setpriv");
    setpriv = path && Bun.spawnSync([path, "--pdeathsig", "SIGTERM", "true"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0 ? path : null;
  }
  return setpriv;
}

// ----------------------------------------------------------------------------- processes

export interface LaunchOptions {
  name: string;
  /** argv; the first element is a program name or path, never a shell string. */
  cmd: string[];
  /** Directory for config and log; a new temp dir when omitted. */
  dir?: string;
  /** Remove `dir` when the process is stopped (default: only a dir made here). Kept on a failed start. */
  removeDir?: boolean;
  env?: Record<string, string>;
  /** TCP ports that must be listening (owned by the process tree) before `launch` returns. */
  tcp?: number[];
  /** UDP ports that must be bound. */
  udp?: number[];
  timeoutMs?: number;
  /** Run with the loopback-only resolver when available (default true). */
  privateResolver?: boolean;
  /** Have the kernel SIGTERM the process when this one dies (default true). */
  dieWithParent?: boolean;
}

export interface Running {
  name: string;
  pid: number;
  /** First TCP port (or UDP port when there is none). */
  port: number;
  ports: number[];
  host: string;
  dir: string;
  /** stdout + stderr of the process. */
  log: string;
  exited: Promise<number>;
  stop(): Promise<void>;
}

interface Entry {
  pid: number;
  dir: string;
  ownDir: boolean;
  sub: ReturnType<typeof Bun.spawn>;
  stopping?: Promise<void>;
}

const running = new Map<number, Entry>();
const keepDirs = () => process.env.FERRY_PEERS_KEEP === "1";

export class LaunchError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
  }
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .slice(-lines)
      .map((l) => `  | ${l}`)
      .join("\n");
  } catch {
    return "  | (no log)";
  }
}

/** Spawn a process with its output in DIR/log and wait until all its ports listen. */
export async function launch(o: LaunchOptions): Promise<Running> {
  const ownDir = o.removeDir ?? o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), `ferry-peer.${o.name}.`));
  const log = join(dir, "log");
  const tcp = o.tcp ?? [];
  const udp = o.udp ?? [];
  let cmd = o.cmd;
  if ((o.privateResolver ?? true) && usePrivateResolver()) {
    const conf = join(dir, "resolv.conf");
    writeFileSync(conf, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", RESOLVER_WRAPPER, "sh", conf, ...cmd];
  }
  const setprivPath = (o.dieWithParent ?? true) ? deathSignalWrapper() : null;
  if (setprivPath) cmd = [setprivPath, "--pdeathsig", "SIGTERM", ...cmd];
  const fd = openSync(log, "a");
  let sub: ReturnType<typeof Bun.spawn>;
  try {
    sub = Bun.spawn({ cmd, cwd: dir, env: { ...process.env, ...o.env }, stdin: "ignore", stdout: fd, stderr: fd });
  } finally {
    closeSync(fd);
  }
  const entry: Entry = { pid: sub.pid, dir, ownDir, sub };
  running.set(sub.pid, entry);
  const stop = () => stopEntry(entry);
  const timeoutMs = o.timeoutMs ?? readyTimeoutMs();
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (sub.exitCode !== null || sub.signalCode !== null) {
      entry.ownDir = false; // keep the log that explains the failure
      await stop();
      const text = safeRead(log);
      throw new LaunchError(`${o.name} exited (${sub.exitCode ?? sub.signalCode}) before listening; log ${log}:\n${tail(log)}`, /in use/i.test(text));
    }
    if (tcp.every((p) => ownsPort(sub.pid, p, "tcp")) && udp.every((p) => ownsPort(sub.pid, p, "udp"))) break;
    if (performance.now() > deadline) {
      entry.ownDir = false;
      await stop();
      throw new LaunchError(`${o.name} (pid ${sub.pid}) did not listen on ${[...tcp, ...udp].join(",")} within ${Math.round(timeoutMs / 1000)} s; log ${log}:\n${tail(log)}`, false);
    }
    await Bun.sleep(20);
  }
  const ports = [...new Set([...tcp, ...udp])].sort((a, b) => a - b);
  return { name: o.name, pid: sub.pid, port: tcp[0] ?? udp[0] ?? 0, ports, host: HOST, dir, log, exited: sub.exited, stop };
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Once Bun has reaped our child its PID may belong to someone else: never signal it then. */
const exited = (e: Entry) => e.sub.exitCode !== null || e.sub.signalCode !== null;

/** SIGTERM, up to 5 s grace, then SIGKILL; then the same for descendants that outlived it. */
function stopEntry(e: Entry): Promise<void> {
  e.stopping ??= (async () => {
    if (!exited(e)) {
      const kids = tree(e.pid).slice(1);
      e.sub.kill("SIGTERM");
      if (!(await settle(e.sub.exited, 5000))) {
        e.sub.kill("SIGKILL");
        await settle(e.sub.exited, 2000);
      }
      await stopOrphans(kids);
    }
    running.delete(e.pid);
    if (e.ownDir && !keepDirs()) rmSync(e.dir, { recursive: true, force: true });
  })();
  return e.stopping;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function settle(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: Timer | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(r, ms, false)))]);
  clearTimeout(timer);
  return done;
}

/** Signal only processes whose start time is unchanged, so a reused PID is never hit. */
const same = (k: ProcStat) => readStat(k.pid)?.start === k.start && alive(k.pid);

async function stopOrphans(kids: ProcStat[]): Promise<void> {
  let left = kids.filter(same);
  if (left.length === 0) return;
  for (const k of left) signal(k.pid, "SIGTERM");
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await Bun.sleep(50);
    left = left.filter(same);
  }
  for (const k of left) signal(k.pid, "SIGKILL");
}

/** Stop every process started by this module. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running.values()].map(stopEntry));
}

/**
 * Synchronous last resort when the process exits without stopAll (a failed test file, an
 * uncaught error): no event loop is left, so poll /proc with short sleeps, bounded to ~2 s.
 */
function stopAllSync(): void {
  const groups = [...running.values()].map((e) => ({ e, procs: exited(e) ? [] : tree(e.pid) }));
  for (const g of groups) for (const p of g.procs) signal(p.pid, "SIGTERM");
  for (let i = 0; i < 100 && groups.some((g) => g.procs.some(same)); i++) Bun.sleepSync(20);
  for (const g of groups) {
    for (const p of g.procs) if (same(p)) signal(p.pid, "SIGKILL");
    if (g.e.ownDir && !keepDirs()) rmSync(g.e.dir, { recursive: true, force: true });
  }
  running.clear();
}

process.on("exit", stopAllSync);
